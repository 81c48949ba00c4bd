import { expect, test } from 'vitest'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'

const CASES = 12 // cases per rank in fixtures/p2p-cases.ts

test.each([1, 2, 3, 4])('point-to-point matrix on %i ranks: ring, wildcards, order, 0 B, 64 MiB, objects, types, errors', async (np) => {
  const run = await runRanks(np, 'p2p-cases.ts', { timeoutMs: 60_000 })
  expect(run.timedOut).toBe(false)
  expect(run.cases.filter((c) => !c.ok)).toEqual([])
  expect(run.cases).toHaveLength(np * CASES) // nothing silently skipped
  expect(run.stderr).toBe('')
  expect(run.exitCode).toBe(0)
  expect(await leftoversAfter(run.mark)).toEqual([])
})
