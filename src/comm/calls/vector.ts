/**
 * The collectives whose blocks differ in length per rank (MPI's "v" calls: allgatherv, gatherv, scatterv,
 * alltoallv, reduce-scatter with counts), the prefix reductions (scan, exscan), and Horovod's grouped
 * allreduce. Each is one collective with its own signature, started like the others (begin.ts).
 */
import { offsets } from '../../collectives/alltoallv-pairwise.ts'
import { checkOp, finishAvg, type ReduceOp } from '../../collectives/reduce-ops.ts'
import { copyInto, describe, dtypeOf, overlaps, type TypedArray } from '../../dtype.ts'
import { UsageError } from '../../errors.ts'
import { begin } from '../begin.ts'
import { LENGTHS_ROOT } from '../join.ts'
import { outputFor, type CollectiveOptions, type OutputOptions, type ReduceOptions } from '../options.ts'
import { ALGORITHMS, pick } from '../select.ts'
import { signatureOf, UNKNOWN_DTYPE, type FullSignature } from '../signature.ts'
import type { CommState } from '../state.ts'
import { checkTyped } from '../validate.ts'
import { inOrder, type CollectiveCalls } from './collectives.ts'

/** The variable-size collectives, prefix reductions and grouped allreduce of a Communicator. */
export interface VectorCalls {
  /**
   * Every rank gets every rank's `data`, whose lengths may differ: one array, blocks in rank order. Pass
   * `counts` (each rank's length, the same on every rank) when you know them; otherwise the lengths are
   * exchanged first (Horovod's allgather of tensors whose first dimension differs).
   *
   * @example
   * ```ts
   * const all = await world.allgatherv(new Int32Array(world.rank + 1).fill(world.rank))   // [0, 1, 1, 2, 2, 2, ...]
   * ```
   */
  allgatherv<T extends TypedArray>(data: T, counts?: readonly number[], options?: OutputOptions<T>): Promise<T>
  /**
   * Collects every rank's `data`, whose lengths may differ, on `root`: one array, blocks in rank order, there;
   * `undefined` elsewhere. `counts` (read on the root) lets the blocks land in place.
   *
   * @example
   * ```ts
   * const losses = await world.gatherv(new Float64Array(myBatchLosses), 0)
   * ```
   */
  gatherv<T extends TypedArray>(data: T, root: number, counts?: readonly number[], options?: CollectiveOptions): Promise<T | undefined>
  /**
   * Splits the root's `data` into blocks of `counts[i]` elements; rank i gets block i (a new array, of the
   * root's element type). Other ranks pass `undefined` data and may pass `undefined` counts.
   *
   * @example
   * ```ts
   * const counts = [3, 1, 2]                                       // on 3 ranks
   * const mine = await world.scatterv(world.rank === 0 ? new Float32Array(6) : undefined, counts, 0)
   * ```
   */
  scatterv<T extends TypedArray>(data: T | undefined, counts: readonly number[] | undefined, root: number, options?: CollectiveOptions): Promise<T>
  /**
   * Block i of `data` (`sendCounts[i]` elements) goes to rank i; resolves to the blocks received in rank order
   * and their lengths (Horovod's alltoall with splits, and its received splits). `recvCounts`, when this rank
   * knows them, lets the blocks land in place.
   *
   * @example
   * ```ts
   * // rank r sends r + 1 copies of its rank to every rank
   * const { data, counts } = await world.alltoallv(new Int32Array(world.size * (world.rank + 1)).fill(world.rank),
   *   Array(world.size).fill(world.rank + 1))
   * ```
   */
  alltoallv<T extends TypedArray>(
    data: T,
    sendCounts: readonly number[],
    recvCounts?: readonly number[],
    options?: OutputOptions<T>,
  ): Promise<{ data: T; counts: number[] }>
  /**
   * Combines `data` of every rank with `op` and gives rank i the `counts[i]` elements of block i of the result
   * (MPI_Reduce_scatter; `reduceScatter` picks even blocks itself). `data` is used as scratch space.
   *
   * @example
   * ```ts
   * const mine = await world.reduceScatterv(grads, [100, 300], 'sum')   // on 2 ranks: 100 and 300 elements
   * ```
   */
  reduceScatterv<T extends TypedArray>(data: T, counts: readonly number[], op: ReduceOp, options?: CollectiveOptions): Promise<T>
  /**
   * Inclusive prefix reduction, in place: rank r gets `op` over ranks 0..r (MPI_Scan). Resolves to `data`.
   *
   * @example
   * ```ts
   * const end = await world.scan(new Int32Array([myCount]), 'sum')   // my items end at end[0]
   * ```
   */
  scan<T extends TypedArray>(data: T, op: ReduceOp, options?: CollectiveOptions): Promise<T>
  /**
   * Exclusive prefix reduction, in place: rank r gets `op` over ranks 0..r-1 (MPI_Exscan). Rank 0 gets the op's
   * identity (0 for sum, 1 for prod, the largest value for min, ...; its data is left as it is for a user op).
   *
   * @example
   * ```ts
   * const start = await world.exscan(new Int32Array([myCount]), 'sum')   // my items start at start[0]
   * ```
   */
  exscan<T extends TypedArray>(data: T, op: ReduceOp, options?: CollectiveOptions): Promise<T>
  /**
   * Allreduces several arrays as one operation (Horovod's grouped_allreduce): arrays of one element type are
   * packed into one buffer, reduced with one collective, and unpacked in place. Resolves to `arrays`.
   *
   * @example
   * ```ts
   * await world.groupedAllreduce([weightsGrad, biasGrad], 'sum', { postscale: 1 / world.size })
   * ```
   */
  groupedAllreduce<T extends TypedArray>(arrays: T[], op: ReduceOp, options?: ReduceOptions): Promise<T[]>
}

