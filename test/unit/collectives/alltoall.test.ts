// Alltoall by pairwise exchange on 1..9 ranks in memory.
import { describe, expect, test } from 'vitest'
import { alltoallPairwise } from '../../../src/collectives/alltoall-pairwise.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]

describe.each(SIZES)('on %i ranks', (P) => {
  test('block i goes to rank i', async () => {
    const a2a = await onAll(memoryWorld(P), (ctx) =>
      alltoallPairwise(
        ctx,
        new Int32Array(2 * P).map((_, j) => ctx.rank * 100 + (j >> 1)),
        -2,
      ),
    )
    a2a.forEach((got, r) => {
      expect([...got]).toEqual(Array.from({ length: P }, (_, q) => [q * 100 + r, q * 100 + r]).flat())
    })
  })
})
