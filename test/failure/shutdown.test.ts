// Clean shutdown: finalize() delivers what was sent before it.
import { expect, test } from 'vitest'
import { existsSync } from 'node:fs'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'

test('finalize() delivers every message sent before it, small and large, in order', async () => {
  const run = await runRanks(2, 'finalize-delivers.ts', { timeoutMs: 60_000 })
  expect(run.exitCode).toBe(0)
  expect(run.cases.find((c) => c.rank === 1)?.got).toEqual(Array.from({ length: 40 }, (_, i) => i))
  expect(run.cases.find((c) => c.rank === 0)?.finalized).toBe(true)
})

test.each([
  ['plain', [3, 3]],
  ['unawaited', [3, 3]],
  ['recv', ['late', 'sent']],
])('a script that never calls finalize() still exits once its work is done (%s)', async (mode, expected) => {
  const run = await runRanks(2, 'no-finalize.ts', { args: [mode as string], timeoutMs: 30_000 })
  expect(run.timedOut).toBe(false)
  expect(run.exitCode).toBe(0)
  const done = [0, 1].map((r) => run.cases.find((c) => c.rank === r && 'done' in c))
  expect(done.map((c) => c?.done)).toEqual(expected)
  // It exits soon after its last work, not at some timeout.
  expect(run.elapsedMs).toBeLessThan(10_000)
})

test('SIGTERM to one rank ends it at once; the job stops, names it, and leaves no sockets or processes', async () => {
  let sentAt = 0
  let exitedAt = 0
  const run = await runRanks(2, 'sleep-forever.ts', {
    timeoutMs: 30_000,
    onStart: (child, output) => {
      child.on('exit', () => (exitedAt = Date.now()))
      const t = setInterval(() => {
        const ready = output()
          .split('\n')
          .filter((l) => l.startsWith('{"ready"'))
          .map((l) => JSON.parse(l))
        const one = ready.find((r) => r.ready === 1)
        if (ready.length < 2 || !one) return
        clearInterval(t)
        sentAt = Date.now()
        process.kill(one.pid, 'SIGTERM')
      }, 20)
    },
  })
  expect(sentAt).toBeGreaterThan(0)
  expect(run.exitCode).toBe(143)
  expect(run.stderr).toMatch(/tsrun: rank 1 \(pid \d+, host [^)]+\) .*SIGTERM/)
  expect(exitedAt - sentAt).toBeLessThan(3000)
  const jobDir = run.cases.find((c) => c.ready === 0)!.jobDir as string
  expect(existsSync(jobDir)).toBe(false) // the private ipc socket directory is removed
  expect(await leftoversAfter(run.mark, 100)).toEqual([])
})

test('finalize waits for a rank that is still working, naming it at the stall-warning interval', async () => {
  const run = await runRanks(2, 'finalize-wait.ts', { args: ['slow'], flags: ['--stall-warning', '1'], timeoutMs: 30_000 })
  expect(run.exitCode).toBe(0)
  expect(run.cases.find((c) => c.rank === 0)?.finalized).toBe(true)
  expect(run.stderr).toMatch(/tsrun: rank 0: finalize waiting [12] s for ranks \[1\]; they have not called finalize\(\) yet/)
})

test('a rank that dies while the others wait in finalize fails their finalize with PeerLostError at once', async () => {
  const run = await runRanks(2, 'finalize-wait.ts', { args: ['die'], env: { TSRUN_SUPERVISE: '0' }, timeoutMs: 30_000 })
  const killed = run.cases.find((c) => c.killedAt)!
  const lost = run.cases.find((c) => c.rank === 0 && c.code)!
  expect(lost.code).toBe('TSRUN_PEER_LOST')
  expect(lost.message).toMatch(/lost rank 1 \(pid \d+, host [^)]+\)/)
  expect(lost.at - killed.killedAt).toBeLessThan(5000)
  expect(run.exitCode).not.toBe(0)
})
