// Allreduce schedules (ring, recursive doubling) on 1..9 ranks in memory: closed-form sums and message counts.
import { describe, expect, test } from 'vitest'
import { allreduceRecursiveDoubling } from '../../../src/collectives/allreduce-recursive-doubling.ts'
import { allreduceRing } from '../../../src/collectives/allreduce-ring.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]
const COUNTS = [0, 1, 10, 1001]
const tri = (p: number) => (p * (p - 1)) / 2
const steps = (p: number) => Math.ceil(Math.log2(p))

describe.each(SIZES)('on %i ranks', (P) => {
  test.each(COUNTS)('allreduce ring and recursive doubling sum %i elements', async (n) => {
    for (const algo of [allreduceRing, allreduceRecursiveDoubling]) {
      const w = memoryWorld(P, 64)
      const out = await onAll(w, async (ctx) => {
        const d = new Float64Array(n).map((_, i) => ctx.rank + i)
        await algo(ctx, d, 'sum', -2)
        return d
      })
      for (const d of out) expect([...d]).toEqual(Array.from({ length: n }, (_, i) => P * i + tri(P)))
    }
  })

  test('ring allreduce sends 2(P-1) steps of S/P; recursive doubling log2 P steps of S (powers of two)', async () => {
    const n = 64 * P
    const ring = memoryWorld(P)
    await onAll(ring, (ctx) => allreduceRing(ctx, new Float32Array(n), 'sum', -2))
    for (const s of ring.sent) expect(s).toEqual({ messages: 2 * (P - 1), elements: (2 * (P - 1) * n) / P })
    if ((P & (P - 1)) === 0) {
      const rd = memoryWorld(P)
      await onAll(rd, (ctx) => allreduceRecursiveDoubling(ctx, new Float32Array(n), 'sum', -2))
      for (const s of rd.sent) expect(s).toEqual({ messages: steps(P), elements: steps(P) * n })
    }
  })

  test('segments: a block larger than the segment travels as several messages', async () => {
    const w = memoryWorld(P, 8 * 10) // 10 doubles per segment
    await onAll(w, (ctx) => allreduceRing(ctx, new Float64Array(100 * P), 'sum', -2))
    for (const s of w.sent) expect(s.messages).toBe(2 * (P - 1) * 10)
  })
})
