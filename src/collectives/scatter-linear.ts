/**
 * Scatter of byte strings of any length (the object calls' JSON): the root sends part i to rank i, all at
 * once. Steps: 1. Bytes from the root: the sum of all parts but its own.
 * Ref: MPI 4.0 standard, section 6.6 (the reference scatter: the root sends to each rank).
 */
import type { CollectiveContext } from './context.ts'

/** Resolves to this rank's part; `parts` (one per rank) is read on the root only. */
export async function scatterLinear(ctx: CollectiveContext, parts: Uint8Array[] | undefined, root: number, tag: number): Promise<Uint8Array> {
  if (ctx.rank !== root) return (await ctx.recvAny(root, tag)) as Uint8Array
  await Promise.all(parts!.map((p, r) => (r === root ? undefined : ctx.send(r, tag, p))))
  return parts![root]
}
