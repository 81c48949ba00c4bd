/**
 * Gather to a root by binomial tree: each relative rank v collects the blocks of its subtree (v .. v +
 * lowbit(v)) from its children and sends them to its parent in one message. Steps: ceil(log2 P). The root
 * receives S(P-1) bytes in log2 P messages instead of P-1.
 * Ref: Thakur, Rabenseifner & Gropp, "Optimization of collective communication operations in MPICH", IJHPCA 2005.
 */
import { copyInto, type TypedArray } from '../dtype.ts'
import { binomialTree, subtreeSize } from './bcast-binomial.ts'
import type { CollectiveContext } from './context.ts'
import { mod } from './partition.ts'

/** Resolves to the P blocks in rank order on the root, `undefined` elsewhere. */
export async function gatherBinomial(ctx: CollectiveContext, data: TypedArray, root: number, tag: number): Promise<TypedArray | undefined> {
  const { rank, size } = ctx
  const n = data.length
  const v = mod(rank - root, size)
  const Ctor = data.constructor as new (n: number) => TypedArray
  const { parent, children } = binomialTree(rank, size, root)
  const mine = subtreeSize(v, size)
  // Blocks of our subtree in relative order: ours first, then each child's subtree at (child - v) blocks in.
  const buf = new Ctor(mine * n)
  copyInto(buf, data)
  await Promise.all(
    children.map((c) => {
      const cv = mod(c - root, size)
      const at = (cv - v) * n
      return ctx.recv(c, tag, buf.subarray(at, at + subtreeSize(cv, size) * n))
    }),
  )
  if (parent >= 0) {
    await ctx.send(parent, tag, buf)
    return undefined
  }
  if (root === 0) return buf
  // Relative order → rank order: relative block w belongs to rank (w + root) mod P.
  const out = new Ctor(size * n)
  for (let w = 0; w < size; w++) copyInto(out, buf.subarray(w * n, (w + 1) * n), mod(w + root, size) * n)
  return out
}
