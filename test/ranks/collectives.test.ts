import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'
import { COLLECTIVE_CASES } from '../helpers/collective-cases.ts'

const CASES = COLLECTIVE_CASES

const ZMQ_ONLY = { TSRUN_TRANSPORT: 'ipc', TSRUN_SHM: '0' }
test.each([
  [1, 'unix streams and shared memory (default)', {}],
  [2, 'unix streams and shared memory (default)', {}],
  [3, 'unix streams and shared memory (default)', {}],
  [4, 'unix streams and shared memory (default)', {}],
  [5, 'unix streams and shared memory (default)', {}],
  [3, 'ZeroMQ ipc:// and shared memory', { TSRUN_TRANSPORT: 'ipc' }],
  [3, 'unix streams, no shared memory', { TSRUN_SHM: '0' }],
  [2, 'ZeroMQ only', ZMQ_ONLY],
  [3, 'ZeroMQ only', ZMQ_ONLY],
])('collectives matrix on %i ranks, %s: every algorithm, length and root against closed forms', async (np, _path, env: Record<string, string>) => {
  const shm = env.TSRUN_SHM !== '0'
  const run = await runRanks(np, 'collective-cases.ts', { timeoutMs: 150_000, env })
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
        'large messages to ranks of this host go through the sockets instead. TSRUN_SHM=0 silences this.\n',
    )
    expect(run.exitCode).toBe(0)
  } finally {
    rmSync(cache, { recursive: true, force: true })
  }
})
