/**
 * All-to-all by pairwise exchange: at step s (1..P-1) rank r sends block (r+s) to rank r+s and receives
 * block (r-s) from rank r-s. Steps: P-1. Bytes sent per rank: S(P-1)/P. One peer per step keeps every link
 * busy without contention. Ref: Thakur, Rabenseifner & Gropp 2005.
 */
import { copyInto, type TypedArray } from '../dtype.ts'
import type { CollectiveContext } from './context.ts'
import { mod } from './partition.ts'

/** `data` holds P blocks of n elements; resolves to the P blocks received, in source rank order. */
export async function alltoallPairwise(
  ctx: CollectiveContext,
  data: TypedArray,
  tag: number,
  out: TypedArray = new (data.constructor as new (n: number) => TypedArray)(data.length),
): Promise<TypedArray> {
  const { rank, size } = ctx
  const n = data.length / size
  copyInto(out, data.subarray(rank * n, (rank + 1) * n), rank * n)
  for (let s = 1; s < size; s++) {
    const to = mod(rank + s, size)
    const from = mod(rank - s, size)
    await Promise.all([ctx.send(to, tag, data.subarray(to * n, (to + 1) * n)), ctx.recv(from, tag, out.subarray(from * n, (from + 1) * n))])
  }
  return out
}
