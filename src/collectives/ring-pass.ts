/**
 * The step loop shared by the ring algorithms: P-1 steps; at step s a rank sends block `sendBlock(s)` to its
 * right neighbour and takes block `recvBlock(s)` from its left one, both cut into segments that travel as
 * separate messages (so the work on one arriving segment overlaps the arrival of the next). What happens to
 * an arriving segment (copied in place, or reduced into place) is the caller's `take`.
 */
import type { TypedArray } from '../dtype.ts'
import type { CollectiveContext } from './context.ts'
import { mod, segments } from './partition.ts'

/** Range of elements of block `b`. */
export type BlockOf = (block: number) => [number, number]

export async function ringPass(
  ctx: CollectiveContext,
  data: TypedArray,
  tag: number,
  blockOf: BlockOf,
  sendBlock: (step: number) => number,
  recvBlock: (step: number) => number,
  take: (left: number, segment: TypedArray) => Promise<void>,
): Promise<void> {
  const { rank, size } = ctx
  const right = mod(rank + 1, size)
  const left = mod(rank - 1, size)
  const seg = ctx.segmentElements(data.BYTES_PER_ELEMENT)
  for (let s = 0; s < size - 1; s++) {
    const [ss, se] = blockOf(sendBlock(s))
    const [rs, re] = blockOf(recvBlock(s))
    const pending: Promise<void>[] = []
    for (const [a, b] of segments(rs, re, seg)) pending.push(take(left, data.subarray(a, b)))
    for (const [a, b] of segments(ss, se, seg)) pending.push(ctx.send(right, tag, data.subarray(a, b)))
    await Promise.all(pending)
  }
}
