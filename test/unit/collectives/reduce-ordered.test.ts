// Reduce and allreduce in rank order on 1..9 ranks in memory, to every root: ops that are neither commutative
// nor associative (f(a, b) = 2a + b) and only associative (2x2 matrix products), so the result is exactly the
// left fold ((r0 ∘ r1) ∘ r2) ∘ … and any other order or grouping is caught.
import { describe, expect, test } from 'vitest'
import { allreduceRing } from '../../../src/collectives/allreduce-ring.ts'
import type { CollectiveContext } from '../../../src/collectives/context.ts'
import { reduceBinomial } from '../../../src/collectives/reduce-binomial.ts'
import { defineOp } from '../../../src/collectives/reduce-ops.ts'
import { allreduceOrdered, reduceOrdered } from '../../../src/collectives/reduce-ordered.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'
import { matmul, matOp } from '../../helpers/matrices.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]
const COUNTS = [0, 1, 2, 7, 13]
const ranks = (P: number) => Array.from({ length: P }, (_, r) => r)

/** a ∘ b = 2a + b: ((x0 ∘ x1) ∘ x2) = 4x0 + 2x1 + x2, but x0 ∘ (x1 ∘ x2) = 2x0 + 2x1 + x2. */
const twiceLeft = defineOp<Int32Array>(
  'twice-left-plus',
  (a, b) => {
    for (let i = 0; i < a.length; i++) a[i] = 2 * a[i]! + b[i]!
  },
  { commutative: false },
)
const x = (r: number, i: number) => ((r * 7 + i * 3) % 10) - 4 // small, signed, differing per rank and element
const leftFold = (P: number, i: number) =>
  ranks(P)
    .map((r) => x(r, i))
    .reduce((a, b) => 2 * a + b)

const mat = (r: number, m: number) => [((r + m) % 3) + 1, r + 1, (m * 7 + r) % 5, ((2 * r + m) % 4) + 1]
const mats = (r: number, n: number) => Int32Array.from(ranks(n).flatMap((m) => mat(r, m)))
const product = (P: number, n: number) =>
  ranks(n).flatMap((m) =>
    ranks(P)
      .map((r) => mat(r, m))
      .reduce(matmul),
  )

describe.each(SIZES)('on %i ranks', (P) => {
  test.each(COUNTS)('reduce of %i elements with 2a + b, to every root: the left fold in rank order', async (n) => {
    for (let root = 0; root < P; root++) {
      const w = memoryWorld(P, undefined, { jitterSeed: root % 2 ? 13 * P + root : undefined })
      const out = await onAll(w, async (ctx) => {
        const d = new Int32Array(n).map((_, i) => x(ctx.rank, i))
        await reduceOrdered(ctx, d, twiceLeft, root, -2)
        return d
      })
      out.forEach((d, r) => {
        expect([...d]).toEqual(Array.from({ length: n }, (_, i) => (r === root ? leftFold(P, i) : x(r, i))))
      })
      // Every other rank sends its vector once (nothing when it is empty); the root sends nothing.
      w.sent.forEach((s, r) => {
        expect(s).toEqual(r === root || n === 0 ? { messages: 0, elements: 0 } : { messages: 1, elements: n })
      })
    }
  })

  test.each([0, 1, 3, 6])('reduce of %i 2x2 matrices, to every root: r0 · r1 · … · rP-1', async (n) => {
    for (let root = 0; root < P; root++) {
      const out = await onAll(memoryWorld(P, undefined, { jitterSeed: 5 * root + P }), async (ctx) => {
        const d = mats(ctx.rank, n)
        await reduceOrdered(ctx, d, matOp, root, -2)
        return d
      })
      out.forEach((d, r) => {
        expect([...d]).toEqual(r === root ? product(P, n) : [...mats(r, n)])
      })
    }
  })

  test.each(COUNTS)('allreduce of %i elements with 2a + b and of matrices: every rank gets the left fold', async (n) => {
    const a = await onAll(memoryWorld(P, 3 * 4), async (ctx) => {
      const d = new Int32Array(n).map((_, i) => x(ctx.rank, i))
      await allreduceOrdered(ctx, d, twiceLeft, -2)
      return d
    })
    for (const d of a) expect([...d]).toEqual(Array.from({ length: n }, (_, i) => leftFold(P, i)))
    const m = await onAll(memoryWorld(P, undefined, { jitterSeed: n + P }), async (ctx) => {
      const d = mats(ctx.rank, n)
      await allreduceOrdered(ctx, d, matOp, -2)
      return d
    })
    for (const d of m) expect([...d]).toEqual(product(P, n))
  })

  test('built-in ops give the usual results: sum, and avg dividing by the size', async () => {
    for (let root = 0; root < P; root++) {
      for (const op of ['sum', 'avg'] as const) {
        const out = await onAll(memoryWorld(P), async (ctx) => {
          const d = new Float64Array(5).map((_, i) => ctx.rank * 1_000 + i)
          await reduceOrdered(ctx, d, op, root, -2)
          return d
        })
        const sum = (i: number) => (1_000 * P * (P - 1)) / 2 + P * i
        expect([...out[root]!]).toEqual(Array.from({ length: 5 }, (_, i) => (op === 'sum' ? sum(i) : sum(i) / P)))
      }
    }
  })
})

test('the ops used here really depend on order and grouping', () => {
  expect([1, 2, 3].reduce((a, b) => 2 * a + b)).not.toBe(2 * 1 + (2 * 2 + 3))
  expect(matmul(mat(0, 0), mat(1, 0))).not.toEqual(matmul(mat(1, 0), mat(0, 0)))
})

// The divisor of an avg is the ranks that contributed (a joined rank does not): the ordered algorithms divide like
// the others (they divided by size).
test.each([2, 3, 4, 5])('avg on %i ranks, one joined: ordered reduce and allreduce divide like binomial and ring', async (P) => {
  const contributors = P - 1
  const data = (r: number) => new Float64Array(4).map((_, i) => (r === P - 1 ? 0 : (r + 1) * 12 + i)) // the joined rank gives 0
  const run = (algo: (ctx: CollectiveContext, d: Float64Array) => Promise<void>) =>
    onAll(memoryWorld(P, undefined, { contributors }), async (ctx) => {
      const d = data(ctx.rank)
      await algo(ctx, d)
      return [...d]
    })
  const binomial = await run((ctx, d) => reduceBinomial(ctx, d, 'avg', 0, -2))
  const ordered = await run((ctx, d) => reduceOrdered(ctx, d, 'avg', 0, -2))
  expect(ordered[0]).toEqual(binomial[0])
  const ring = await run((ctx, d) => allreduceRing(ctx, d, 'avg', -2))
  const allOrdered = await run((ctx, d) => allreduceOrdered(ctx, d, 'avg', -2))
  expect(allOrdered).toEqual(ring)
})
