/**
 * The collectives whose blocks differ in length per rank (MPI's "v" calls: allgatherv, gatherv, scatterv,
 * alltoallv, reduce-scatter with counts), the prefix reductions (scan, exscan), and the reducing calls with
 * extras (Horovod's grouped allreduce, prescale / postscale, half-precision compression). Each is one
 * collective with its own signature, watched like the others (typed-collectives.ts).
 */
import { offsets } from '../collectives/alltoallv-pairwise.ts'
import { checkOp, finishAvg, type ReduceOp } from '../collectives/reduce-ops.ts'
import { describe, dtypeOf, type TypedArray } from '../dtype.ts'
import { UsageError } from '../errors.ts'
import { giveScratch, takeScratch } from '../collectives/scratch.ts'
import { BFloat16Bits, Float16Bits, fromHalf, toHalf } from '../half.ts'
import { ALGORITHMS, pick } from './select.ts'
import { signatureOf, UNKNOWN_DTYPE, type FullSignature } from './signature.ts'
import { LENGTHS_ROOT } from './join.ts'
import { TypedCollectives, type CollectiveOptions } from './typed-collectives.ts'
import { outputFor, type OutputOptions } from './options.ts'
import { checkTyped } from './validate.ts'

/** Options of the reducing calls that can scale or compress (allreduce, groupedAllreduce). */
export interface ReduceOptions extends CollectiveOptions {
  /** Multiply every element by this before reducing (floats only; Horovod's prescale_factor). */
  prescale?: number
  /** Multiply every element of the result by this (floats only; Horovod's postscale_factor). */
  postscale?: number
  /**
   * Send float16 (`'fp16'`) or bfloat16 (`'bf16'`) on the wire and reduce in it (Horovod's Compression.fp16):
   * half the bytes of float32, at half precision (about 3 significant digits for fp16). Float arrays; sum,
   * avg, min, max.
   */
  compression?: 'none' | 'fp16' | 'bf16'
}


type Ctor<T> = new (n: number) => T

/** @internal The base of Communicator; use Communicator. */
export class VectorCollectives extends TypedCollectives {
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
  async allgatherv<T extends TypedArray>(data: T, counts?: readonly number[], options: OutputOptions<T> = {}): Promise<T> {
    checkTyped(data)
    const lengths = counts === undefined ? await this.exchangeLengths('allgatherv', data.length, dtypeOf(data), options) : this.checkCounts('allgatherv', counts, data.length)
    const at = offsets(lengths)
    const out = outputFor('allgatherv', data, at[this.size]!, options.into)
    out.set(data as any, at[this.rank])
    const algo = pick('allgatherv', ALGORITHMS.allgatherv, this.size, out.byteLength, options.algorithm)
    const { ctx, tag, guard } = this.begin('allgatherv', options, signatureOf('allgatherv', dtypeOf(data), -1), algo.name, out.byteLength)
    await guard(algo.run(ctx, out, tag, (r) => [at[r]!, at[r + 1]!]))
    return out
  }

  /**
   * Collects every rank's `data`, whose lengths may differ, on `root`: one array, blocks in rank order, there;
   * `undefined` elsewhere. `counts` (read on the root) lets the blocks land in place.
   *
   * @example
   * ```ts
   * const losses = await world.gatherv(new Float64Array(myBatchLosses), 0)
   * ```
   */
  async gatherv<T extends TypedArray>(data: T, root: number, counts?: readonly number[], options: CollectiveOptions = {}): Promise<T | undefined> {
    checkTyped(data)
    this.checkRank(root, 'root')
    if (this.rank === root && counts !== undefined) this.checkCounts('gatherv', counts, data.length)
    const algo = pick('gatherv', ALGORITHMS.gatherv, this.size, data.byteLength, options.algorithm)
    const { ctx, tag, guard } = this.begin('gatherv', options, signatureOf('gatherv', dtypeOf(data), -1, root), algo.name, data.byteLength)
    return (await guard(algo.run(ctx, data, root, tag, this.rank === root ? counts : undefined))) as T | undefined
  }

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
  async scatterv<T extends TypedArray>(data: T | undefined, counts: readonly number[] | undefined, root: number, options: CollectiveOptions = {}): Promise<T> {
    this.checkRank(root, 'root')
    if (this.rank === root) {
      checkTyped(data)
      if (counts === undefined) throw new UsageError(`scatterv: the root must pass counts (one length per rank, ${this.size} in all)`)
      this.checkCounts('scatterv', counts)
      const total = counts.reduce((a, b) => a + b, 0)
      if (total !== data.length) throw new UsageError(`scatterv: counts add up to ${total} but the root's data is ${describe(data)}`)
    } else if (counts !== undefined) {
      this.checkCounts('scatterv', counts)
    }
    const algo = pick('scatterv', ALGORITHMS.scatterv, this.size, data?.byteLength ?? 0, options.algorithm)
    const sig = signatureOf('scatterv', data === undefined ? UNKNOWN_DTYPE : dtypeOf(data), -1, root)
    const { ctx, tag, guard } = this.begin('scatterv', options, sig, algo.name, data?.byteLength ?? 0)
    return (await guard(algo.run(ctx, data, counts, root, tag))) as T
  }

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
  async alltoallv<T extends TypedArray>(data: T, sendCounts: readonly number[], recvCounts?: readonly number[], options: OutputOptions<T> = {}): Promise<{ data: T; counts: number[] }> {
    checkTyped(data)
    this.checkCounts('alltoallv (sendCounts)', sendCounts)
    const total = sendCounts.reduce((a, b) => a + b, 0)
    if (total !== data.length) throw new UsageError(`alltoallv: sendCounts add up to ${total} but data is ${describe(data)}`)
    if (recvCounts !== undefined) this.checkCounts('alltoallv (recvCounts)', recvCounts)
    if (options.into !== undefined && recvCounts === undefined) throw new UsageError('alltoallv: into needs recvCounts (the result\'s length)')
    const into = options.into && outputFor('alltoallv', data, recvCounts!.reduce((a, b) => a + b, 0), options.into)
    const algo = pick('alltoallv', ALGORITHMS.alltoallv, this.size, data.byteLength, options.algorithm)
    const { ctx, tag, guard } = this.begin('alltoallv', options, signatureOf('alltoallv', dtypeOf(data), -1), algo.name, data.byteLength)
    return (await guard(algo.run(ctx, data, sendCounts, tag, recvCounts, into))) as { data: T; counts: number[] }
  }

