/**
 * Allgather by ring, in place: rank r starts with its own block of `data` filled and ends with every block.
 * Steps: P-1. Bytes sent per rank: S(P-1)/P. Blocks travel in segments, received straight into `data`.
 * Ref: Thakur, Rabenseifner & Gropp 2005.
 */
import type { TypedArray } from '../dtype.ts'
import type { CollectiveContext } from './context.ts'
import { mod } from './partition.ts'
import { ringPass, type BlockOf } from './ring-pass.ts'

/** `blockOf(r)` is the range that rank r contributes. */
export async function allgatherRingInPlace(ctx: CollectiveContext, data: TypedArray, tag: number, blockOf: BlockOf): Promise<void> {
  const { rank, size } = ctx
  if (size === 1) return
  // Step s: pass on the block that started at rank r-s, receive the one that started at rank r-s-1.
  await ringPass(
    ctx,
    data,
    tag,
    blockOf,
    (s) => mod(rank - s, size),
    (s) => mod(rank - s - 1, size),
    (left, segment) => ctx.recv(left, tag, segment),
  )
}
