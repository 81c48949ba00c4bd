/**
 * Allreduce by ring: reduce-scatter, then allgather. Steps: 2(P-1). Bytes sent per rank: 2S(P-1)/P.
 * Bandwidth-optimal; chosen for large messages. Every element is reduced once, by the rank that owns its
 * block, and then copied to the others, so all ranks get the same bits. Extra memory: one block (S/P).
 * Ref: Patarasuk & Yuan, "Bandwidth optimal all-reduce algorithms for clusters of workstations", JPDC 2009.
 */
import type { TypedArray } from '../dtype.ts'
import { allgatherRingInPlace } from './allgather-ring.ts'
import { avgDivisor, type CollectiveContext } from './context.ts'
import { blockRange } from './partition.ts'
import { finishAvg, type ReduceOp } from './reduce-ops.ts'
import { reduceScatterRingInPlace } from './reduce-scatter-ring.ts'

export async function allreduceRing(ctx: CollectiveContext, data: TypedArray, op: ReduceOp, tag: number): Promise<void> {
  const { rank, size } = ctx
  if (size === 1 || data.length === 0) return finishAvg(op, data, avgDivisor(ctx))
  const blockOf = (b: number) => blockRange(data.length, size, b)
  await reduceScatterRingInPlace(ctx, data, op, tag, blockOf)
  const [a, b] = blockOf(rank)
  finishAvg(op, data.subarray(a, b), avgDivisor(ctx))
  await allgatherRingInPlace(ctx, data, tag, blockOf)
}
