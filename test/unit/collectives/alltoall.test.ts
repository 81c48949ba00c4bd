// Alltoall by pairwise exchange and by Bruck's algorithm on 1..17 ranks in memory.
import { describe, expect, test } from 'vitest'
import { alltoallBruck } from '../../../src/collectives/alltoall-bruck.ts'
import { alltoallPairwise } from '../../../src/collectives/alltoall-pairwise.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17]
const ALGORITHMS = { pairwise: alltoallPairwise, bruck: alltoallBruck }

describe.each(Object.entries(ALGORITHMS))('%s', (_name, alltoall) => {
  describe.each(SIZES)('on %i ranks', (P) => {
    test('block i goes to rank i', async () => {
      const a2a = await onAll(memoryWorld(P, 1 << 20, { jitterSeed: P }), (ctx) =>
        alltoall(
          ctx,
          new Int32Array(2 * P).map((_, j) => ctx.rank * 100 + (j >> 1) + (j & 1) * 10_000),
          -2,
        ),
      )
      a2a.forEach((got, r) => {
        expect([...got]).toEqual(Array.from({ length: P }, (_, q) => [q * 100 + r, q * 100 + r + 10_000]).flat())
      })
    })
  })
})

test("Bruck's algorithm into the input itself (it works on a rotated copy)", async () => {
  const P = 6
  const a2a = await onAll(memoryWorld(P), (ctx) => {
    const data = new Float64Array(P).map((_, j) => ctx.rank * 100 + j)
    return alltoallBruck(ctx, data, -2, data)
  })
  for (const [r, got] of a2a.entries()) expect([...got]).toEqual(Array.from({ length: P }, (_, q) => q * 100 + r))
})

test("Bruck's algorithm talks to ⌈log2 P⌉ peers in as many messages", async () => {
  const P = 16
  const world = memoryWorld(P)
  await onAll(world, (ctx) => alltoallBruck(ctx, new Int32Array(P), -2))
  for (const s of world.sent) expect(s.messages).toBe(4)
})
