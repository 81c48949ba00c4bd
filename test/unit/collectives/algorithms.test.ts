// Every algorithm's schedule on 1..9 ranks in memory (no sockets): results against closed forms, and the
// message counts their headers promise.
import { describe, expect, test } from 'vitest'
import { allgatherRingInPlace } from '../../../src/collectives/allgather-ring.ts'
import { allreduceRecursiveDoubling } from '../../../src/collectives/allreduce-recursive-doubling.ts'
import { allreduceRing } from '../../../src/collectives/allreduce-ring.ts'
import { alltoallPairwise } from '../../../src/collectives/alltoall-pairwise.ts'
import { barrierDissemination } from '../../../src/collectives/barrier-dissemination.ts'
import { bcastBinomial, binomialTree } from '../../../src/collectives/bcast-binomial.ts'
import { bcastScatterAllgather } from '../../../src/collectives/bcast-scatter-allgather.ts'
import { gatherBinomial } from '../../../src/collectives/gather-binomial.ts'
import { reduceBinomial } from '../../../src/collectives/reduce-binomial.ts'
import { reduceScatterRingInPlace } from '../../../src/collectives/reduce-scatter-ring.ts'
import { scatterBinomial } from '../../../src/collectives/scatter-binomial.ts'
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

  test.each(COUNTS)('broadcast binomial and scatter-allgather, %i elements, every root', async (n) => {
    for (const algo of [bcastBinomial, bcastScatterAllgather]) {
      for (let root = 0; root < P; root++) {
        const w = memoryWorld(P, 40)
        const out = await onAll(w, async (ctx) => {
          const d = ctx.rank === root ? new Int32Array(n).map((_, i) => i + root) : new Int32Array(n)
          await algo(ctx, d, root, -2)
          return d
        })
        for (const d of out) expect([...d]).toEqual(Array.from({ length: n }, (_, i) => i + root))
      }
    }
  })

  test('binomial tree: every rank but the root has one parent, P-1 edges, relative rank v at depth popcount(v)', () => {
    for (let root = 0; root < P; root++) {
      const nodes = Array.from({ length: P }, (_, r) => binomialTree(r, P, root))
      expect(nodes[root].parent).toBe(-1)
      const edges = nodes.flatMap((t, r) => t.children.map((c) => [r, c]))
      expect(edges).toHaveLength(P - 1)
      for (const [r, c] of edges) expect(nodes[c].parent).toBe(r)
      const depth = (r: number): number => (nodes[r].parent < 0 ? 0 : 1 + depth(nodes[r].parent))
      const popcount = (v: number) => v.toString(2).split('1').length - 1
      nodes.forEach((_, r) => expect(depth(r)).toBe(popcount((r - root + P) % P)))
    }
  })

  test('reduce to every root; other ranks keep their data', async () => {
    for (let root = 0; root < P; root++) {
      const w = memoryWorld(P)
      const out = await onAll(w, async (ctx) => {
        const d = new Float64Array(5).map((_, i) => ctx.rank * 10 + i)
        await reduceBinomial(ctx, d, 'max', root, -2)
        return d
      })
      out.forEach((d, r) => expect([...d]).toEqual(Array.from({ length: 5 }, (_, i) => (r === root ? (P - 1) * 10 : r * 10) + i)))
    }
  })

  test('gather and scatter for every root; allgather; reduce-scatter blocks; alltoall; barrier', async () => {
    for (let root = 0; root < P; root++) {
      const g = await onAll(memoryWorld(P), (ctx) => gatherBinomial(ctx, new Uint16Array([ctx.rank, ctx.rank + 100]), root, -2))
      g.forEach((got, r) => expect(got && [...got]).toEqual(r === root ? Array.from({ length: P }, (_, q) => [q, q + 100]).flat() : undefined))
      const s = await onAll(memoryWorld(P), (ctx) => scatterBinomial(ctx, ctx.rank === root ? new Float32Array(3 * P).map((_, j) => j) : undefined, root, -2))
      s.forEach((got, r) => expect([...got]).toEqual([3 * r, 3 * r + 1, 3 * r + 2]))
    }
    const ag = await onAll(memoryWorld(P, 4), async (ctx) => {
      const d = new Int32Array(3 * P)
      d.set([ctx.rank, ctx.rank, ctx.rank], 3 * ctx.rank)
      await allgatherRingInPlace(ctx, d, -2, (r) => [3 * r, 3 * r + 3])
      return d
    })
    for (const d of ag) expect([...d]).toEqual(Array.from({ length: P }, (_, q) => [q, q, q]).flat())
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
    const a2a = await onAll(memoryWorld(P), (ctx) => alltoallPairwise(ctx, new Int32Array(2 * P).map((_, j) => ctx.rank * 100 + (j >> 1)), -2))
    a2a.forEach((got, r) => expect([...got]).toEqual(Array.from({ length: P }, (_, q) => [q * 100 + r, q * 100 + r]).flat()))
    const b = memoryWorld(P)
    await onAll(b, (ctx) => barrierDissemination(ctx, -2))
    for (const s of b.sent) expect(s.messages).toBe(steps(P))
  })
})
