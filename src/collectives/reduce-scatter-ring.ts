/**
 * Reduce-scatter by ring, in place: after P-1 steps rank r holds the fully reduced block r of `data`
 * (blocks as even as possible, partition.ts). Steps: P-1. Bytes sent per rank: S(P-1)/P. Segments are reduced
 * straight from the transport's buffers as they arrive (no scratch copy). Extra memory: the segments in
 * flight. Ref: Patarasuk & Yuan, JPDC 2009.
 */
import type { TypedArray } from '../dtype.ts'
import type { CollectiveContext } from './context.ts'
import { blockRange, mod } from './partition.ts'
import type { ReduceOp } from './reduce-ops.ts'
import { ringPass, type BlockOf } from './ring-pass.ts'

export type { BlockOf }

export async function reduceScatterRingInPlace(
  ctx: CollectiveContext,
  data: TypedArray,
  op: ReduceOp,
  tag: number,
  blockOf: BlockOf = (b) => blockRange(data.length, ctx.size, b),
): Promise<void> {
  const { rank, size } = ctx
  if (size === 1) return
  // Step s: send block (r-s-1), receive block (r-s-2) and reduce it into ours. After P-1 steps the block
  // received last, r - P = r, has passed every rank.
  await ringPass(
    ctx,
    data,
    tag,
    blockOf,
    (s) => mod(rank - s - 1, size),
    (s) => mod(rank - s - 2, size),
    (left, segment) => ctx.recvReduce(left, tag, segment, op),
  )
}
