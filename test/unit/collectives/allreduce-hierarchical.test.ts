// Hierarchical allreduce on in-memory ranks placed on hosts: right sums, the same bits everywhere, and only
// the hosts' leaders talking across hosts.
import { describe, expect, test } from 'vitest'
import { allreduceHierarchical, hostGroups } from '../../../src/collectives/allreduce-hierarchical.ts'
import type { TypedArray } from '../../../src/dtype.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const PLACEMENTS: number[][] = [
  [0, 0, 1, 1], // 2 hosts x 2
  [0, 0, 0, 1, 1, 1], // 2 hosts x 3
  [0, 1, 0, 1, 2], // round robin over 3 hosts, uneven
  [0, 0, 0, 0], // one host
  [0, 1, 2], // one rank per host
]

test('host groups are listed by their lowest rank', () => {
  expect(hostGroups([1, 0, 1, 2, 0])).toEqual([[0, 2], [1, 4], [3]])
})

describe.each(PLACEMENTS)('ranks on hosts %j', (...nodes) => {
  test.each([0, 1, 1001])('sum and avg of %i elements', async (n) => {
    for (const op of ['sum', 'avg'] as const) {
      const w = memoryWorld(nodes.length, 256)
      const out = await onAll(w, async (ctx) => {
        const d = new Float64Array(n).map((_, i) => (ctx.rank + 1) * 0.1 + i)
        await allreduceHierarchical({ ...ctx, nodes }, d, op, -2)
        return d
      })
      const P = nodes.length
      const total = (i: number) => Array.from({ length: P }, (_, r) => (r + 1) * 0.1 + i).reduce((a, b) => a + b)
      for (const d of out) {
        for (let i = 0; i < n; i++) expect(d[i]).toBeCloseTo(op === 'sum' ? total(i) : total(i) / P, 9)
        expect(new Uint8Array(d.buffer)).toEqual(new Uint8Array(out[0]!.buffer)) // identical bits on every rank
      }
    }
  })
})

test('only leaders send across hosts: 2 hosts x 3 ranks, 4 elements', async () => {
  const nodes = [0, 0, 0, 1, 1, 1]
  const w = memoryWorld(6)
  const across: string[] = []
  const spied = w.contexts.map((ctx) => ({
    ...ctx,
    nodes,
    send: (peer: number, tag: number, data: TypedArray) => {
      if (nodes[peer] !== nodes[ctx.rank]) across.push(`${ctx.rank}>${peer}`)
      return ctx.send(peer, tag, data)
    },
  }))
  await Promise.all(spied.map((ctx) => allreduceHierarchical(ctx, new Float32Array(4).fill(1), 'sum', -2)))
  expect(across.sort()).toEqual(['0>3', '3>0'])
})
