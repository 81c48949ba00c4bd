import { expect, test } from 'vitest'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'

const CASES = 7 // per rank in fixtures/join-cases.ts

test.each([1, 2, 3, 4, 5])(
  'join for uneven data on %i ranks: collectives go on with the joined ranks contributing nothing, on a dup() and a split()',
  async (np) => {
    const run = await runRanks(np, 'join-cases.ts', { timeoutMs: 120_000 })
    expect(run.timedOut).toBe(false)
    expect(run.cases.filter((c) => c.case && !c.ok)).toEqual([])
    expect(run.cases.filter((c) => c.done).map((c) => c.count)).toEqual(Array(np).fill(CASES))
    expect(run.stderr).toBe('')
    expect(run.exitCode).toBe(0)
    expect(await leftoversAfter(run.mark)).toEqual([])
  },
)
