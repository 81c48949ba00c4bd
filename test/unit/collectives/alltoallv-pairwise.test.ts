// Alltoallv by pairwise exchange on 1..9 ranks in memory: ragged counts (zeros, primes, empty diagonals), with
// the receive counts known (blocks land in place, in a given array too) and unknown (blocks joined as they come).
import { describe, expect, test } from 'vitest'
import { alltoallvPairwise, offsets } from '../../../src/collectives/alltoallv-pairwise.ts'
import type { TypedArray } from '../../../src/dtype.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]

/** Elements rank s sends to rank d, per pattern. */
const PATTERNS: Record<string, (s: number, d: number) => number> = {
  'mod 4 (zeros among them)': (s, d) => (3 * s + 5 * d) % 4,
  'mod 4, shifted': (s, d) => (3 * s + 5 * d + 2) % 4,
  'all empty': () => 0,
  'empty diagonal, 7 elsewhere': (s, d) => (s === d ? 0 : 7),
  'only the diagonal': (s, d) => (s === d ? 13 : 0),
  'primes, odd pairs only': (s, d) => ((s + d) % 2 ? 101 : 0),
  'growing with the destination': (s, d) => d * 3 + (s % 2),
}

/** Element j of the block rank s sends to rank d: says where it came from, where it goes, and where in the block. */
const v = (s: number, d: number, j: number) => s * 1_000_000 + d * 1_000 + j
const block = (c: (s: number, d: number) => number, s: number, d: number) => Array.from({ length: c(s, d) }, (_, j) => v(s, d, j))
const sendData = (Ctor: new (xs: number[]) => TypedArray, c: (s: number, d: number) => number, s: number, P: number): TypedArray =>
  new Ctor(Array.from({ length: P }, (_, d) => block(c, s, d)).flat())
const expected = (c: (s: number, d: number) => number, d: number, P: number) => Array.from({ length: P }, (_, s) => block(c, s, d)).flat()
const plain = (a: TypedArray) => [...a].map(Number)

describe.each(SIZES)('on %i ranks', (P) => {
  test.each(Object.keys(PATTERNS))('counts %s: rank d gets block d of every rank, in source order', async (name) => {
    const c = PATTERNS[name]!
    const ranks = Array.from({ length: P }, (_, r) => r)
    for (const Ctor of [Float64Array, Int32Array] as const) {
      for (const mode of ['known', 'known, into', 'unknown'] as const) {
        for (const jitterSeed of [undefined, 3 * P + 1]) {
          const w = memoryWorld(P, undefined, { jitterSeed })
          const outs = await onAll(w, async (ctx) => {
            const sendCounts = ranks.map((d) => c(ctx.rank, d))
            const recvCounts = ranks.map((s) => c(s, ctx.rank))
            const data = sendData(Ctor, c, ctx.rank, P)
            const into = mode === 'known, into' ? new Ctor(offsets(recvCounts)[P]!).fill(-1) : undefined
            const got = await alltoallvPairwise(ctx, data, sendCounts, -2, mode === 'unknown' ? undefined : recvCounts, into)
            if (into) expect(got.data).toBe(into)
            expect([...data]).toEqual(plain(sendData(Ctor, c, ctx.rank, P))) // the send buffer is left alone
            return got
          })
          outs.forEach((got, d) => {
            expect(got.data).toBeInstanceOf(Ctor)
            expect(plain(got.data)).toEqual(expected(c, d, P))
            expect(got.counts).toEqual(ranks.map((s) => c(s, d)))
          })
          // P-1 steps, one message each (empty blocks too: the receiver waits for one); only others' blocks travel.
          w.sent.forEach((s, r) => {
            expect(s).toEqual({ messages: P - 1, elements: ranks.filter((d) => d !== r).reduce((e, d) => e + c(r, d), 0) })
          })
        }
      }
    }
  })

  test('bigint blocks, counts unknown', async () => {
    const c = PATTERNS['mod 4 (zeros among them)']!
    const outs = await onAll(memoryWorld(P), (ctx) =>
      alltoallvPairwise(
        ctx,
        BigInt64Array.from(sendData(Float64Array, c, ctx.rank, P) as Float64Array, (x) => BigInt(x) * 2n ** 32n),
        Array.from({ length: P }, (_, d) => c(ctx.rank, d)),
        -2,
      ),
    )
    outs.forEach((got, d) => {
      expect(got.data).toBeInstanceOf(BigInt64Array)
      expect([...got.data]).toEqual(expected(c, d, P).map((x) => BigInt(x) * 2n ** 32n))
    })
  })
})

test('offsets: the start of each block, then the total', () => {
  expect(offsets([])).toEqual([0])
  expect(offsets([3, 0, 2, 0])).toEqual([0, 3, 3, 5, 5])
})
