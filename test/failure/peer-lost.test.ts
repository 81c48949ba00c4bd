// The runtime itself notices a dead peer: the launcher's supervision is turned off (TSRUN_SUPERVISE=0), so
// nothing but the transport tells the surviving ranks.
import { expect, test } from 'vitest'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'

test.each([2, 3, 4])('kill -9 of one rank in a 64 MiB allreduce loop on %i ranks: the others fail with PeerLostError within 5 s', async (np) => {
  const killRank = np - 1
  const run = await runRanks(np, 'allreduce-loop.ts', {
    env: { TSRUN_SUPERVISE: '0', KILL_RANK: String(killRank), KILL_AFTER: '2' },
    timeoutMs: 60_000,
  })
  expect(run.timedOut).toBe(false)
  const killed = run.cases.find((c) => c.killedAt)!
  const survivors = run.cases.filter((c) => c.code)
  expect(survivors.map((s) => s.rank).sort()).toEqual([...Array(np).keys()].filter((r) => r !== killRank))
  for (const s of survivors) {
    expect(s.code).toBe('TSRUN_PEER_LOST')
    expect(s.isPeerLost).toBe(true)
    expect(s.message).toMatch(new RegExp(`lost rank ${killRank} \\(pid \\d+, host \\S+\\): its connection closed before it called finalize\\(\\)`))
    expect(s.at - killed.killedAt).toBeLessThan(5000)
  }
  expect(run.stderr).toMatch(new RegExp(`rank ${killRank} .* was killed by SIGKILL; supervision is off`))
  expect(run.exitCode).not.toBe(0)
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('a rank that exits without finalize() while the others wait on it is reported the same way', async () => {
  const run = await runRanks(3, 'allreduce-loop.ts', {
    env: { TSRUN_SUPERVISE: '0', KILL_RANK: '0', KILL_AFTER: '1', EXIT_EARLY: '1', MIB: '1' },
    timeoutMs: 60_000,
  })
  const killed = run.cases.find((c) => c.killedAt)!
  const survivors = run.cases.filter((c) => c.code)
  expect(survivors).toHaveLength(2)
  for (const s of survivors) {
    expect(s.code).toBe('TSRUN_PEER_LOST')
    expect(s.peer).toBe(0)
    expect(s.at - killed.killedAt).toBeLessThan(5000)
  }
  expect(run.exitCode).toBe(7)
})
