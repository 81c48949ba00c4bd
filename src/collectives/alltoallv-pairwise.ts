/**
 * All-to-all of blocks of different lengths (MPI_Alltoallv, Horovod's alltoall with splits) by pairwise
 * exchange: at step s (1..P-1) rank r sends its block for rank r+s and receives the block from rank r-s.
 * Steps: P-1. Bytes sent per rank: what it sends. One peer per step keeps links free of contention.
 * Ref: Thakur, Rabenseifner & Gropp 2005 (pairwise exchange); MPI 4.0 standard, section 6.8.
 */
import { copyInto, type TypedArray } from '../dtype.ts'
import type { CollectiveContext } from './context.ts'
import { concat } from './gatherv-linear.ts'
import { mod } from './partition.ts'

/**
 * `data` holds P blocks, block i (`sendCounts[i]` elements) for rank i; resolves to the P blocks received, in
 * source rank order, with their lengths. With `recvCounts` the blocks land in place; without, they come as
 * they are and are joined.
 */
export async function alltoallvPairwise(
  ctx: CollectiveContext,
  data: TypedArray,
  sendCounts: readonly number[],
  tag: number,
  recvCounts?: readonly number[],
  into?: TypedArray,
): Promise<{ data: TypedArray; counts: number[] }> {
  const { rank, size } = ctx
  const Ctor = data.constructor as new (n: number) => TypedArray
  const sendAt = offsets(sendCounts)
  const block = (r: number) => data.subarray(sendAt[r]!, sendAt[r]! + sendCounts[r]!)
  if (recvCounts) {
    const recvAt = offsets(recvCounts)
    const out = into ?? new Ctor(recvAt[size]!)
    copyInto(out, block(rank), recvAt[rank]!)
    for (let s = 1; s < size; s++) {
      const to = mod(rank + s, size)
      const from = mod(rank - s, size)
      await Promise.all([ctx.send(to, tag, block(to)), ctx.recv(from, tag, out.subarray(recvAt[from]!, recvAt[from + 1]!))])
    }
    return { data: out, counts: [...recvCounts] }
  }
  const parts: TypedArray[] = Array(size)
  parts[rank] = block(rank)
  for (let s = 1; s < size; s++) {
    const to = mod(rank + s, size)
    const from = mod(rank - s, size)
    ;[, parts[from]] = await Promise.all([ctx.send(to, tag, block(to)), ctx.recvAny(from, tag)])
  }
  return { data: concat(Ctor, parts), counts: parts.map((p) => p.length) }
}

/** Start of each block and, last, the total: [0, c0, c0 + c1, ...]. */
export function offsets(counts: readonly number[]): number[] {
  const out = [0]
  for (const c of counts) out.push(out[out.length - 1]! + c)
  return out
}
