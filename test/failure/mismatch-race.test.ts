// A gatherv whose ranks pass different element types, on 20 fresh dup()s in one job of 3 ranks: the root may
// get both blocks before its call (even before it has made the dup), the matching one first. Every rank must end
// every round with a CollectiveMismatchError: the root on the gatherv, a rank that only sent on the gatherv or at
// the latest on the barrier right after it (which must fail, not complete). Before the fix the root kept only the
// first early block's signature, and with ROOT_DELAY_MS=20 about 60% of the rounds passed on every rank.
import { expect, test } from 'vitest'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'

const ROUNDS = 20
const MISMATCH = 'TSRUN_COLLECTIVE_MISMATCH'

test.each([
  // The root held back before each dup: both blocks are there first, in either order (the race, every round).
  { types: 'ifi', delay: '20' },
  { types: 'iif', delay: '20' },
  // As they come.
  { types: 'iif', delay: '0' },
])(
  'gatherv of types $types (root delay $delay ms) on 20 dups: every rank fails every round, the barrier after it too',
  async ({ types, delay }) => {
    const run = await runRanks(3, 'mismatch-gatherv-race.ts', {
      // Each call gives up after 2 s: a round that hangs shows as a TimeoutError, and the job stays within the bound.
      env: { ITERS: String(ROUNDS), TYPES: types, ROOT_DELAY_MS: delay, OP_TIMEOUT_MS: '2000' },
      timeoutMs: 75_000,
    })
    const output = run.stdout + run.stderr
    expect(run.timedOut, output).toBe(false)
    expect(run.exitCode, output).toBe(0)
    const reports = run.cases.filter((c) => c.codes).sort((a, b) => a.rank - b.rank)
    expect(
      reports.map((c) => c.rank),
      output,
    ).toEqual([0, 1, 2])
    for (const { rank, codes, slips } of reports) {
      expect(slips, `rank ${rank}: ${JSON.stringify(codes)}`).toBe(0)
      // The root receives: it finds the mismatch in the gatherv itself. The others may find out only after sending.
      const allowed = rank === 0 ? [`gatherv:${MISMATCH}`] : [`gatherv:${MISMATCH}`, `barrier:${MISMATCH}`]
      expect(
        Object.keys(codes).filter((k) => !allowed.includes(k)),
        `rank ${rank}: ${JSON.stringify(codes)}`,
      ).toEqual([])
      expect(Object.values(codes as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(ROUNDS)
    }
    expect(await leftoversAfter(run.mark)).toEqual([])
  },
  90_000,
)