  /**
   * Combines `data` of every rank with `op` and gives rank i the `counts[i]` elements of block i of the result
   * (MPI_Reduce_scatter; `reduceScatter` picks even blocks itself). `data` is used as scratch space.
   *
   * @example
   * ```ts
   * const mine = await world.reduceScatterv(grads, [100, 300], 'sum')   // on 2 ranks: 100 and 300 elements
   * ```
   */
  async reduceScatterv<T extends TypedArray>(data: T, counts: readonly number[], op: ReduceOp, options: CollectiveOptions = {}): Promise<T> {
    checkTyped(data)
    checkOp(op, data)
    this.checkCounts('reduceScatterv', counts)
    const at = offsets(counts)
    if (at[this.size] !== data.length) throw new UsageError(`reduceScatterv: counts add up to ${at[this.size]} but data is ${describe(data)}`)
    const mine = () => data.slice(at[this.rank]!, at[this.rank + 1]!) as T
    if (typeof op === 'object' && !op.commutative) return (await this.allreduce(data, op, options), mine())
    const algo = pick('reduceScatterv', ALGORITHMS.reduceScatterv, this.size, data.byteLength, options.algorithm)
    const { ctx, tag, seq, guard } = this.begin('reduceScatterv', options, signatureOf('reduceScatterv', dtypeOf(data), data.length, undefined, op), algo.name, data.byteLength)
    await guard(algo.run(ctx, data, op, tag, (b) => [at[b]!, at[b + 1]!]))
    const out = mine()
    finishAvg(op, out, this.contributors(seq))
    return out
  }

  /**
   * Inclusive prefix reduction, in place: rank r gets `op` over ranks 0..r (MPI_Scan). Resolves to `data`.
   *
   * @example
   * ```ts
   * const end = await world.scan(new Int32Array([myCount]), 'sum')   // my items end at end[0]
   * ```
   */
  async scan<T extends TypedArray>(data: T, op: ReduceOp, options: CollectiveOptions = {}): Promise<T> {
    return this.prefix('scan', data, op, options)
  }

  /**
   * Exclusive prefix reduction, in place: rank r gets `op` over ranks 0..r-1 (MPI_Exscan). Rank 0 gets the op's
   * identity (0 for sum, 1 for prod, the largest value for min, ...; its data is left as it is for a user op).
   *
   * @example
   * ```ts
   * const start = await world.exscan(new Int32Array([myCount]), 'sum')   // my items start at start[0]
   * ```
   */
  async exscan<T extends TypedArray>(data: T, op: ReduceOp, options: CollectiveOptions = {}): Promise<T> {
    return this.prefix('exscan', data, op, options)
  }

