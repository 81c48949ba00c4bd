/**
 * Allgather by ring, in place: rank r starts with its own block of `data` filled and ends with every block.
 * Steps: P-1. Bytes sent per rank: S(P-1)/P. Blocks travel in segments, received straight into `data`.
 * Ref: Thakur, Rabenseifner & Gropp 2005.
 */
import type { TypedArray } from '../dtype.ts'
import type { CollectiveContext } from './context.ts'
import { mod, segments } from './partition.ts'
import type { BlockOf } from './reduce-scatter-ring.ts'

/** `blockOf(r)` is the range that rank r contributes. */
export async function allgatherRingInPlace(ctx: CollectiveContext, data: TypedArray, tag: number, blockOf: BlockOf): Promise<void> {
  const { rank, size } = ctx
  if (size === 1) return
  const right = mod(rank + 1, size)
  const left = mod(rank - 1, size)
  const seg = ctx.segmentElements(data.BYTES_PER_ELEMENT)
  // Step s: pass on the block that started at rank r-s, receive the one that started at rank r-s-1.
  for (let s = 0; s < size - 1; s++) {
    const [ss, se] = blockOf(mod(rank - s, size))
    const [rs, re] = blockOf(mod(rank - s - 1, size))
    const pending: Promise<void>[] = []
    for (const [a, b] of segments(rs, re, seg)) pending.push(ctx.recv(left, tag, data.subarray(a, b)))
    for (const [a, b] of segments(ss, se, seg)) pending.push(ctx.send(right, tag, data.subarray(a, b)))
    await Promise.all(pending)
  }
}
