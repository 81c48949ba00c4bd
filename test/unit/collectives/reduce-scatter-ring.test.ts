// Reduce-scatter by ring on 1..9 ranks in memory: even and ragged blocks (zeros too), data that differs per rank
// and per element (a swapped, shifted, duplicated or dropped block fails), one and several segments per block.
import { describe, expect, test } from 'vitest'
import { defineOp } from '../../../src/collectives/reduce-ops.ts'
import { reduceScatterRingInPlace } from '../../../src/collectives/reduce-scatter-ring.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]
const COUNTS = [0, 1, 2, 7, 13, 101, 1009]
const tri = (p: number) => (p * (p - 1)) / 2

/** Rank r's element i: distinct per rank and per element. */
const v = (r: number, i: number) => r * 10_000 + i
/** The rank with the largest value differs from element to element (each rank wins somewhere). */
const vMax = (P: number) => (r: number, i: number) => ((r + i) % P) * 10_000 + i

/** Block r of n elements in P blocks (the first n % P one longer), computed here from n, P and r only. */
function evenBlock(n: number, P: number, r: number): [number, number] {
  const base = Math.floor(n / P)
  const start = (q: number) => q * base + Math.min(q, n % P)
  return [start(r), start(r + 1)]
}
/** Ragged blocks, zeros included: block b has (7b + k) % 5 elements. */
const raggedCounts = (P: number, k: number) => Array.from({ length: P }, (_, b) => (7 * b + k) % 5)
const starts = (counts: number[]) => {
  const at = [0]
  for (const c of counts) at.push(at[at.length - 1]! + c)
  return at
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, j) => a + j)

describe.each(SIZES)('on %i ranks', (P) => {
  test.each(COUNTS)('sum of %i elements: rank r owns block r, summed, and nothing else moved into it', async (n) => {
    for (const segmentBytes of [1 << 20, 3 * 8]) {
      const w = memoryWorld(P, segmentBytes)
      const out = await onAll(w, async (ctx) => {
        const d = new Float64Array(n).map((_, i) => v(ctx.rank, i))
        await reduceScatterRingInPlace(ctx, d, 'sum', -2)
        return d
      })
      out.forEach((d, r) => {
        const [a, b] = evenBlock(n, P, r)
        expect([...d.subarray(a, b)]).toEqual(range(a, b).map((i) => 10_000 * tri(P) + P * i))
      })
      // Each rank sends every block but its own, once, cut into segments of at most `seg` elements.
      const seg = Math.floor(segmentBytes / 8)
      w.sent.forEach((s, r) => {
        const others = range(0, P)
          .filter((q) => q !== r)
          .map((q) => evenBlock(n, P, q))
        expect(s).toEqual({
          messages: others.reduce((m, [a, b]) => m + Math.ceil((b - a) / seg), 0),
          elements: others.reduce((e, [a, b]) => e + b - a, 0),
        })
      })
    }
  })

  test.each(COUNTS)('max and min of %i elements, the winning rank changing per element', async (n) => {
    const f = vMax(P)
    for (const op of ['max', 'min'] as const) {
      const out = await onAll(memoryWorld(P, 5 * 8), async (ctx) => {
        const d = new Float64Array(n).map((_, i) => f(ctx.rank, i))
        await reduceScatterRingInPlace(ctx, d, op, -2)
        return d
      })
      out.forEach((d, r) => {
        const [a, b] = evenBlock(n, P, r)
        expect([...d.subarray(a, b)]).toEqual(range(a, b).map((i) => (op === 'max' ? (P - 1) * 10_000 : 0) + i))
      })
    }
  })

  test.each([0, 1, 2, 3, 4])('ragged blocks (zeros included), pattern %i, through blockOf', async (k) => {
    const counts = raggedCounts(P, k)
    const at = starts(counts)
    const n = at[P]!
    for (const segmentBytes of [1 << 20, 2 * 4]) {
      const w = memoryWorld(P, segmentBytes)
      const out = await onAll(w, async (ctx) => {
        const d = new Int32Array(n).map((_, i) => v(ctx.rank, i))
        await reduceScatterRingInPlace(ctx, d, 'sum', -2, (b) => [at[b]!, at[b + 1]!])
        return d
      })
      out.forEach((d, r) => {
        expect([...d.subarray(at[r]!, at[r + 1]!)]).toEqual(range(at[r]!, at[r + 1]!).map((i) => 10_000 * tri(P) + P * i))
      })
      // Empty blocks travel as no message at all.
      w.sent.forEach((s, r) => {
        expect(s.elements).toBe(n - counts[r]!)
      })
    }
  })

  test('bigint sums and a commutative user-defined op, ragged blocks, messages in shuffled order', async () => {
    const counts = raggedCounts(P, 3).map((c) => c + 1)
    const at = starts(counts)
    const n = at[P]!
    const big = await onAll(memoryWorld(P, 2 * 8, { jitterSeed: P }), async (ctx) => {
      const d = new BigInt64Array(n).map((_, i) => BigInt(ctx.rank) * 2n ** 40n + BigInt(i))
      await reduceScatterRingInPlace(ctx, d, 'sum', -2, (b) => [at[b]!, at[b + 1]!])
      return d
    })
    for (const [r, d] of big.entries()) {
      expect([...d.subarray(at[r]!, at[r + 1]!)]).toEqual(range(at[r]!, at[r + 1]!).map((i) => BigInt(tri(P)) * 2n ** 40n + BigInt(P * i)))
    }
    // x ∘ y = x + y + x·y is commutative and associative (it is (1+x)(1+y) - 1): the result is Π(1 + x_r) - 1.
    const op = defineOp<Float64Array>('plus-times', (a, b) => {
      for (let i = 0; i < a.length; i++) a[i] = a[i]! + b[i]! + a[i]! * b[i]!
    })
    const x = (r: number, i: number) => ((r + 2 * i) % 3) - 1 // -1, 0, 1: exact products
    const user = await onAll(memoryWorld(P, 3 * 8, { jitterSeed: 100 + P }), async (ctx) => {
      const d = new Float64Array(n).map((_, i) => x(ctx.rank, i))
      await reduceScatterRingInPlace(ctx, d, op, -2, (b) => [at[b]!, at[b + 1]!])
      return d
    })
    for (const [r, d] of user.entries()) {
      expect([...d.subarray(at[r]!, at[r + 1]!)]).toEqual(range(at[r]!, at[r + 1]!).map((i) => range(0, P).reduce((p, q) => p * (1 + x(q, i)), 1) - 1))
    }
  })
})
