/**
 * Broadcast by binomial tree, pipelined: relative rank v = (r - root) mod P receives from v - lowbit(v) and
 * forwards to v + 2^k for every 2^k < lowbit(v). Large data moves in segments, each forwarded as soon as it
 * arrives. Steps: ceil(log2 P). Bytes sent by the root: S ceil(log2 P). Chosen for small and medium data.
 * Ref: Thakur, Rabenseifner & Gropp, "Optimization of collective communication operations in MPICH", IJHPCA 2005.
 */
import type { TypedArray } from '../dtype.ts'
import type { CollectiveContext } from './context.ts'
import { mod, segments } from './partition.ts'

/** Parent and children of `rank` in the binomial tree rooted at `root` (absolute ranks). */
export function binomialTree(rank: number, size: number, root: number): { parent: number; children: number[] } {
  const v = mod(rank - root, size)
  let mask = 1
  while (mask < size && !(v & mask)) mask <<= 1
  const parent = v === 0 ? -1 : mod(v - mask + root, size)
  // mask is now lowbit(v), or for the root the first power of two >= P: children are v + 2^k below it,
  // largest subtree first.
  const children: number[] = []
  for (let m = mask >> 1; m > 0; m >>= 1) if (v + m < size) children.push(mod(v + m + root, size))
  return { parent, children }
}

/** Size of the subtree of relative rank v: lowbit(v), cut at P; P for the root. */
export function subtreeSize(v: number, size: number): number {
  if (v === 0) return size
  return Math.min(v & -v, size - v)
}

export async function bcastBinomial(ctx: CollectiveContext, data: TypedArray, root: number, tag: number): Promise<void> {
  const { rank, size } = ctx
  if (size === 1 || data.length === 0) return
  const { parent, children } = binomialTree(rank, size, root)
  const pending: Promise<unknown>[] = []
  for (const [a, b] of segments(0, data.length, ctx.segmentElements(data.BYTES_PER_ELEMENT))) {
    const seg = data.subarray(a, b)
    const forward = () => Promise.all(children.map((c) => ctx.send(c, tag, seg)))
    pending.push(parent < 0 ? forward() : ctx.recv(parent, tag, seg).then(forward))
  }
  await Promise.all(pending)
}
