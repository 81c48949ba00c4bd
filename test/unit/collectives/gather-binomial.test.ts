// Gather by binomial tree on 1..9 ranks in memory, to every root.
import { describe, expect, test } from 'vitest'
import { gatherBinomial } from '../../../src/collectives/gather-binomial.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]

describe.each(SIZES)('on %i ranks', (P) => {
  test('gather to every root', async () => {
    for (let root = 0; root < P; root++) {
      const g = await onAll(memoryWorld(P), (ctx) => gatherBinomial(ctx, new Uint16Array([ctx.rank, ctx.rank + 100]), root, -2))
      g.forEach((got, r) => {
        expect(got && [...got]).toEqual(r === root ? Array.from({ length: P }, (_, q) => [q, q + 100]).flat() : undefined)
      })
    }
  })
})
