/**
 * Broadcast for large data: binomial scatter of P blocks from the root, then ring allgather (van de Geijn).
 * Steps: log2 P + P - 1. Bytes sent per rank: about 2S(P-1)/P, against S log2 P for the binomial tree, so
 * it wins for large data on more than two ranks. Ref: Barnett et al., "Interprocessor collective
 * communication library (InterCom)", 1994; Thakur, Rabenseifner & Gropp 2005.
 */
import type { TypedArray } from '../dtype.ts'
import { allgatherRingInPlace } from './allgather-ring.ts'
import { binomialTree, subtreeSize } from './bcast-binomial.ts'
import type { CollectiveContext } from './context.ts'
import { blockStart, mod, segments } from './partition.ts'

export async function bcastScatterAllgather(ctx: CollectiveContext, data: TypedArray, root: number, tag: number): Promise<void> {
  const { rank, size } = ctx
  if (size === 1 || data.length === 0) return
  const n = data.length
  // Block v (by relative rank) belongs to relative rank v; a subtree of relative ranks [v, w) is contiguous.
  const range = (vFrom: number, count: number): [number, number] => [blockStart(n, size, vFrom), blockStart(n, size, vFrom + count)]
  const v = mod(rank - root, size)
  const { parent, children } = binomialTree(rank, size, root)
  const seg = ctx.segmentElements(data.BYTES_PER_ELEMENT)

  // Scatter: receive our subtree's blocks from the parent, hand each child its subtree's blocks.
  if (parent >= 0) {
    const [a, b] = range(v, subtreeSize(v, size))
    await Promise.all(segments(a, b, seg).map(([x, y]) => ctx.recv(parent, tag, data.subarray(x, y))))
  }
  await Promise.all(
    children.map((c) => {
      const cv = mod(c - root, size)
      const [a, b] = range(cv, subtreeSize(cv, size))
      return Promise.all(segments(a, b, seg).map(([x, y]) => ctx.send(c, tag, data.subarray(x, y))))
    }),
  )

  // Allgather: every rank r contributes block (r - root).
  await allgatherRingInPlace(ctx, data, tag, (r) => range(mod(r - root, size), 1))
}
