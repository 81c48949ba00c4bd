/**
 * Reduce-scatter by ring, in place: after P-1 steps rank r holds the fully reduced block r of `data`
 * (blocks as even as possible, partition.ts). Steps: P-1. Bytes sent per rank: S(P-1)/P. Each block is cut
 * into segments that travel as separate messages, so the reduction of one segment overlaps the arrival of
 * the next; segments are reduced straight from the transport's buffers (no scratch copy). Extra memory: the
 * segments in flight. Ref: Patarasuk & Yuan, JPDC 2009.
 */
import type { TypedArray } from '../dtype.ts'
import type { CollectiveContext } from './context.ts'
import { blockRange, mod, segments } from './partition.ts'
import type { ReduceOp } from './reduce-ops.ts'

/** Range of elements that each rank's block covers; rank r ends up owning block `owner(r)`. */
export type BlockOf = (block: number) => [number, number]

export async function reduceScatterRingInPlace(
  ctx: CollectiveContext,
  data: TypedArray,
  op: ReduceOp,
  tag: number,
  blockOf: BlockOf = (b) => blockRange(data.length, ctx.size, b),
): Promise<void> {
  const { rank, size } = ctx
  if (size === 1) return
  const right = mod(rank + 1, size)
  const left = mod(rank - 1, size)
  const seg = ctx.segmentElements(data.BYTES_PER_ELEMENT)

  // Step s: send block (r-s-1), receive block (r-s-2) and reduce it into ours. After P-1 steps the block
  // received last, r - P = r, has passed every rank.
  for (let s = 0; s < size - 1; s++) {
    const [ss, se] = blockOf(mod(rank - s - 1, size))
    const [rs, re] = blockOf(mod(rank - s - 2, size))
    const pending: Promise<void>[] = []
    for (const [a, b] of segments(rs, re, seg)) pending.push(ctx.recvReduce(left, tag, data.subarray(a, b), op))
    for (const [a, b] of segments(ss, se, seg)) pending.push(ctx.send(right, tag, data.subarray(a, b)))
    await Promise.all(pending)
  }
}
