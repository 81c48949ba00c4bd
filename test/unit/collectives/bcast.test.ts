// Broadcast schedules (binomial, scatter-allgather) and the binomial tree on 1..9 ranks in memory.
import { describe, expect, test } from 'vitest'
import { bcastBinomial, binomialTree } from '../../../src/collectives/bcast-binomial.ts'
import { bcastScatterAllgather } from '../../../src/collectives/bcast-scatter-allgather.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]
const COUNTS = [0, 1, 10, 1001]

describe.each(SIZES)('on %i ranks', (P) => {
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
      nodes.forEach((_, r) => {
        expect(depth(r)).toBe(popcount((r - root + P) % P))
      })
    }
  })
})
