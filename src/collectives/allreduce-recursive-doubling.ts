/**
 * Allreduce by recursive doubling: at step k each rank exchanges its whole vector with the rank 2^k away and
 * combines. Steps: ceil(log2 P) (+2 when P is not a power of two). Bytes sent per rank: S log2 P.
 * Latency-optimal; chosen for small messages. Non-powers of two: the first 2r ranks (r = P - 2^floor(log2 P))
 * pair up, the even one hands its vector to the odd one and gets the result back at the end (MPICH's scheme).
 * Ref: Thakur, Rabenseifner & Gropp, "Optimization of Collective Communication Operations in MPICH", 2005.
 */
import type { TypedArray } from '../dtype.ts'
import { avgDivisor, type CollectiveContext } from './context.ts'
import { floorPow2 } from './partition.ts'
import { finishAvg, reduceInto, type ReduceOp } from './reduce-ops.ts'
import { giveScratch, scratchLike } from './scratch.ts'

export async function allreduceRecursiveDoubling(ctx: CollectiveContext, data: TypedArray, op: ReduceOp, tag: number): Promise<void> {
  const { rank, size } = ctx
  if (size === 1 || data.length === 0) return finishAvg(op, data, avgDivisor(ctx))
  const pof2 = floorPow2(size)
  const rem = size - pof2
  const tmp = scratchLike(data)

  // Fold the extra ranks in: even ranks below 2*rem give their data to the odd rank above and sit out.
  let newRank: number
  if (rank < 2 * rem) {
    if (rank % 2 === 0) {
      await ctx.send(rank + 1, tag, data)
      newRank = -1
    } else {
      await ctx.recvReduce(rank - 1, tag, data, op)
      newRank = rank >> 1
    }
  } else {
    newRank = rank - rem
  }

  if (newRank >= 0) {
    // Exchange with the partner 2^k away; both compute op(mine, theirs), the same bits on both sides.
    for (let mask = 1; mask < pof2; mask <<= 1) {
      const partnerNew = newRank ^ mask
      const partner = partnerNew < rem ? partnerNew * 2 + 1 : partnerNew + rem
      // Our data must not change until our send is done: receive into tmp first, then combine.
      await Promise.all([ctx.send(partner, tag, data), ctx.recv(partner, tag, tmp)])
      reduceInto(op, data, tmp)
    }
    finishAvg(op, data, avgDivisor(ctx))
  }
  giveScratch(tmp)

  // Hand the result back to the ranks that sat out.
  if (rank < 2 * rem) {
    if (rank % 2 === 1) await ctx.send(rank - 1, tag, data)
    else await ctx.recv(rank + 1, tag, data)
  }
}
