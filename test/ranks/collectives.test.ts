import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'

const CASES = 140 // per rank in fixtures/collective-cases.ts; independent of the rank count

test.each([
  [1, 'shared memory'],
  [2, 'shared memory'],
  [3, 'shared memory'],
  [4, 'shared memory'],
  [5, 'shared memory'],
  [2, 'ZeroMQ only (TSRUN_SHM=0)'],
  [3, 'ZeroMQ only (TSRUN_SHM=0)'],
])('collectives matrix on %i ranks, %s: every algorithm, length and root against closed forms', async (np, path) => {
  const shm = !path.includes('SHM=0')
  const run = await runRanks(np, 'collective-cases.ts', { timeoutMs: 150_000, env: shm ? {} : { TSRUN_SHM: '0' } })
  expect(run.timedOut).toBe(false)
  expect(run.cases.filter((c) => c.case && !c.ok)).toEqual([])
  const done = run.cases.filter((c) => c.done)
  expect(done.map((c) => c.count)).toEqual(Array(np).fill(CASES)) // nothing silently skipped
  // Large messages took the path this case names (a world of one sends nothing).
  if (np > 1) for (const c of done) expect([c.sent.shm > 0, c.sent.zeroCopy > 0]).toEqual([shm, !shm])
  expect(run.cases.filter((c) => c.case)).toHaveLength(np * CASES)
  expect(run.stderr).toBe('')
  expect(run.exitCode).toBe(0)
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('without a C compiler the job runs on the JavaScript kernels and ZeroMQ, and rank 0 says so once', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'tsrun-cache-'))
  try {
    const run = await runRanks(3, 'collective-cases.ts', { timeoutMs: 150_000, env: { CC: 'no-such-cc', TSRUN_CACHE_DIR: cache } })
    expect(run.cases.filter((c) => c.case && !c.ok)).toEqual([])
    expect(run.cases.filter((c) => c.done)).toHaveLength(3)
    for (const c of run.cases.filter((c) => c.done)) expect(c.sent.shm).toBe(0)
    expect(run.stderr).toBe(
      'tsrun: shared memory between ranks of a host is off (no C compiler (no-such-cc) found; install one (e.g. apt-get install gcc) or set CC); ' +
        'large messages go through ZeroMQ. TSRUN_SHM=0 silences this.\n',
    )
    expect(run.exitCode).toBe(0)
  } finally {
    rmSync(cache, { recursive: true, force: true })
  }
})
