// Allgather by ring on 1..9 ranks in memory.
import { describe, expect, test } from 'vitest'
import { allgatherRingInPlace } from '../../../src/collectives/allgather-ring.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]

describe.each(SIZES)('on %i ranks', (P) => {
  test('every rank gets every block', async () => {
    const ag = await onAll(memoryWorld(P, 4), async (ctx) => {
      const d = new Int32Array(3 * P)
      d.set([ctx.rank, ctx.rank, ctx.rank], 3 * ctx.rank)
      await allgatherRingInPlace(ctx, d, -2, (r) => [3 * r, 3 * r + 3])
      return d
    })
    for (const d of ag) expect([...d]).toEqual(Array.from({ length: P }, (_, q) => [q, q, q]).flat())
  })
})
