// Clean shutdown: finalize() delivers what was sent before it.
import { expect, test } from 'vitest'
import { runRanks } from '../helpers/run-ranks.ts'

test('finalize() delivers every message sent before it, small and large, in order', async () => {
  const run = await runRanks(2, 'finalize-delivers.ts', { timeoutMs: 60_000 })
  expect(run.exitCode).toBe(0)
  expect(run.cases.find((c) => c.rank === 1)?.got).toEqual(Array.from({ length: 40 }, (_, i) => i))
  expect(run.cases.find((c) => c.rank === 0)?.finalized).toBe(true)
})