type Self = VectorCalls & CollectiveCalls & { readonly state: CommState }
type Ctor<T> = new (n: number) => T

export const vectorCalls: VectorCalls & ThisType<Self> = {
  async allgatherv(data, counts, options = {}) {
    const c = this.state
    checkTyped(data)
    const lengths = counts === undefined ? await exchangeLengths(c, data.length, dtypeOf(data), options) : checkCounts(c, 'allgatherv', counts, data.length)
    const at = offsets(lengths)
    const out = outputFor('allgatherv', data, at[c.size]!, options.into)
    copyInto(out, data, at[c.rank])
    const algo = pick('allgatherv', ALGORITHMS.allgatherv, c.size, out.byteLength, options.algorithm)
    const run = begin(c, 'allgatherv', options, signatureOf('allgatherv', dtypeOf(data), -1), algo.name, out.byteLength)
    const { ctx, tag } = run
    await run.guard(algo.run(ctx, out, tag, (r) => [at[r]!, at[r + 1]!]))
    return out
  },

  async gatherv<T extends TypedArray>(data: T, root: number, counts?: readonly number[], options: CollectiveOptions = {}) {
    const c = this.state
    checkTyped(data)
    c.checkRank(root, 'root')
    if (c.rank === root && counts !== undefined) checkCounts(c, 'gatherv', counts, data.length)
    const algo = pick('gatherv', ALGORITHMS.gatherv, c.size, data.byteLength, options.algorithm)
    const run = begin(c, 'gatherv', options, signatureOf('gatherv', dtypeOf(data), -1, root), algo.name, data.byteLength)
    const { ctx, tag } = run
    return (await run.guard(algo.run(ctx, data, root, tag, c.rank === root ? counts : undefined))) as T | undefined
  },

  async scatterv<T extends TypedArray>(data: T | undefined, counts: readonly number[] | undefined, root: number, options: CollectiveOptions = {}) {
    const c = this.state
    c.checkRank(root, 'root')
    if (c.rank === root) {
      checkTyped(data)
      if (counts === undefined) throw new UsageError(`scatterv: the root must pass counts (one length per rank, ${c.size} in all)`)
      checkCounts(c, 'scatterv', counts)
      const total = counts.reduce((a, b) => a + b, 0)
      if (total !== data.length) throw new UsageError(`scatterv: counts add up to ${total} but the root's data is ${describe(data)}`)
    } else if (counts !== undefined) {
      checkCounts(c, 'scatterv', counts)
    }
    const algo = pick('scatterv', ALGORITHMS.scatterv, c.size, data?.byteLength ?? 0, options.algorithm)
    const sig = signatureOf('scatterv', data === undefined ? UNKNOWN_DTYPE : dtypeOf(data), -1, root)
    const run = begin(c, 'scatterv', options, sig, algo.name, data?.byteLength ?? 0)
    const { ctx, tag } = run
    return (await run.guard(algo.run(ctx, data, counts, root, tag))) as T
  },

  async alltoallv<T extends TypedArray>(data: T, sendCounts: readonly number[], recvCounts?: readonly number[], options: OutputOptions<T> = {}) {
    const c = this.state
    checkTyped(data)
    checkCounts(c, 'alltoallv (sendCounts)', sendCounts)
    const total = sendCounts.reduce((a, b) => a + b, 0)
    if (total !== data.length) throw new UsageError(`alltoallv: sendCounts add up to ${total} but data is ${describe(data)}`)
    if (recvCounts !== undefined) checkCounts(c, 'alltoallv (recvCounts)', recvCounts)
    if (options.into !== undefined && recvCounts === undefined) throw new UsageError("alltoallv: into needs recvCounts (the result's length)")
    const into =
      options.into &&
      outputFor(
        'alltoallv',
        data,
        recvCounts!.reduce((a, b) => a + b, 0),
        options.into,
      )
    const algo = pick('alltoallv', ALGORITHMS.alltoallv, c.size, data.byteLength, options.algorithm)
    const run = begin(c, 'alltoallv', options, signatureOf('alltoallv', dtypeOf(data), -1), algo.name, data.byteLength)
    const { ctx, tag } = run
    const input = into && overlaps(into, data) ? data.slice() : data // in place, as alltoall
    return (await run.guard(algo.run(ctx, input, sendCounts, tag, recvCounts, into))) as { data: T; counts: number[] }
  },

  async reduceScatterv<T extends TypedArray>(data: T, counts: readonly number[], op: ReduceOp, options: CollectiveOptions = {}) {
    const c = this.state
    checkTyped(data)
    checkOp(op, data)
    checkCounts(c, 'reduceScatterv', counts)
    const at = offsets(counts)
    if (at[c.size] !== data.length) throw new UsageError(`reduceScatterv: counts add up to ${at[c.size]} but data is ${describe(data)}`)
    const mine = () => data.slice(at[c.rank]!, at[c.rank + 1]!) as T
    if (inOrder(op)) {
      await this.allreduce(data, op, options)
      return mine()
    }
    const algo = pick('reduceScatterv', ALGORITHMS.reduceScatterv, c.size, data.byteLength, options.algorithm)
    const sig = signatureOf('reduceScatterv', dtypeOf(data), data.length, undefined, op)
    const run = begin(c, 'reduceScatterv', options, sig, algo.name, data.byteLength)
    const { ctx, tag, seq } = run
    await run.guard(algo.run(ctx, data, op, tag, (b) => [at[b]!, at[b + 1]!]))
    const out = mine()
    finishAvg(op, out, c.contributors(seq))
    return out
  },

  scan(data, op, options = {}) {
    return prefix(this.state, 'scan', data, op, options)
  },

  exscan(data, op, options = {}) {
    return prefix(this.state, 'exscan', data, op, options)
  },

  async groupedAllreduce<T extends TypedArray>(arrays: T[], op: ReduceOp, options: ReduceOptions = {}) {
    if (!Array.isArray(arrays)) throw new UsageError(`groupedAllreduce needs an array of TypedArrays, got ${describe(arrays)}`)
    for (const a of arrays) {
      checkTyped(a)
      checkOp(op, a)
    }
    // One buffer per element type, in order of first appearance (the same on every rank that passes the same list).
    const byType = new Map<Function, T[]>()
    for (const a of arrays) byType.set(a.constructor, [...(byType.get(a.constructor) ?? []), a])
    for (const [Type, group] of byType) {
      if (group.length === 1) {
        await this.allreduce(group[0]!, op, options)
        continue
      }
      const packed = new (Type as Ctor<T>)(group.reduce((n, a) => n + a.length, 0))
      let at = 0
      for (const a of group) {
        copyInto(packed, a, at)
        at += a.length
      }
      await this.allreduce(packed, op, options)
      at = 0
      for (const a of group) {
        copyInto(a, packed.subarray(at, at + a.length))
        at += a.length
      }
    }
    return arrays
  },
}

