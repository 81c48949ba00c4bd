// The root cause, decided from failure records and the ends the launcher saw (launcher/root-cause.ts).
import { expect, test } from 'vitest'
import { decide, lossesOf, rootOf, stillWaiting, type RankEnd } from '../../../launcher/root-cause.ts'
import { lostRankLine, rankList } from '../../../src/failure/messages.ts'
import type { FailureKind, FailureRecord } from '../../../src/failure/format.ts'

const ref = (rank: number) => ({ rank, pid: 4000 + rank, host: `node${rank + 1}` })
let n = 0
/** A record of `rank`, `ms` after a fixed moment. */
function rec(rank: number, kind: FailureKind, ms: number, extra: Partial<FailureRecord> = {}): FailureRecord {
  return { v: 1, kind, ...ref(rank), n: n++, at: { ms: 1_700_000_000_000 + ms, time: '14:02:21' }, ...extra }
}
const lost = (by: number, whom: number, ms: number, silent = false) =>
  rec(by, silent ? 'peer-silent' : 'peer-lost', ms, { lost: ref(whom), ...(silent ? { lastHeard: { ms: 0, time: '14:02:11' } } : {}) })
const end = (rank: number, how: string, code: number, extra: Partial<RankEnd> = {}): RankEnd => ({
  rank,
  pid: 900 + rank,
  host: `node${rank + 1}`,
  how,
  code,
  ...extra,
})
const ends = (...e: RankEnd[]) => new Map(e.map((x) => [x.rank, x]))

test('the line names the lost rank first, then the ranks that lost it', () => {
  expect(lostRankLine({ lost: ref(1), silent: true, lastHeard: '14:02:11', by: [2, 0] })).toBe(
    'rank 1 (pid 4001, host node2) stopped answering at about 14:02:11 (host down or network cut); ranks 0 and 2 lost it',
  )
  expect(lostRankLine({ lost: ref(3), silent: false, by: [0] })).toBe(
    'rank 3 (pid 4003, host node4) ended before it called finalize() (its connection closed); rank 0 lost it',
  )
  expect(rankList([5, 0, 2, 2])).toBe('ranks 0, 2 and 5')
})

test('a survivor that caught the error and exited 1 first: the lost rank it recorded, not the survivor', () => {
  const first = end(0, 'exited with code 1', 1)
  const records = [lost(0, 2, 0), lost(1, 2, 5)]
  expect(decide(first, ends(first), records)).toEqual({
    line: 'rank 2 (pid 4002, host node3) ended before it called finalize() (its connection closed); ranks 0 and 1 lost it',
    code: 1,
    root: 2,
  })
})

test("a follower exits first and the lost rank's own end is seen: that end, and its exit code", () => {
  const first = end(0, 'exited with code 1', 1)
  const killed = end(2, 'was killed by SIGKILL', 137)
  expect(decide(first, ends(first, killed), [lost(0, 2, 0)])).toEqual({
    line: 'rank 2 (pid 902, host node3) was killed by SIGKILL; rank 0 lost it',
    code: 137,
    root: 2,
  })
})

test('two ranks lose the same silent one: it is named once with when it was last heard from, and both ranks', () => {
  const first = end(2, 'exited with code 1', 1)
  const r = decide(first, ends(first), [lost(2, 1, 0, true), lost(0, 1, 300, true)])
  expect(r.line).toBe('rank 1 (pid 4001, host node2) stopped answering at about 14:02:11 (host down or network cut); ranks 0 and 2 lost it')
  expect(r.code).toBe(1)
})

test('a rank killed by a signal, or failing, with no record of its own: its own end', () => {
  const killed = end(2, 'was killed by SIGKILL', 137)
  expect(decide(killed, ends(killed), [])).toEqual({ line: 'rank 2 (pid 902, host node3) was killed by SIGKILL', code: 137, root: 2 })
  // The others' records of losing it change nothing: it is the root either way.
  expect(decide(killed, ends(killed), [lost(0, 2, 0)]).line).toBe('rank 2 (pid 902, host node3) was killed by SIGKILL')
})

test('no records at all: the first rank that failed, by its exit code', () => {
  const first = end(1, 'exited with code 3', 3)
  expect(decide(first, ends(first), [])).toEqual({ line: 'rank 1 (pid 901, host node2) exited with code 3', code: 3, root: 1 })
})

test('an uncaught tsrun error of the failed rank says what ended it', () => {
  const first = end(1, 'exited with code 1', 1)
  const r = rec(1, 'timeout', 0, {
    uncaught: true,
    error: { name: 'TimeoutError', code: 'TSRUN_TIMEOUT', message: 'x' },
    doing: { op: 'allreduce', seq: 3, comm: 'world' },
  })
  expect(decide(first, ends(first), [r]).line).toBe(
    'rank 1 (pid 901, host node2) exited with code 1 after an uncaught TimeoutError (TSRUN_TIMEOUT) in allreduce #3 on world',
  )
  const m = rec(1, 'mismatch', 0, { error: { name: 'CollectiveMismatchError', code: 'TSRUN_COLLECTIVE_MISMATCH', message: 'x' } })
  expect(decide(first, ends(first), [m]).line).toBe(
    'rank 1 (pid 901, host node2) exited with code 1 after a collective mismatch, CollectiveMismatchError (TSRUN_COLLECTIVE_MISMATCH)',
  )
})

