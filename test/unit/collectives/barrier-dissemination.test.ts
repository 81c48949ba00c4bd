// Dissemination barrier on 1..9 ranks in memory: ceil(log2 P) rounds, and no rank leaves before the last one
// has entered, whichever rank is last (messages delivered at once, and in shuffled orders).
import { describe, expect, test } from 'vitest'
import { barrierDissemination } from '../../../src/collectives/barrier-dissemination.ts'
import { memoryWorld, onAll, type MemoryWorld } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]
const steps = (p: number) => Math.ceil(Math.log2(p))
/** Enough event-loop turns for every message that can be sent to arrive (jitter delays each by at most 3). */
const settle = async () => {
  for (let i = 0; i < 200; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

/**
 * Runs barriers on every rank of `w`, rank `late` entering each only when told to; records for every rank
 * that leaves whether `late` had entered by then.
 */
function withLateRank(w: MemoryWorld, late: number, rounds: number) {
  const entered: number[] = [] // per round: how many times `late` has entered
  const left: { rank: number; round: number; lateHadEntered: boolean }[] = []
  const gates: (() => void)[] = []
  const opened = Array.from({ length: rounds }, () => new Promise<void>((resolve) => gates.push(resolve)))
  const done = onAll(w, async (ctx) => {
    for (let round = 0; round < rounds; round++) {
      if (ctx.rank === late) {
        await opened[round]
        entered.push(round)
      }
      await barrierDissemination(ctx, -2)
      left.push({ rank: ctx.rank, round, lateHadEntered: entered.includes(round) })
    }
  })
  return { left, open: (round: number) => gates[round]!(), done }
}

describe.each(SIZES)('on %i ranks', (P) => {
  test('sends ceil(log2 P) empty messages per rank', async () => {
    const b = memoryWorld(P)
    await onAll(b, (ctx) => barrierDissemination(ctx, -2))
    for (const s of b.sent) expect(s).toEqual({ messages: steps(P), elements: 0 })
  })

  test.each([undefined, 7])('no rank leaves before the late one enters, for every rank as the late one (jitter seed %s)', async (jitterSeed) => {
    for (let late = 0; late < P; late++) {
      const run = withLateRank(memoryWorld(P, undefined, { jitterSeed: jitterSeed && jitterSeed * 100 + late }), late, 1)
      await settle()
      expect(run.left).toEqual([]) // everyone else is in the barrier and stays there
      run.open(0)
      await run.done
      expect(run.left.map((l) => l.rank).sort()).toEqual(Array.from({ length: P }, (_, r) => r))
      expect(run.left.every((l) => l.lateHadEntered)).toBe(true)
    }
  })

  test('back-to-back barriers on one tag, a different rank late each time: each holds until its late rank enters', async () => {
    const rounds = Math.max(3, P)
    const late = (round: number) => (round * 5) % P
    for (const jitterSeed of [undefined, 11 * P]) {
      // Rank late(round) is late for its round only; the others go straight on into the next barrier.
      const w = memoryWorld(P, undefined, { jitterSeed })
      const left: { rank: number; round: number }[] = []
      const gates: (() => void)[] = []
      const opened = Array.from({ length: rounds }, () => new Promise<void>((resolve) => gates.push(resolve)))
      const done = onAll(w, async (ctx) => {
        for (let round = 0; round < rounds; round++) {
          if (ctx.rank === late(round)) await opened[round]
          await barrierDissemination(ctx, -2)
          left.push({ rank: ctx.rank, round })
        }
      })
      for (let round = 0; round < rounds; round++) {
        await settle()
        // Nobody has left round `round` yet; everyone has left the rounds before it.
        expect(left.filter((l) => l.round >= round)).toEqual([])
        expect(left.length).toBe(round * P)
        gates[round]!()
      }
      await done
      expect(left.length).toBe(rounds * P)
    }
  })
})
