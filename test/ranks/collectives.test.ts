import { expect, test } from 'vitest'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'

const CASES = 140 // per rank in fixtures/collective-cases.ts; independent of the rank count

test.each([1, 2, 3, 4, 5])('collectives matrix on %i ranks: every algorithm, length and root against closed forms', async (np) => {
  const run = await runRanks(np, 'collective-cases.ts', { timeoutMs: 150_000 })
  expect(run.timedOut).toBe(false)
  expect(run.cases.filter((c) => c.case && !c.ok)).toEqual([])
  const done = run.cases.filter((c) => c.done)
  expect(done.map((c) => c.count)).toEqual(Array(np).fill(CASES)) // nothing silently skipped
  expect(run.cases.filter((c) => c.case)).toHaveLength(np * CASES)
  expect(run.stderr).toBe('')
  expect(run.exitCode).toBe(0)
  expect(await leftoversAfter(run.mark)).toEqual([])
})
