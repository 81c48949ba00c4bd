// Reduce by binomial tree on 1..9 ranks in memory, to every root.
import { describe, expect, test } from 'vitest'
import { reduceBinomial } from '../../../src/collectives/reduce-binomial.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]

describe.each(SIZES)('on %i ranks', (P) => {
  test('reduce to every root; other ranks keep their data', async () => {
    for (let root = 0; root < P; root++) {
      const w = memoryWorld(P)
      const out = await onAll(w, async (ctx) => {
        const d = new Float64Array(5).map((_, i) => ctx.rank * 10 + i)
        await reduceBinomial(ctx, d, 'max', root, -2)
        return d
      })
      out.forEach((d, r) => {
        expect([...d]).toEqual(Array.from({ length: 5 }, (_, i) => (r === root ? (P - 1) * 10 : r * 10) + i))
      })
    }
  })
})