  /**
   * Allreduces several arrays as one operation (Horovod's grouped_allreduce): arrays of one element type are
   * packed into one buffer, reduced with one collective, and unpacked in place. Resolves to `arrays`.
   *
   * @example
   * ```ts
   * await world.groupedAllreduce([weightsGrad, biasGrad], 'sum', { postscale: 1 / world.size })
   * ```
   */
  async groupedAllreduce<T extends TypedArray>(arrays: T[], op: ReduceOp, options: ReduceOptions = {}): Promise<T[]> {
    if (!Array.isArray(arrays)) throw new UsageError(`groupedAllreduce needs an array of TypedArrays, got ${describe(arrays)}`)
    arrays.forEach((a) => (checkTyped(a), checkOp(op, a)))
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
      for (const a of group) (packed.set(a as any, at), (at += a.length))
      await this.allreduce(packed, op, options)
      at = 0
      for (const a of group) (a.set(packed.subarray(at, at + a.length) as any), (at += a.length))
    }
    return arrays
  }

  /**
   * Combines `data` of every rank with `op`, in place on every rank; all ranks get the same bits. Resolves to
   * `data`. Options can scale before and after, or send half precision (ReduceOptions).
   *
   * @example
   * ```ts
   * const grads = new Float32Array(1 << 20).fill(world.rank)
   * await world.allreduce(grads, 'avg')                          // every element: (0 + 1 + ... + size-1) / size
   * await world.allreduce(grads, 'sum', { compression: 'fp16' }) // half the bytes on the wire
   * ```
   * @throws UsageError for an unknown op, one that does not fit the element type (bxor on floats), or scaling
   * or compression of integers.
   */
  override async allreduce<T extends TypedArray>(data: T, op: ReduceOp, options: ReduceOptions = {}): Promise<T> {
    const { prescale, postscale, compression } = options
    if (prescale === undefined && postscale === undefined && (compression === undefined || compression === 'none')) return super.allreduce(data, op, options)
    checkTyped(data)
    checkOp(op, data)
    const floats = data instanceof Float32Array || data instanceof Float64Array
    for (const [k, v] of [['prescale', prescale], ['postscale', postscale]] as const) {
      if (v === undefined) continue
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new UsageError(`${k} must be a finite number, got ${describe(v)}`)
      if (!floats) throw new UsageError(`${k} needs a Float32Array or Float64Array, got ${describe(data)}`)
    }
    const scale = (f: number | undefined) => {
      if (f !== undefined && f !== 1) for (let i = 0; i < data.length; i++) (data as Float64Array)[i] *= f
    }
    if (compression === undefined || compression === 'none') {
      scale(prescale)
      await super.allreduce(data, op, options)
      scale(postscale)
      return data
    }
    if (compression !== 'fp16' && compression !== 'bf16') throw new UsageError(`compression must be "none", "fp16" or "bf16", got ${describe(compression)}`)
    if (!floats) throw new UsageError(`compression "${compression}" needs a Float32Array or Float64Array, got ${describe(data)}`)
    scale(prescale)
    // A reused buffer: a fresh one would be zeroed memory the kernel maps page by page on every call.
    const Half = compression === 'bf16' ? BFloat16Bits : Float16Bits
    const half = takeScratch(Half, data.length, 2)
    toHalf(data as Float32Array, compression, half)
    await super.allreduce(half, op, options)
    if (data instanceof Float32Array) fromHalf(half, data)
    else (data as Float64Array).set(fromHalf(half))
    giveScratch(half)
    scale(postscale)
    return data
  }

  /** @internal The lengths of every rank's block, exchanged as one collective of its own. */
  protected async exchangeLengths(what: 'allgatherv', length: number, dataType: number, options: CollectiveOptions): Promise<number[]> {
    const all = new Float64Array(this.size)
    all[this.rank] = length
    const algo = pick('allgather', ALGORITHMS.allgather, this.size, all.byteLength)
    // A rank that has joined learns the data's element type from `extra` (join.ts).
    const { ctx, tag, guard } = this.begin(what, options, { ...signatureOf(what, dtypeOf(all), 1, LENGTHS_ROOT), extra: dataType } as FullSignature, algo.name, all.byteLength)
    await guard(algo.run(ctx, all, tag, (r) => [r, r + 1]))
    return [...all]
  }

  private async prefix<T extends TypedArray>(what: 'scan' | 'exscan', data: T, op: ReduceOp, options: CollectiveOptions): Promise<T> {
    checkTyped(data)
    checkOp(op, data)
    const algo = pick(what, ALGORITHMS.scan, this.size, data.byteLength, options.algorithm)
    const { ctx, tag, guard } = this.begin(what, options, signatureOf(what, dtypeOf(data), data.length, undefined, op), algo.name, data.byteLength)
    await guard(algo.run(ctx, data, op, tag, what === 'exscan'))
    return data
  }

  /** `counts` must hold one non-negative integer per rank (and `own` at this rank's place, when given). */
  private checkCounts(what: string, counts: readonly number[], own?: number): number[] {
    if (!Array.isArray(counts) || counts.length !== this.size || !counts.every((c) => Number.isInteger(c) && c >= 0)) {
      throw new UsageError(`${what}: counts must be an array of ${this.size} integers >= 0 (one per rank of ${this.name}), got ${describe(counts)}`)
    }
    if (own !== undefined && counts[this.rank] !== own) {
      throw new UsageError(`${what}: counts[${this.rank}] is ${counts[this.rank]} but this rank's data has ${own} elements`)
    }
    return [...counts]
  }
}
