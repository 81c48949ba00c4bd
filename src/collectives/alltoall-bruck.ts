/**
 * All-to-all by Bruck's algorithm, for small blocks: ⌈log2 P⌉ steps instead of pairwise exchange's P-1, each
 * rank talking to ⌈log2 P⌉ peers only. At step k rank r sends to r+2^k every block whose index (its distance to
 * its destination, after a rotation) has bit k set, and receives as many from r-2^k. Cost: ⌈log2 P⌉α + (S/2)⌈log2 P⌉β
 * for S bytes per rank, against (P-1)α + Sβ: it wins while α dominates, and it keeps a large job's connections at
 * O(log P) per rank (connections are made on first use). Ref: Bruck, Ho, Kipnis, Upfal & Weathersby 1997,
 * "Efficient algorithms for all-to-all communications in multiport message-passing systems"; Thakur,
 * Rabenseifner & Gropp 2005 (MPICH takes it for blocks of ≤ 256 B).
 */
import { copyInto, type TypedArray } from '../dtype.ts'
import type { CollectiveContext } from './context.ts'
import { mod } from './partition.ts'

/** `data` holds P blocks of n elements; resolves to the P blocks received, in source rank order. */
export async function alltoallBruck(
  ctx: CollectiveContext,
  data: TypedArray,
  tag: number,
  out: TypedArray = new (data.constructor as new (n: number) => TypedArray)(data.length),
): Promise<TypedArray> {
  const { rank, size } = ctx
  const n = data.length / size
  const Ctor = data.constructor as new (n: number) => TypedArray
  // Rotated: block i is the one for rank + i (its distance to its destination).
  const work = new Ctor(data.length)
  for (let i = 0; i < size; i++) {
    const to = mod(rank + i, size)
    copyInto(work, data.subarray(to * n, (to + 1) * n), i * n)
  }
  const packed = new Ctor(Math.ceil(size / 2) * n)
  const received = new Ctor(Math.ceil(size / 2) * n)
  for (let bit = 1; bit < size; bit <<= 1) {
    // The blocks that still have to move by `bit`: the same indices on every rank, so both sides know the count.
    let count = 0
    for (let i = bit; i < size; i++) {
      if ((i & bit) !== 0) copyInto(packed, work.subarray(i * n, (i + 1) * n), count++ * n)
    }
    const sending = packed.subarray(0, count * n)
    const into = received.subarray(0, count * n)
    await Promise.all([ctx.send(mod(rank + bit, size), tag, sending), ctx.recv(mod(rank - bit, size), tag, into)])
    let j = 0
    for (let i = bit; i < size; i++) {
      if ((i & bit) !== 0) copyInto(work, into.subarray(j * n, ++j * n), i * n)
    }
  }
  // Index i now holds the block from rank - i.
  for (let i = 0; i < size; i++) {
    const from = mod(rank - i, size)
    copyInto(out, work.subarray(i * n, (i + 1) * n), from * n)
  }
  return out
}
