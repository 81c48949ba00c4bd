// Scan and exscan by recursive doubling on 1..9 ranks in memory: built-in ops (identities on rank 0 of an
// exscan), averages, and user ops, commutative or not (a product of 2x2 matrices: the order must be r0 r1 … r).
import { describe, expect, test } from 'vitest'
import { defineOp } from '../../../src/collectives/reduce-ops.ts'
import { scanRecursiveDoubling } from '../../../src/collectives/scan-recursive-doubling.ts'
import type { TypedArray } from '../../../src/dtype.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'
import { M, matmul, matOp } from '../../helpers/matrices.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]
const COUNTS = [0, 1, 2, 7, 13, 2053] // 2053 doubles: the scratch buffers come from the pool (>= 16 KiB)
const tri = (p: number) => (p * (p - 1)) / 2
const ranks = (P: number) => Array.from({ length: P }, (_, r) => r)

/** Messages rank r sends: one per step whose partner r ^ 2^k exists. */
const partners = (r: number, P: number) => ranks(Math.ceil(Math.log2(Math.max(1, P)))).filter((k) => (r ^ (1 << k)) < P).length

async function scan<T extends TypedArray>(
  P: number,
  make: (r: number) => T,
  op: Parameters<typeof scanRecursiveDoubling>[2],
  exclusive: boolean,
  jitterSeed?: number,
) {
  const w = memoryWorld(P, undefined, { jitterSeed })
  const out = await onAll(w, async (ctx) => {
    const d = make(ctx.rank)
    await scanRecursiveDoubling(ctx, d, op, -2, exclusive)
    return d
  })
  return { out, sent: w.sent }
}

/** Rank r's matrix number m. */
const mat = (r: number, m: number) => [((r + m) % 3) + 1, r + 1, (m * 7 + r) % 5, ((2 * r + m) % 4) + 1].map((x) => x % M)
const mats = (r: number, n: number) => Int32Array.from(ranks(n).flatMap((m) => mat(r, m)))
/** M(lo) · M(lo+1) · … · M(hi), per matrix index. */
const product = (lo: number, hi: number, n: number) =>
  ranks(n).flatMap((m) =>
    ranks(hi - lo + 1)
      .map((k) => mat(lo + k, m))
      .reduce(matmul),
  )

