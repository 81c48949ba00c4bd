// Scatter by binomial tree on 1..9 ranks in memory, from every root.
import { describe, expect, test } from 'vitest'
import { scatterBinomial } from '../../../src/collectives/scatter-binomial.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]

describe.each(SIZES)('on %i ranks', (P) => {
  test('scatter from every root', async () => {
    for (let root = 0; root < P; root++) {
      const s = await onAll(memoryWorld(P), (ctx) => scatterBinomial(ctx, ctx.rank === root ? new Float32Array(3 * P).map((_, j) => j) : undefined, root, -2))
      s.forEach((got, r) => {
        expect([...got]).toEqual([3 * r, 3 * r + 1, 3 * r + 2])
      })
    }
  })
})
