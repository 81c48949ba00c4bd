// Gatherv and scatterv, linear, on 1..9 ranks in memory, to and from every root: ragged counts (zeros, primes,
// all empty), counts known to the root or not, several element types.
import { describe, expect, test } from 'vitest'
import type { TypedArray } from '../../../src/dtype.ts'
import { concat, gathervLinear } from '../../../src/collectives/gatherv-linear.ts'
import { scattervLinear } from '../../../src/collectives/scatterv-linear.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]

/** Elements of rank r's block, per pattern. */
const PATTERNS: Record<string, (r: number) => number> = {
  '(7r + 1) mod 5, zeros among them': (r) => (7 * r + 1) % 5,
  '(7r + 3) mod 5': (r) => (7 * r + 3) % 5,
  'all empty': () => 0,
  'only rank 0': (r) => (r === 0 ? 13 : 0),
  'only the last ranks': (r) => (r >= 4 ? 3 : 0),
  '101 on odd ranks': (r) => (r % 2 ? 101 : 0),
  'r + 1': (r) => r + 1,
}

/** Element j of rank r's block. */
const v = (r: number, j: number) => r * 10_000 + j
const blockOf = (c: (r: number) => number, r: number) => Array.from({ length: c(r) }, (_, j) => v(r, j))
const all = (c: (r: number) => number, P: number) => Array.from({ length: P }, (_, r) => blockOf(c, r)).flat()

const TYPES: { name: string; make: (xs: number[]) => TypedArray; plain: (a: TypedArray) => number[] }[] = [
  { name: 'Float64Array', make: (xs) => Float64Array.from(xs), plain: (a) => [...(a as Float64Array)] },
  { name: 'Int32Array', make: (xs) => Int32Array.from(xs), plain: (a) => [...(a as Int32Array)] },
  {
    name: 'BigInt64Array',
    make: (xs) => BigInt64Array.from(xs, (x) => BigInt(x) * -(2n ** 33n)),
    plain: (a) => [...(a as BigInt64Array)].map((x) => Number(x / -(2n ** 33n))),
  },
]

describe.each(SIZES)('on %i ranks', (P) => {
  test.each(Object.keys(PATTERNS))('gatherv to every root, counts %s', async (name) => {
    const c = PATTERNS[name]!
    const counts = Array.from({ length: P }, (_, r) => c(r))
    for (const T of TYPES) {
      for (const known of [true, false]) {
        for (let root = 0; root < P; root++) {
          const w = memoryWorld(P, undefined, { jitterSeed: root % 2 ? root * 31 + P : undefined })
          const outs = await onAll(w, (ctx) => gathervLinear(ctx, T.make(blockOf(c, ctx.rank)), root, -2, known && ctx.rank === root ? counts : undefined))
          outs.forEach((got, r) => {
            if (r !== root) {
              expect(got).toBeUndefined()
              return
            }
            expect(got?.constructor).toBe(T.make([]).constructor)
            expect(T.plain(got!)).toEqual(all(c, P))
          })
          // Every other rank sends its block, even an empty one (the root waits for it); the root sends nothing.
          w.sent.forEach((s, r) => {
            expect(s).toEqual(r === root ? { messages: 0, elements: 0 } : { messages: 1, elements: c(r) })
          })
        }
      }
    }
  })

  test.each(Object.keys(PATTERNS))('scatterv from every root, counts %s', async (name) => {
    const c = PATTERNS[name]!
    const counts = Array.from({ length: P }, (_, r) => c(r))
    for (const T of TYPES) {
      for (let root = 0; root < P; root++) {
        // The root's buffer may be longer than the blocks: the tail is never sent.
        const data = T.make([...all(c, P), -1, -2])
        const w = memoryWorld(P, undefined, { jitterSeed: root % 2 ? undefined : root * 17 + P })
        const outs = await onAll(w, (ctx) =>
          ctx.rank === root ? scattervLinear(ctx, data, counts, root, -2) : scattervLinear(ctx, undefined, undefined, root, -2),
        )
        outs.forEach((got, r) => {
          expect(got.constructor).toBe(data.constructor)
          expect(T.plain(got)).toEqual(blockOf(c, r))
        })
        // The root's own block is a copy: changing the root's buffer afterwards leaves it alone.
        data.fill(T.make([7])[0] as never)
        expect(T.plain(outs[root]!)).toEqual(blockOf(c, root))
        w.sent.forEach((s, r) => {
          expect(s).toEqual(r === root ? { messages: P - 1, elements: counts.reduce((a, n, q) => a + (q === root ? 0 : n), 0) } : { messages: 0, elements: 0 })
        })
      }
    }
  })

  test('scatterv then gatherv round-trips', async () => {
    const c = PATTERNS['(7r + 1) mod 5, zeros among them']!
    const counts = Array.from({ length: P }, (_, r) => c(r))
    for (let root = 0; root < P; root++) {
      const w = memoryWorld(P)
      const outs = await onAll(w, async (ctx) => {
        const mine = await scattervLinear(ctx, ctx.rank === root ? Float32Array.from(all(c, P)) : undefined, ctx.rank === root ? counts : undefined, root, -2)
        return gathervLinear(ctx, mine, (root + 1) % P, -3)
      })
      expect(outs.map((o) => (o ? [...o] : undefined))).toEqual(Array.from({ length: P }, (_, r) => (r === (root + 1) % P ? all(c, P) : undefined)))
    }
  })
})

test('concat joins in order, empty parts included', () => {
  expect([...concat(Int32Array, [Int32Array.of(1, 2), new Int32Array(0), Int32Array.of(3)])]).toEqual([1, 2, 3])
  expect(concat(Float64Array, []).length).toBe(0)
})