test('a chain: the rank that died of its own loss is not the root, the one it lost is', () => {
  // Rank 1 lost rank 3 and exited; then ranks 0 and 2 saw rank 1's connection close.
  const records = [lost(1, 3, 0), lost(0, 1, 600), lost(2, 1, 610)]
  expect(rootOf(lossesOf(records))).toBe(3)
  const first = end(0, 'exited with code 1', 1)
  expect(decide(first, ends(first), records).line).toBe(
    'rank 3 (pid 4003, host node4) ended before it called finalize() (its connection closed); rank 1 lost it',
  )
})

test('a host cut off: the rank most ranks lost, though it recorded losing one of them first', () => {
  // Rank 1's host was cut: it lost rank 0 (both silent) a little before ranks 0 and 2 lost it.
  const records = [lost(1, 0, 0, true), lost(0, 1, 200, true), lost(2, 1, 250, true)]
  expect(rootOf(lossesOf(records))).toBe(1)
  // Two ranks that each lost the other: the earlier record wins.
  expect(rootOf(lossesOf([lost(1, 0, 10, true), lost(0, 1, 0, true)]))).toBe(1)
})

test("a host cut off whose rank's own record reaches a shared disk: the survivors decide, whoever the launcher sees end first", () => {
  // Rank 1 (node2, cut off) found rank 0 silent about when ranks 0 and 2 found it silent.
  const cutRank = lost(1, 0, 0, true)
  // A survivor ends first, before the other survivor's record: the rank that ended after its loss is a follower.
  const first = end(0, 'exited with code 1', 1)
  const two = [cutRank, lost(0, 1, 20, true)]
  expect(stillWaiting(first, ends(first), two)).toBe('root-end')
  expect(decide(first, ends(first), two).line).toBe(
    'rank 1 (pid 4001, host node2) stopped answering at about 14:02:11 (host down or network cut); rank 0 lost it',
  )
  expect(decide(first, ends(first), [...two, lost(2, 1, 30, true)]).line).toMatch(/^rank 1 .*; ranks 0 and 2 lost it$/)
  // Its ssh connection drops first: the far side of the cut waits for the others' records of it, and they decide.
  const ssh = end(1, 'was killed by a signal or lost its connection (remote pid 77; ssh exit 255)', 255, { sshLost: true })
  expect(stillWaiting(ssh, ends(ssh), [cutRank])).toBe('losers')
  expect(stillWaiting(ssh, ends(ssh), [cutRank, lost(0, 1, 20, true)])).toBeUndefined()
  expect(decide(ssh, ends(ssh), [cutRank, lost(0, 1, 20, true), lost(2, 1, 30, true)]).line).toBe(
    'rank 1 (pid 4001, host node2) stopped answering at about 14:02:11 (host down or network cut); ranks 0 and 2 lost it (its ssh connection dropped too)',
  )
  // Nobody else's record came: how its ssh connection ended, not what it said of the others.
  expect(decide(ssh, ends(ssh), [cutRank]).line).toBe(
    'rank 1 (pid 901, host node2) was killed by a signal or lost its connection (remote pid 77; ssh exit 255)',
  )
})

test("a remote rank whose ssh connection dropped: the survivors' records say whether its host went silent", () => {
  const ssh = end(1, 'was killed by a signal or lost its connection (remote pid 77; ssh exit 255)', 255, { sshLost: true })
  expect(stillWaiting(ssh, ends(ssh), [])).toBe('losers')
  expect(decide(ssh, ends(ssh), [lost(0, 1, 0, true), lost(2, 1, 5, true)]).line).toBe(
    'rank 1 (pid 4001, host node2) stopped answering at about 14:02:11 (host down or network cut); ranks 0 and 2 lost it (its ssh connection dropped too)',
  )
  expect(decide(ssh, ends(ssh), [lost(0, 1, 0)]).line).toBe(
    'rank 1 (pid 901, host node2) was killed by a signal or lost its connection (remote pid 77; ssh exit 255); rank 0 lost it',
  )
  expect(decide(ssh, ends(ssh), []).line).toBe('rank 1 (pid 901, host node2) was killed by a signal or lost its connection (remote pid 77; ssh exit 255)')
})

test('what the supervisor still waits for', () => {
  const first = end(0, 'exited with code 1', 1)
  expect(stillWaiting(first, ends(first), [lost(0, 2, 0)])).toBe('root-end')
  expect(stillWaiting(first, ends(first, end(2, 'was killed by SIGKILL', 137)), [lost(0, 2, 0)])).toBeUndefined()
  expect(stillWaiting(first, ends(first), [lost(0, 2, 0)], true)).toBeUndefined() // one rank under srun: nobody else to see
  expect(stillWaiting(first, ends(first), [])).toBeUndefined()
})
