/**
 * Scatter of blocks of different lengths (MPI_Scatterv): the root sends block i to rank i, all at once.
 * Steps: 1. Bytes from the root: the sum of the other ranks' blocks. Linear, as Open MPI's basic scatterv.
 * Ref: MPI 4.0 standard, section 6.6 (MPI_Scatterv).
 */
import type { TypedArray } from '../dtype.ts'
import type { CollectiveContext } from './context.ts'

/** Resolves to this rank's block (a copy on the root; received elsewhere). `data` and `counts` are read on the root only. */
export async function scattervLinear(
  ctx: CollectiveContext,
  data: TypedArray | undefined,
  counts: readonly number[] | undefined,
  root: number,
  tag: number,
): Promise<TypedArray> {
  if (ctx.rank !== root) return ctx.recvAny(root, tag)
  const pending: Promise<void>[] = []
  let mine: TypedArray | undefined
  for (let r = 0, at = 0; r < ctx.size; at += counts![r]!, r++) {
    const block = data!.subarray(at, at + counts![r]!)
    if (r === root) mine = block.slice()
    else pending.push(ctx.send(r, tag, block))
  }
  await Promise.all(pending)
  return mine!
}
