// Gather and scatter of byte strings of different lengths (the object calls) on 1..9 ranks in memory.
import { describe, expect, test } from 'vitest'
import { gatherLinear } from '../../../src/collectives/gather-linear.ts'
import { scatterLinear } from '../../../src/collectives/scatter-linear.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]

describe.each(SIZES)('on %i ranks', (P) => {
  test('gather to every root and scatter from it, lengths differing per rank', async () => {
    for (let root = 0; root < P; root++) {
      const bytesOf = (r: number) => new Uint8Array(r + 1).fill(r + 1)
      const g = await onAll(memoryWorld(P), (ctx) => gatherLinear(ctx, bytesOf(ctx.rank), root, -2))
      g.forEach((got, r) => {
        expect(got?.map((b) => [...b])).toEqual(r === root ? Array.from({ length: P }, (_, q) => [...bytesOf(q)]) : undefined)
      })
      const s = await onAll(memoryWorld(P), (ctx) =>
        scatterLinear(ctx, ctx.rank === root ? Array.from({ length: P }, (_, q) => bytesOf(q)) : undefined, root, -2),
      )
      s.forEach((got, r) => {
        expect([...got]).toEqual([...bytesOf(r)])
      })
    }
  })
})
