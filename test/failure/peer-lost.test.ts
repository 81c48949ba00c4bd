// The runtime itself notices a dead peer: the launcher's supervision is turned off (TSRUN_SUPERVISE=0), so
// nothing but the transport tells the surviving ranks.
import { existsSync } from 'node:fs'
import { expect, test } from 'vitest'
import { native } from '../../src/native/native.ts'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'

// The ring's messages, so that the rank dies mid-fragment (single copy, the table's choice here, sends none).
const RING = { TSRUN_ALLREDUCE_ALGORITHM: 'ring' }
test.each([
  [2, 'unix streams and shared memory', RING],
  [3, 'unix streams and shared memory', RING],
  [4, 'unix streams and shared memory', RING],
  [3, 'ZeroMQ ipc:// and shared memory', { TSRUN_TRANSPORT: 'ipc', ...RING }],
  [2, 'ZeroMQ only', { TSRUN_TRANSPORT: 'ipc', TSRUN_SHM: '0' }],
])(
  'kill -9 of one rank in a 64 MiB allreduce loop on %i ranks, %s: the others fail with PeerLostError within 5 s',
  async (np, _path, env: Record<string, string>) => {
    const killRank = np - 1
    const shm = env.TSRUN_SHM !== '0'
    const run = await runRanks(np, 'allreduce-loop.ts', {
      env: { TSRUN_SUPERVISE: '0', KILL_RANK: String(killRank), KILL_AFTER: '2', ...env },
      timeoutMs: 60_000,
    })
    expect(run.timedOut).toBe(false)
    const killed = run.cases.find((c) => c.killedAt)!
    // The data went the way this case says (the killed rank counted its sends before it died).
    expect(killed.sent.shm > 0).toBe(shm)
    expect(killed.sent.zeroCopy > 0).toBe(!shm)
    // The job's shared files are gone once the job has ended, though a rank died holding them.
    const shmDir = run.cases.find((c) => c.shmDir)?.shmDir
    expect(shmDir).toBeDefined()
    expect(existsSync(shmDir)).toBe(false)
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
  },
)

// Only where this machine permits single copy (forced elsewhere it says it cannot run).
test.skipIf(native()?.singleCopyProbe?.() !== 1).each([2, 3])(
  'kill -9 of one rank in a 64 MiB allreduce loop by single copy on %i ranks (no messages): the others fail with PeerLostError within 5 s',
  async (np) => {
    const run = await runRanks(np, 'allreduce-loop.ts', {
      env: { TSRUN_SUPERVISE: '0', KILL_RANK: String(np - 1), KILL_AFTER: '2', TSRUN_ALLREDUCE_ALGORITHM: 'shm-copy' },
      timeoutMs: 60_000,
    })
    expect(run.timedOut).toBe(false)
    const killed = run.cases.find((c) => c.killedAt)!
    expect(killed.sent.shm + killed.sent.zeroCopy).toBe(0) // the data was read from the peers' memory
    const survivors = run.cases.filter((c) => c.code)
    expect(survivors).toHaveLength(np - 1)
    for (const s of survivors) {
      expect(s.code).toBe('TSRUN_PEER_LOST')
      expect(s.message).toMatch(new RegExp(`lost rank ${np - 1} \\(pid \\d+, host \\S+\\): its connection closed before it called finalize\\(\\)`))
      expect(s.at - killed.killedAt).toBeLessThan(5000)
    }
    expect(await leftoversAfter(run.mark)).toEqual([])
  },
)

test('kill -9 of the root of 256 KiB broadcasts through shared memory (no fragments): the others fail with PeerLostError within 5 s', async () => {
  const run = await runRanks(2, 'allreduce-loop.ts', {
    env: { TSRUN_SUPERVISE: '0', KILL_RANK: '1', KILL_AFTER: '200', OP: 'bcast', MIB: '0.25' },
    timeoutMs: 60_000,
  })
  expect(run.timedOut).toBe(false)
  const killed = run.cases.find((c) => c.killedAt)!
  expect(killed.sent.shm).toBe(0) // the data went through the root's broadcast area, not in messages
  const survivor = run.cases.find((c) => c.code)!
  expect(survivor.rank).toBe(0)
  expect(survivor.code).toBe('TSRUN_PEER_LOST')
  expect(survivor.message).toMatch(/lost rank 1 \(pid \d+, host \S+\): its connection closed before it called finalize\(\)/)
  expect(survivor.at - killed.killedAt).toBeLessThan(5000)
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

test('kill -9 of the launcher itself mid-transfer: the ranks die and leave no shared-memory files behind', async () => {
  let shmDir: string | undefined
  const run = await runRanks(3, 'allreduce-loop.ts', {
    env: { KILL_RANK: '-1', MIB: '16' },
    timeoutMs: 30_000,
    onStart: (child, output) => {
      const poll = setInterval(() => {
        const ready = output().match(/"ready":\d+,"shmDir":"([^"]+)"/g) ?? []
        if (ready.length < 3) return
        clearInterval(poll)
        shmDir = /"shmDir":"([^"]+)"/.exec(ready[0]!)![1]
        // Let a few 16 MiB allreduces go through the slots, then kill tsrun without warning.
        setTimeout(() => child.kill('SIGKILL'), 500)
      }, 50)
      child.on('exit', () => clearInterval(poll))
    },
  })
  expect(run.signal).toBe('SIGKILL')
  expect(await leftoversAfter(run.mark, 5000)).toEqual([])
  expect(shmDir).toBeDefined()
  expect(existsSync(shmDir!)).toBe(false)
})

test('a rank killed while the others wait in join(): they fail with PeerLostError within 5 s instead of waiting forever', async () => {
  const run = await runRanks(3, 'join-lost.ts', { env: { TSRUN_SUPERVISE: '0' }, timeoutMs: 60_000 })
  expect(run.timedOut).toBe(false)
  const killed = run.cases.find((c) => c.killedAt)!
  const survivors = run.cases.filter((c) => c.name).sort((a, b) => a.rank - b.rank)
  expect(survivors.map((s) => [s.rank, s.name, s.isPeerLost])).toEqual([
    [0, 'PeerLostError', true],
    [1, 'PeerLostError', true],
  ])
  for (const s of survivors) expect(s.at - killed.killedAt).toBeLessThan(5000)
  expect(await leftoversAfter(run.mark)).toEqual([])
})
