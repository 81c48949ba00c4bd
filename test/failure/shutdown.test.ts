// Clean shutdown: finalize() delivers what was sent before it.
import { expect, test } from 'vitest'
import { runRanks } from '../helpers/run-ranks.ts'

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
