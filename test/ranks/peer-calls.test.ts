import { expect, test } from 'vitest'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'

// Cases per communicator in fixtures/peer-cases.ts: gatherv/scatterv run once per distinct root (1 or 2).
const perComm = (size: number) => (size === 1 ? 53 : 59)

test.each([1, 2, 3, 4, 5])('the calls of mpi4py, gloo and Horovod users on %i ranks: world, dup() and split(), against independent values', async (np) => {
  const run = await runRanks(np, 'peer-cases.ts', { timeoutMs: 150_000 })
  expect(run.timedOut).toBe(false)
  expect(run.cases.filter((c) => c.case && !c.ok)).toEqual([])
  const done = run.cases.filter((c) => c.done)
  // world and dup have np ranks; split(rank % 2) has ceil(np/2) or floor(np/2)
  const expected = Array.from({ length: np }, (_, r) => 2 * perComm(np) + perComm(r % 2 === 0 ? Math.ceil(np / 2) : Math.floor(np / 2)))
  expect(done.map((c) => c.count).sort()).toEqual(expected.sort())
  expect(run.stderr).toBe('')
  expect(run.exitCode).toBe(0)
  expect(await leftoversAfter(run.mark)).toEqual([])
})
