/**
 * Scatter from a root by binomial tree: the root sends each child the blocks of the child's whole subtree
 * in one message; inner ranks pass them on. Steps: ceil(log2 P). Non-roots learn the block size from the
 * message itself.
 * Ref: Thakur, Rabenseifner & Gropp, "Optimization of collective communication operations in MPICH", IJHPCA 2005.
 */
import { copyInto, type TypedArray } from '../dtype.ts'
import { binomialTree, subtreeSize } from './bcast-binomial.ts'
import type { CollectiveContext } from './context.ts'
import { mod } from './partition.ts'

/** On the root `data` holds P blocks in rank order; every rank resolves to its own block. */
export async function scatterBinomial(ctx: CollectiveContext, data: TypedArray | undefined, root: number, tag: number): Promise<TypedArray> {
  const { rank, size } = ctx
  const v = mod(rank - root, size)
  const { parent, children } = binomialTree(rank, size, root)
  let buf: TypedArray
  let n: number
  if (parent < 0) {
    const all = data!
    n = all.length / size
    if (root === 0) buf = all
    else {
      // Rank order → relative order, so that every subtree's blocks are contiguous.
      buf = new (all.constructor as new (n: number) => TypedArray)(all.length)
      for (let w = 0; w < size; w++) copyInto(buf, all.subarray(mod(w + root, size) * n, (mod(w + root, size) + 1) * n), w * n)
    }
  } else {
    buf = await ctx.recvAny(parent, tag)
    n = buf.length / subtreeSize(v, size)
  }
  await Promise.all(
    children.map((c) => {
      const cv = mod(c - root, size)
      const at = (cv - v) * n
      return ctx.send(c, tag, buf.subarray(at, at + subtreeSize(cv, size) * n))
    }),
  )
  return parent < 0 && root === 0 ? buf.slice(0, n) : buf.subarray(0, n)
}
