import { expect, test } from 'vitest'
import { followerOf, lostRankLine, rankList } from '../../../launcher/root-cause.ts'

const silent = 'tsrun: rank 2: PeerLostError: rank 2: lost rank 1 (pid 4242, host node2): it stopped answering (host down or network cut) at about 14:02:11, no answer for 10 s before it called finalize(). This rank cannot go on with the job.'
const closed = 'tsrun: rank 0: PeerLostError: rank 0: lost rank 3 (pid 77, host vm): its connection closed before it called finalize(); it crashed, was killed, or exited early. This rank cannot go on with the job.'

test('a rank\'s last line says whom it lost and how', () => {
  expect(followerOf(silent)).toEqual({ rank: 2, lost: 1, lostPid: 4242, lostHost: 'node2', kind: 'silent', at: '14:02:11' })
  expect(followerOf(closed)).toEqual({ rank: 0, lost: 3, lostPid: 77, lostHost: 'vm', kind: 'closed', at: undefined })
  expect(followerOf('tsrun: rank 0: TimeoutError: recv timed out')).toBeUndefined()
  expect(followerOf('[1,2]<stderr>: anything')).toBeUndefined()
})

test('the launcher\'s line names the lost rank first, then the ranks that lost it', () => {
  const a = followerOf(silent)!
  const b = { ...a, rank: 0 }
  expect(lostRankLine([a, b])).toBe('rank 1 (pid 4242, host node2) stopped answering at about 14:02:11 (host down or network cut); ranks 0 and 2 lost it')
  expect(lostRankLine([followerOf(closed)!])).toBe('rank 3 (pid 77, host vm) ended before it called finalize() (its connection closed); rank 0 lost it')
  expect(rankList([5, 0, 2])).toBe('ranks 0, 2 and 5')
})
