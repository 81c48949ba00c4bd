// Reduce-scatter by ring on 1..9 ranks in memory: uneven blocks.
import { describe, expect, test } from 'vitest'
import { reduceScatterRingInPlace } from '../../../src/collectives/reduce-scatter-ring.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]

describe.each(SIZES)('on %i ranks', (P) => {
  test('each rank owns its summed block', async () => {
    const n = 2 * P + 1
    const rs = await onAll(memoryWorld(P), async (ctx) => {
      const d = new Float64Array(n).fill(ctx.rank + 1)
      await reduceScatterRingInPlace(ctx, d, 'sum', -2)
      return d
    })
    const base = Math.floor(n / P)
    rs.forEach((d, r) => {
      const start = r * base + Math.min(r, n % P)
      const len = base + (r < n % P ? 1 : 0)
      expect([...d.subarray(start, start + len)]).toEqual(Array(len).fill((P * (P + 1)) / 2))
    })
  })
})
