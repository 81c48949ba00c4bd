/**
 * Reduce to a root by binomial tree: each relative rank v combines what its children send (v + 2^k for
 * 2^k < lowbit(v)) and sends the sum of its subtree to v - lowbit(v). Steps: ceil(log2 P). Bytes sent per
 * rank: at most S. A non-root's `data` is left unchanged; inner ranks use one scratch copy.
 * Ref: Thakur, Rabenseifner & Gropp, "Optimization of collective communication operations in MPICH", IJHPCA 2005.
 */
import { copyInto, type TypedArray } from '../dtype.ts'
import { binomialTree } from './bcast-binomial.ts'
import { avgDivisor, type CollectiveContext } from './context.ts'
import { finishAvg, type ReduceOp } from './reduce-ops.ts'
import { giveScratch, scratchLike } from './scratch.ts'

export async function reduceBinomial(ctx: CollectiveContext, data: TypedArray, op: ReduceOp, root: number, tag: number): Promise<void> {
  const { rank, size } = ctx
  if (size === 1 || data.length === 0) return finishAvg(op, data, avgDivisor(ctx))
  const { parent, children } = binomialTree(rank, size, root)
  let acc = data
  if (children.length > 0) {
    if (parent >= 0) {
      acc = scratchLike(data)
      copyInto(acc, data)
    }
    // Smallest subtree first: it is ready first. Combine in a fixed order, so the result does not depend on timing.
    for (const c of [...children].reverse()) await ctx.recvReduce(c, tag, acc, op)
  }
  if (parent >= 0) await ctx.send(parent, tag, acc)
  else finishAvg(op, data, avgDivisor(ctx))
  if (acc !== data) giveScratch(acc)
}