/** The lengths of every rank's block, exchanged as one collective of its own. */
async function exchangeLengths(c: CommState, length: number, dataType: number, options: CollectiveOptions): Promise<number[]> {
  const all = new Float64Array(c.size)
  all[c.rank] = length
  const algo = pick('allgather', ALGORITHMS.allgather, c.size, all.byteLength)
  // A rank that has joined learns the data's element type from `extra` (join.ts).
  const sig = { ...signatureOf('allgatherv', dtypeOf(all), 1, LENGTHS_ROOT), extra: dataType } as FullSignature
  const run = begin(c, 'allgatherv', options, sig, algo.name, all.byteLength)
  const { ctx, tag } = run
  await run.guard(algo.run(ctx, all, tag, (r) => [r, r + 1]))
  return [...all]
}

async function prefix<T extends TypedArray>(c: CommState, what: 'scan' | 'exscan', data: T, op: ReduceOp, options: CollectiveOptions): Promise<T> {
  checkTyped(data)
  checkOp(op, data)
  const algo = pick(what, ALGORITHMS.scan, c.size, data.byteLength, options.algorithm)
  const run = begin(c, what, options, signatureOf(what, dtypeOf(data), data.length, undefined, op), algo.name, data.byteLength)
  const { ctx, tag } = run
  await run.guard(algo.run(ctx, data, op, tag, what === 'exscan'))
  return data
}

/** `counts` must hold one non-negative integer per rank (and `own` at this rank's place, when given). */
function checkCounts(c: CommState, what: string, counts: readonly number[], own?: number): number[] {
  if (!Array.isArray(counts) || counts.length !== c.size || !counts.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new UsageError(`${what}: counts must be an array of ${c.size} integers >= 0 (one per rank of ${c.name}), got ${describe(counts)}`)
  }
  if (own !== undefined && counts[c.rank] !== own) {
    throw new UsageError(`${what}: counts[${c.rank}] is ${counts[c.rank]} but this rank's data has ${own} elements`)
  }
  return [...counts]
}
