/**
 * Inclusive and exclusive prefix reductions (MPI_Scan / MPI_Exscan) by recursive doubling: at step k each rank
 * exchanges the combination of a block of 2^k consecutive ranks with the rank 2^k away; what comes from below is
 * folded into its prefix. Steps: ceil(log2 P). Bytes sent per rank: S ceil(log2 P). Operands are always
 * combined lower ranks first, so non-commutative ops get r0 ∘ r1 ∘ … ∘ r.
 * Ref: MPICH src/mpi/coll/scan/scan_intra_recursive_doubling.c (the algorithm; Thakur, Rabenseifner & Gropp 2005).
 */
import { copyInto, type TypedArray } from '../dtype.ts'
import type { CollectiveContext } from './context.ts'
import { fillIdentity, finishAvg, isUserOp, reduceInto, type ReduceOp } from './reduce-ops.ts'
import { giveScratch, scratchLike } from './scratch.ts'

/** `lower ∘ upper`, written into `upper` (ops other than user ones are commutative bitwise: any order). */
function foldBelow(op: ReduceOp, lower: TypedArray, upper: TypedArray): void {
  if (!isUserOp(op) || op.commutative) return reduceInto(op, upper, lower)
  const t = lower.slice()
  reduceInto(op, t, upper)
  copyInto(upper, t)
}

/**
 * Replaces `data` with the combination of ranks 0..r (inclusive) or 0..r-1 (exclusive; rank 0 gets the op's
 * identity, or keeps its data for a user op).
 */
export async function scanRecursiveDoubling(ctx: CollectiveContext, data: TypedArray, op: ReduceOp, tag: number, exclusive: boolean): Promise<void> {
  const { rank, size } = ctx
  // partial: the combination of this rank's block of 2^k ranks; prefix: what this rank has from below so far.
  const partial = scratchLike(data)
  copyInto(partial, data)
  let prefix: TypedArray | undefined = exclusive ? undefined : data
  const tmp = scratchLike(data)
  for (let mask = 1; mask < size && data.length > 0; mask <<= 1) {
    const partner = rank ^ mask
    if (partner >= size) continue
    await Promise.all([ctx.send(partner, tag, partial), ctx.recv(partner, tag, tmp)])
    if (partner < rank) {
      foldBelow(op, tmp, partial)
      if (prefix === undefined) prefix = tmp.slice()
      else foldBelow(op, tmp, prefix)
    } else {
      reduceInto(op, partial, tmp) // partial ∘ tmp: ours is the lower block
    }
  }
  if (exclusive) {
    if (prefix !== undefined) copyInto(data, prefix)
    else if (!isUserOp(op)) fillIdentity(data, op)
  }
  giveScratch(partial)
  giveScratch(tmp)
  // An average of a prefix divides by the ranks it holds: r + 1, or r for an exclusive one.
  finishAvg(op, data, Math.max(1, exclusive ? rank : rank + 1))
}
