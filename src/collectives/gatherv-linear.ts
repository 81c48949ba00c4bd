/**
 * Gather of blocks of different lengths (MPI_Gatherv): every rank sends its block to the root, which takes
 * them in rank order straight into place when it knows the lengths, else as they come and then joins them.
 * Steps: P-1 at the root, 1 elsewhere. Bytes at the root: the sum of all blocks. Linear, as Open MPI's
 * basic gatherv and gloo's gatherv are: the blocks' lengths differ, so a tree would forward unknown amounts.
 * Ref: MPI 4.0 standard, section 6.5 (MPI_Gatherv).
 */
import { copyInto, type TypedArray } from '../dtype.ts'
import type { CollectiveContext } from './context.ts'

type Ctor = new (n: number) => TypedArray

/** On the root: every rank's block in rank order (`counts` when given); elsewhere undefined. */
export async function gathervLinear(
  ctx: CollectiveContext,
  data: TypedArray,
  root: number,
  tag: number,
  counts?: readonly number[],
): Promise<TypedArray | undefined> {
  const { rank, size } = ctx
  if (rank !== root) {
    await ctx.send(root, tag, data)
    return undefined
  }
  const Ctor = data.constructor as Ctor
  if (counts) {
    const out = new Ctor(counts.reduce((a, b) => a + b, 0))
    const pending: Promise<void>[] = []
    for (let r = 0, at = 0; r < size; at += counts[r]!, r++) {
      const block = out.subarray(at, at + counts[r]!)
      if (r === root) copyInto(block, data)
      else pending.push(ctx.recv(r, tag, block))
    }
    await Promise.all(pending)
    return out
  }
  const parts = await Promise.all(Array.from({ length: size }, (_, r) => (r === root ? data : ctx.recvAny(r, tag))))
  return concat(Ctor, parts)
}

/** The arrays one after the other in a new array of `Ctor`. */
export function concat(Ctor: Ctor, parts: TypedArray[]): TypedArray {
  const out = new Ctor(parts.reduce((a, p) => a + p.length, 0))
  let at = 0
  for (const p of parts) {
    copyInto(out, p, at)
    at += p.length
  }
  return out
}
