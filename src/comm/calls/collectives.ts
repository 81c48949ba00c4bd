/**
 * The collectives on typed arrays, the hot path: each validates its arguments, picks an algorithm
 * (select.ts), starts (begin.ts: a fresh tag, the signature for the mismatch detector, the context) and runs
 * the algorithm under the guard (stall inspector, timeline).
 */
import { blockRange } from '../../collectives/partition.ts'
import { checkOp, finishAvg, isUserOp, type ReduceOp } from '../../collectives/reduce-ops.ts'
import { giveScratch, takeScratch } from '../../collectives/scratch.ts'
import { copyInto, describe, dtypeOf, overlaps, type TypedArray } from '../../dtype.ts'
import { UsageError } from '../../errors.ts'
import { BFloat16Bits, Float16Bits, fromHalf, toHalf } from '../../half.ts'
import { begin } from '../begin.ts'
import { outputFor, type CollectiveOptions, type OutputOptions, type ReduceOptions } from '../options.ts'
import { ALGORITHMS, pick } from '../select.ts'
import { signatureOf, UNKNOWN_DTYPE } from '../signature.ts'
import type { CommState } from '../state.ts'
import { checkTyped } from '../validate.ts'

/** The collectives on typed arrays of a Communicator. */
export interface CollectiveCalls {
  /**
   * Waits until every rank of the communicator has called it.
   *
   * @example
   * ```ts
   * await world.barrier()
   * ```
   */
  barrier(options?: CollectiveOptions): Promise<void>
  /**
   * Copies `data` from `root` to every rank, in place. Resolves to `data`.
   *
   * @example
   * ```ts
   * const weights = new Float32Array(1000)
   * if (world.rank === 0) weights.fill(0.5)
   * await world.broadcast(weights, 0)        // every rank now holds 0.5s
   * ```
   * @throws UsageError for a bad root or data that is not a TypedArray.
   */
  broadcast<T extends TypedArray>(data: T, root: number, options?: CollectiveOptions): Promise<T>
  /**
   * Combines `data` of every rank with `op`; the result lands in `data` on `root` (other ranks' `data` is
   * left as it was).
   *
   * @example
   * ```ts
   * const counts = new Int32Array([localCount])
   * await world.reduce(counts, 'sum', 0)    // rank 0: the total
   * ```
   */
  reduce<T extends TypedArray>(data: T, op: ReduceOp, root: number, options?: CollectiveOptions): Promise<T>
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
  allreduce<T extends TypedArray>(data: T, op: ReduceOp, options?: ReduceOptions): Promise<T>
  /**
   * Collects every rank's `data` on `root`: a new array of `size * data.length` elements in rank order
   * there, `undefined` elsewhere. Every rank must pass the same length.
   *
   * @example
   * ```ts
   * const all = await world.gather(new Float64Array([loss]), 0)   // rank 0: one loss per rank
   * ```
   */
  gather<T extends TypedArray>(data: T, root: number, options?: CollectiveOptions): Promise<T | undefined>
  /**
   * Every rank gets every rank's `data`: a new array of `size * data.length` elements in rank order.
   *
   * @example
   * ```ts
   * const all = await world.allgather(new Int32Array([world.rank]))   // [0, 1, 2, ...]
   * ```
   */
  allgather<T extends TypedArray>(data: T, options?: OutputOptions<T>): Promise<T>
  /**
   * Splits `data` (on `root`: `size * n` elements) into `size` blocks of `n`; rank i gets block i. Other
   * ranks may pass `undefined`; each resolves to a new array of its `n` elements.
   *
   * @example
   * ```ts
   * const shard = await world.scatter(world.rank === 0 ? allSamples : undefined, 0)
   * ```
   */
  scatter<T extends TypedArray>(data: T | undefined, root: number, options?: CollectiveOptions): Promise<T>
  /**
   * Combines `data` of every rank with `op` and gives each rank its block of the result (blocks as even
   * as possible; the first `length % size` ranks get one element more). `data` is used as scratch space.
   *
   * @example
   * ```ts
   * const mine = await world.reduceScatter(grads, 'sum')   // this rank's slice of the summed gradients
   * ```
   */
  reduceScatter<T extends TypedArray>(data: T, op: ReduceOp, options?: CollectiveOptions): Promise<T>
  /**
   * Block i of `data` (`data.length / size` elements) goes to rank i; resolves to the blocks received, in
   * rank order.
   *
   * @example
   * ```ts
   * const received = await world.alltoall(new Int32Array(world.size).fill(world.rank))   // [0, 1, 2, ...]
   * ```
   * @throws UsageError when `data.length` is not a multiple of size.
   */
  alltoall<T extends TypedArray>(data: T, options?: OutputOptions<T>): Promise<T>
}

