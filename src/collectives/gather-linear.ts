/**
 * Gather of byte strings of any length (the object calls' JSON) by the root receiving from each rank in turn.
 * Steps: P-1 at the root, 1 elsewhere. Bytes at the root: the sum of all. Linear, because lengths differ
 * per rank and object payloads are small; gloo's gather is linear too.
 * Ref: MPI 4.0 standard, section 6.5 (the reference gather: each rank sends to the root).
 */
import type { CollectiveContext } from './context.ts'

/** Resolves on the root to every rank's bytes in rank order (its own included), elsewhere to undefined. */
export async function gatherLinear(ctx: CollectiveContext, bytes: Uint8Array, root: number, tag: number): Promise<Uint8Array[] | undefined> {
  if (ctx.rank !== root) {
    await ctx.send(root, tag, bytes)
    return undefined
  }
  const out: Uint8Array[] = []
  for (let r = 0; r < ctx.size; r++) out.push(r === root ? bytes : ((await ctx.recvAny(r, tag)) as Uint8Array))
  return out
}