describe.each(SIZES)('on %i ranks', (P) => {
  test.each(COUNTS)('inclusive and exclusive sum of %i elements (values differ per rank and element)', async (n) => {
    const v = (r: number, i: number) => r * 10_000 + i
    for (const exclusive of [false, true]) {
      const { out, sent } = await scan(P, (r) => new Float64Array(n).map((_, i) => v(r, i)), 'sum', exclusive)
      // Ranks 0..r (or 0..r-1): 10000 (0 + 1 + … + r) + (r + 1) i.
      out.forEach((d, r) => {
        const k = exclusive ? r : r + 1
        expect([...d]).toEqual(Array.from({ length: n }, (_, i) => 10_000 * tri(k) + k * i))
      })
      sent.forEach((s, r) => {
        expect(s).toEqual(n === 0 ? { messages: 0, elements: 0 } : { messages: partners(r, P), elements: partners(r, P) * n })
      })
    }
  })

  test.each(COUNTS)('max, min (Int32 identities on rank 0 of an exscan) and avg of %i elements', async (n) => {
    // The largest value among ranks 0..r moves from rank to rank as r grows and differs per element.
    const f = (r: number, i: number) => ((r * 5 + i * 3) % 11) * 1_000 - i
    /** For each rank r, the fold of ranks 0..r element by element, computed directly from f. */
    const folds = (pick: (a: number, b: number) => number) => {
      const out: number[][] = []
      for (let r = 0; r < P; r++) out.push(Array.from({ length: n }, (_, i) => (r === 0 ? f(0, i) : pick(out[r - 1]![i]!, f(r, i)))))
      return out
    }
    const byOp = { max: folds(Math.max), min: folds(Math.min) }
    const fold = (r: number, i: number, pick: typeof Math.max) => byOp[pick === Math.max ? 'max' : 'min'][r]![i]!
    for (const exclusive of [false, true]) {
      for (const [op, pick, identity] of [
        ['max', Math.max, -(2 ** 31)],
        ['min', Math.min, 2 ** 31 - 1],
      ] as const) {
        const { out } = await scan(P, (r) => new Int32Array(n).map((_, i) => f(r, i)), op, exclusive, exclusive ? 5 * P : undefined)
        out.forEach((d, r) => {
          expect([...d]).toEqual(Array.from({ length: n }, (_, i) => (exclusive ? (r === 0 ? identity : fold(r - 1, i, pick)) : fold(r, i, pick))))
        })
      }
      const fmax = await scan(P, (r) => new Float64Array(n).map((_, i) => f(r, i)), 'max', exclusive)
      fmax.out.forEach((d, r) => {
        expect([...d]).toEqual(Array.from({ length: n }, (_, i) => (exclusive ? (r === 0 ? -Infinity : fold(r - 1, i, Math.max)) : fold(r, i, Math.max))))
      })
      // avg divides each prefix by the ranks it holds (r + 1, or r; rank 0 of an exscan: 0).
      const avg = await scan(P, (r) => new Float64Array(n).map((_, i) => r * 1_000 + i), 'avg', exclusive)
      avg.out.forEach((d, r) => {
        expect([...d]).toEqual(Array.from({ length: n }, (_, i) => (exclusive ? (r === 0 ? 0 : 500 * (r - 1) + i) : 500 * r + i)))
      })
    }
  })

  test.each([0, 1, 2, 5, 13])('a non-commutative user op (products of %i 2x2 matrices) combines r0 · r1 · … in rank order', async (n) => {
    for (const jitterSeed of [undefined, 7 * P + n]) {
      const inc = await scan(P, (r) => mats(r, n), matOp, false, jitterSeed)
      inc.out.forEach((d, r) => {
        expect([...d]).toEqual(product(0, r, n))
      })
      // Exclusive: rank r gets r0 · … · r(r-1); rank 0 keeps its data (a user op has no identity).
      const exc = await scan(P, (r) => mats(r, n), matOp, true, jitterSeed)
      exc.out.forEach((d, r) => {
        expect([...d]).toEqual(r === 0 ? [...mats(0, n)] : product(0, r - 1, n))
      })
    }
  })

  test('the matrices really do not commute: the reversed order gives other results', () => {
    if (P < 2) return
    expect(product(0, P - 1, 3)).not.toEqual(
      ranks(3).flatMap((m) =>
        ranks(P)
          .reverse()
          .map((k) => mat(k, m))
          .reduce(matmul),
      ),
    )
  })

  test('a commutative user op and a bigint sum', async () => {
    const n = 9
    const sumOp = defineOp<Float64Array>('my-sum', (a, b) => {
      for (let i = 0; i < a.length; i++) a[i] = a[i]! + b[i]!
    })
    for (const exclusive of [false, true]) {
      const user = await scan(P, (r) => new Float64Array(n).map((_, i) => r * 100 + i), sumOp, exclusive)
      // Rank 0 of an exscan with a user op keeps its data.
      user.out.forEach((d, r) => {
        const k = exclusive ? r : r + 1
        expect([...d]).toEqual(Array.from({ length: n }, (_, i) => (exclusive && r === 0 ? i : 100 * tri(k) + k * i)))
      })
      const big = await scan(P, (r) => BigInt64Array.from({ length: n }, (_, i) => BigInt(r) * 2n ** 50n + BigInt(i)), 'sum', exclusive)
      big.out.forEach((d, r) => {
        const k = BigInt(exclusive ? r : r + 1)
        expect([...d]).toEqual(Array.from({ length: n }, (_, i) => ((k * (k - 1n)) / 2n) * 2n ** 50n + k * BigInt(i)))
      })
    }
  })

  test('a scan run twice in a row with pooled scratch gives the same result', async () => {
    const n = 4096
    const make = (r: number) => new Float64Array(n).map((_, i) => (r + 1) * (i % 17))
    const a = await scan(P, make, 'sum', true)
    const b = await scan(P, make, 'sum', true)
    expect(b.out.map((d) => [...d])).toEqual(a.out.map((d) => [...d]))
    a.out.forEach((d, r) => {
      expect(d[16]).toBe(tri(r + 1) * 16)
    })
  })
})