type Self = CollectiveCalls & { readonly state: CommState }

/** The algorithm a user op that is not commutative needs: the one that combines in rank order. */
export const inOrder = (op: ReduceOp) => (isUserOp(op) && !op.commutative ? 'ordered' : undefined)

export const collectiveCalls: CollectiveCalls & ThisType<Self> = {
  async barrier(options = {}) {
    const c = this.state
    const algo = pick('barrier', ALGORITHMS.barrier, c.size, 0, options.algorithm, c.topology)
    const run = begin(c, 'barrier', options, signatureOf('barrier', 2, 0), algo.name, 0)
    const { ctx, tag } = run
    await run.guard(algo.run(ctx, tag))
  },

  async broadcast(data, root, options = {}) {
    const c = this.state
    checkTyped(data)
    c.checkRank(root, 'root')
    const algo = pick('broadcast', ALGORITHMS.broadcast, c.size, data.byteLength, options.algorithm, c.topology)
    const run = begin(c, 'broadcast', options, signatureOf('broadcast', dtypeOf(data), data.length, root), algo.name, data.byteLength)
    const { ctx, tag } = run
    await run.guard(algo.run(ctx, data, root, tag))
    return data
  },

  async reduce(data, op, root, options = {}) {
    const c = this.state
    checkTyped(data)
    checkOp(op, data)
    c.checkRank(root, 'root')
    const algo = pick('reduce', ALGORITHMS.reduce, c.size, data.byteLength, inOrder(op) ?? options.algorithm)
    const run = begin(c, 'reduce', options, signatureOf('reduce', dtypeOf(data), data.length, root, op), algo.name, data.byteLength)
    const { ctx, tag } = run
    await run.guard(algo.run(ctx, data, op, root, tag))
    return data
  },

  async allreduce(data, op, options = {}) {
    const { prescale, postscale, compression = 'none' } = options
    checkTyped(data)
    checkOp(op, data)
    if (prescale === undefined && postscale === undefined && compression === 'none') return allreducePlain(this.state, data, op, options)
    const floats = data instanceof Float32Array || data instanceof Float64Array
    for (const [k, v] of [
      ['prescale', prescale],
      ['postscale', postscale],
    ] as const) {
      if (v === undefined) continue
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new UsageError(`${k} must be a finite number, got ${describe(v)}`)
      if (!floats) throw new UsageError(`${k} needs a Float32Array or Float64Array, got ${describe(data)}`)
    }
    if (compression !== 'none' && compression !== 'fp16' && compression !== 'bf16') {
      throw new UsageError(`compression must be "none", "fp16" or "bf16", got ${describe(compression)}`)
    }
    if (compression !== 'none' && !floats) throw new UsageError(`compression "${compression}" needs a Float32Array or Float64Array, got ${describe(data)}`)
    const Half = compression === 'bf16' ? BFloat16Bits : Float16Bits
    if (compression !== 'none') checkOp(op, new Half(0))
    // The factor multiplies in double precision, then rounds once to the element type.
    const scale = (f: number | undefined) => {
      if (f !== undefined && f !== 1) for (let i = 0; i < data.length; i++) (data as Float64Array)[i] *= f
    }
    scale(prescale)
    if (compression === 'none') {
      await allreducePlain(this.state, data, op, options)
    } else {
      // A reused buffer: a fresh one would be zeroed memory the kernel maps page by page on every call.
      const half = takeScratch(Half, data.length, 2)
      toHalf(data as Float32Array, compression, half)
      await allreducePlain(this.state, half, op, options)
      if (data instanceof Float32Array) fromHalf(half, data)
      else (data as Float64Array).set(fromHalf(half))
      giveScratch(half)
    }
    scale(postscale)
    return data
  },

  async gather<T extends TypedArray>(data: T, root: number, options: CollectiveOptions = {}) {
    const c = this.state
    checkTyped(data)
    c.checkRank(root, 'root')
    const algo = pick('gather', ALGORITHMS.gather, c.size, data.byteLength, options.algorithm)
    const run = begin(c, 'gather', options, signatureOf('gather', dtypeOf(data), data.length, root), algo.name, data.byteLength)
    const { ctx, tag } = run
    return (await run.guard(algo.run(ctx, data, root, tag))) as T | undefined
  },

  async allgather(data, options = {}) {
    const c = this.state
    checkTyped(data)
    const algo = pick('allgather', ALGORITHMS.allgather, c.size, data.byteLength, options.algorithm)
    const n = data.length
    const out = outputFor('allgather', data, c.size * n, options.into)
    copyInto(out, data, c.rank * n)
    const run = begin(c, 'allgather', options, signatureOf('allgather', dtypeOf(data), n), algo.name, data.byteLength)
    const { ctx, tag } = run
    await run.guard(algo.run(ctx, out, tag, (r) => [r * n, (r + 1) * n]))
    return out
  },

  async scatter<T extends TypedArray>(data: T | undefined, root: number, options: CollectiveOptions = {}) {
    const c = this.state
    c.checkRank(root, 'root')
    if (c.rank === root) {
      checkTyped(data)
      if (data.length % c.size !== 0) {
        throw new UsageError(`scatter: the root's data must hold size * n elements (size ${c.size}), got ${describe(data)}`)
      }
    }
    const bytes = data?.byteLength ?? 0
    const algo = pick('scatter', ALGORITHMS.scatter, c.size, bytes, options.algorithm)
    const run = begin(c, 'scatter', options, signatureOf('scatter', UNKNOWN_DTYPE, -1, root), algo.name, bytes)
    const { ctx, tag } = run
    return (await run.guard(algo.run(ctx, data, root, tag))) as T
  },

  async reduceScatter<T extends TypedArray>(data: T, op: ReduceOp, options: CollectiveOptions = {}) {
    const c = this.state
    checkTyped(data)
    checkOp(op, data)
    if (inOrder(op)) return (await this.allreduce(data, op, options)).slice(...blockRange(data.length, c.size, c.rank)) as T
    const algo = pick('reduceScatter', ALGORITHMS.reduceScatter, c.size, data.byteLength, options.algorithm)
    const sig = signatureOf('reduceScatter', dtypeOf(data), data.length, undefined, op)
    const run = begin(c, 'reduceScatter', options, sig, algo.name, data.byteLength)
    const { ctx, tag, seq } = run
    await run.guard(algo.run(ctx, data, op, tag))
    const mine = data.slice(...blockRange(data.length, c.size, c.rank)) as T
    finishAvg(op, mine, c.contributors(seq))
    return mine
  },

  async alltoall<T extends TypedArray>(data: T, options: OutputOptions<T> = {}) {
    const c = this.state
    checkTyped(data)
    if (data.length % c.size !== 0) {
      throw new UsageError(`alltoall: data.length must be a multiple of size ${c.size}, got ${describe(data)}`)
    }
    const algo = pick('alltoall', ALGORITHMS.alltoall, c.size, data.byteLength, options.algorithm)
    const run = begin(c, 'alltoall', options, signatureOf('alltoall', dtypeOf(data), data.length), algo.name, data.byteLength)
    const { ctx, tag } = run
    const out = outputFor('alltoall', data, data.length, options.into)
    // In place (into: data, MPI_IN_PLACE): the algorithms write blocks the input still has to send.
    const input = overlaps(out, data) ? data.slice() : data
    return (await run.guard(algo.run(ctx, input, tag, out))) as T
  },
}

/** The allreduce itself, on data already checked: the table's algorithm (or the ordered one for a user op). */
async function allreducePlain<T extends TypedArray>(c: CommState, data: T, op: ReduceOp, options: CollectiveOptions): Promise<T> {
  const algo = pick('allreduce', ALGORITHMS.allreduce, c.size, data.byteLength, inOrder(op) ?? options.algorithm, c.topology)
  const sig = signatureOf('allreduce', dtypeOf(data), data.length, undefined, op)
  const run = begin(c, 'allreduce', options, sig, algo.name, data.byteLength)
  const { ctx, tag } = run
  await run.guard(algo.run(ctx, data, op, tag))
  return data
}
