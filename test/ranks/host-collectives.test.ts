// Host collectives through shared memory on one host: every case of the fixture on every rank, the same bits
// everywhere; with shared memory off the same calls go by messages; oversubscribed (no polling) they still end.
import { availableParallelism } from 'node:os'
import { expect, test } from 'vitest'
import { native } from '../../src/native/native.ts'
import { runRanks } from '../helpers/run-ranks.ts'

const CASES = 20 // per rank in fixtures/host-collectives.ts at np=2 (two broadcast cases per root: two more per rank)

test.each([
  [2, ''],
  [3, ''],
  [4, ''],
  [2, ', broadcasts through the area only (TSRUN_SINGLE_COPY=0)'],
])('np=%i%s: every case passes on every rank, and the float sum has the same bits everywhere', async (np, area) => {
  const run = await runRanks(np, 'host-collectives.ts', { timeoutMs: 90_000, env: area ? { TSRUN_SINGLE_COPY: '0' } : {} })
  const out = run.stdout + run.stderr
  expect(run.exitCode, out).toBe(0)
  const failed = run.cases.filter((c) => c.case && !c.ok)
  expect(failed, out).toEqual([])
  const done = run.cases.filter((c) => c.done)
  expect(done.map((c) => c.count)).toEqual(Array(np).fill(CASES + 2 * (np - 2)))
  expect(new Set(done.map((c) => c.digest)).size).toBe(1)
  // The large allreduces took single copy exactly where this machine permits it (and it was not turned off).
  const large = run.cases.filter((c) => typeof c.case === 'string' && c.case.startsWith('large allreduces'))
  expect(large.map((c) => (c.detail as { copy: boolean }).copy)).toEqual(Array(np).fill(!area && native()?.singleCopyProbe?.() === 1))
})

test('with shared memory off the same calls go by messages (the first case says they sent some)', async () => {
  const run = await runRanks(2, 'host-collectives.ts', { timeoutMs: 90_000, env: { TSRUN_SHM: '0' } })
  expect(run.exitCode, run.stdout + run.stderr).toBe(0)
  const bad = run.cases.filter((c) => c.case && !c.ok).map((c) => c.case)
  // Only the case that asserts the shared-memory path fails, and the one that forces it.
  expect([...new Set(bad)].sort()).toEqual([
    '"shm" forced past the limit says so',
    'barrier, allreduce and broadcast of 8 B send no message',
    'broadcast from 0 of 1985 B, 4099 B, 64 KiB, 256 KiB and 600,001 B sends no message',
    'broadcast from 1 of 1985 B, 4099 B, 64 KiB, 256 KiB and 600,001 B sends no message',
  ])
})

test("init()'s JIT warm-up runs host rounds where ranks poll (whatever algorithms the script's settings name), none with TSRUN_WARMUP_MS=0 or oversubscribed, and leaves the world's numbering and mismatch detection as they were", async () => {
  const polls = availableParallelism() >= 2 // np=2 polls where the host has a core for each
  for (const [env, warm] of [
    [{}, polls],
    [{ TSRUN_WARMUP_MS: '0' }, false],
    [{ TSRUN_SPIN_US: '0' }, false],
    // Algorithms set for the script do not reach the warm-up (messages there would land in the world).
    [{ TSRUN_ALLREDUCE_ALGORITHM: 'ring', TSRUN_BARRIER_ALGORITHM: 'dissemination' }, polls],
  ] as const) {
    const run = await runRanks(2, 'warm-up-report.ts', { env, timeoutMs: 60_000 })
    expect(run.exitCode, run.stdout + run.stderr).toBe(0)
    expect(run.cases).toHaveLength(2)
    for (const c of run.cases) {
      if (warm) expect(c.rounds, JSON.stringify(env)).toBeGreaterThan(100)
      else expect(c.rounds, JSON.stringify(env)).toBe(0)
      expect(c.started).toBe(0)
      expect(c.mismatch).toBe('CollectiveMismatchError')
    }
  }
})
