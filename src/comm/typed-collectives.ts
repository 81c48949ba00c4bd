/**
 * The collectives on typed arrays, the hot path: each validates its arguments, takes a fresh tag, picks an
 * algorithm (select.ts) and runs it on the collective context, watched by the stall inspector and the
 * mismatch detector (`begin`). Communicator (communicator.ts) adds the JSON-value calls and split/dup/free.
 */
import type { CollectiveContext } from '../collectives/context.ts'
import { blockRange } from '../collectives/partition.ts'
import { checkOp, finishAvg, isUserOp, type ReduceOp } from '../collectives/reduce-ops.ts'
import { describe, dtypeOf, type TypedArray } from '../dtype.ts'
import { UsageError } from '../errors.ts'
import { collectiveContext } from './collective-context.ts'
import { isJoinNotice, Joins } from './join.ts'
import type { MismatchInfo } from './mismatch.ts'
import { PointToPoint } from './point-to-point.ts'
import { ALGORITHMS, pick } from './select.ts'
import { signatureOf, UNKNOWN_DTYPE, type CollectiveName, type FullSignature } from './signature.ts'
import { watchStall } from './stall-inspector.ts'
import { TagSequence } from './tags.ts'
import { outputFor, type CollectiveOptions, type OutputOptions } from './options.ts'
import { checkSegmentBytes, checkTimeout, checkTyped } from './validate.ts'
import { CollectiveTracer } from '../trace/collective-trace.ts'
import { recorder } from '../trace/recorder.ts'

export type { CollectiveOptions, OutputOptions }

/** The algorithm a user op that is not commutative needs: the one that combines in rank order. */
const inOrder = (op: ReduceOp) => (isUserOp(op) && !op.commutative ? 'ordered' : undefined)

/** A running collective: its context, its fresh tag, and the guard that watches it. */
interface Running {
  ctx: CollectiveContext
  tag: number
  /** The collective's number on this communicator (1-based). */
  seq: number
  guard: <T>(p: Promise<T>) => Promise<T>
}

/** @internal The base of Communicator; use Communicator. */
export class TypedCollectives extends PointToPoint {
  private readonly tags = new TagSequence()
  private readonly tracer = new CollectiveTracer()
  /** @internal Ranks that have run out of data (join.ts). */
  protected readonly joins: Joins

  /** @internal Communicators come from init() and split(). */
  constructor(...args: ConstructorParameters<typeof PointToPoint>) {
    super(...args)
    this.joins = new Joins({ scope: this.scope, started: () => this.started, told: (seq) => this.mismatch.signatureAt(-1 - seq) })
    this.world.comms.set(this.commId, this)
    for (const n of this.world.early.take(this.commId)) {
      if (n.kind === 'arrival') this.mismatch.arrived(n.tag, n.source, n.sig)
      else this.notice(n.source, n.notice)
    }
  }

  /** @internal A peer's notice about this communicator (transport control plane): a mismatch, or a join. */
  notice(source: number, notice: unknown): void {
    const n = notice as { kind?: unknown; info?: MismatchInfo }
    if (n?.kind === 'mismatch' && n.info) this.mismatch.poison(n.info)
    else if (n && isJoinNotice(n)) this.joins.onNotice(source, n)
  }

  // ---------------------------------------------------------------- collectives on typed arrays

  /**
   * Waits until every rank of the communicator has called it.
   *
   * @example
   * ```ts
   * await world.barrier()
   * ```
   */
  async barrier(options: CollectiveOptions = {}): Promise<void> {
    const algo = pick('barrier', ALGORITHMS.barrier, this.size, 0, options.algorithm)
    const { ctx, tag, guard } = this.begin('barrier', options, signatureOf('barrier', 2, 0), algo.name, 0)
    await guard(algo.run(ctx, tag))
  }

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
  async broadcast<T extends TypedArray>(data: T, root: number, options: CollectiveOptions = {}): Promise<T> {
    checkTyped(data)
    this.checkRank(root, 'root')
    const algo = pick('broadcast', ALGORITHMS.broadcast, this.size, data.byteLength, options.algorithm, this.topology)
    const { ctx, tag, guard } = this.begin('broadcast', options, signatureOf('broadcast', dtypeOf(data), data.length, root), algo.name, data.byteLength)
    await guard(algo.run(ctx, data, root, tag))
    return data
  }

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
  async reduce<T extends TypedArray>(data: T, op: ReduceOp, root: number, options: CollectiveOptions = {}): Promise<T> {
    checkTyped(data)
    checkOp(op, data)
    this.checkRank(root, 'root')
    const algo = pick('reduce', ALGORITHMS.reduce, this.size, data.byteLength, inOrder(op) ?? options.algorithm)
    const { ctx, tag, guard } = this.begin('reduce', options, signatureOf('reduce', dtypeOf(data), data.length, root, op), algo.name, data.byteLength)
    await guard(algo.run(ctx, data, op, root, tag))
    return data
  }

  /**
   * Combines `data` of every rank with `op`, in place on every rank; all ranks get the same bits.
   * Resolves to `data`.
   *
   * @example
   * ```ts
   * const grads = new Float32Array(1 << 20).fill(world.rank)
   * await world.allreduce(grads, 'avg')      // every element: (0 + 1 + ... + size-1) / size
   * ```
   * @throws UsageError for an unknown op or one that does not fit the element type (bxor on floats).
   */
  async allreduce<T extends TypedArray>(data: T, op: ReduceOp, options: CollectiveOptions = {}): Promise<T> {
    checkTyped(data)
    checkOp(op, data)
    const algo = pick('allreduce', ALGORITHMS.allreduce, this.size, data.byteLength, inOrder(op) ?? options.algorithm, this.topology)
    const { ctx, tag, guard } = this.begin('allreduce', options, signatureOf('allreduce', dtypeOf(data), data.length, undefined, op), algo.name, data.byteLength)
    await guard(algo.run(ctx, data, op, tag))
    return data
  }

  /**
   * Collects every rank's `data` on `root`: a new array of `size * data.length` elements in rank order
   * there, `undefined` elsewhere. Every rank must pass the same length.
   *
   * @example
   * ```ts
   * const all = await world.gather(new Float64Array([loss]), 0)   // rank 0: one loss per rank
   * ```
   */
  async gather<T extends TypedArray>(data: T, root: number, options: CollectiveOptions = {}): Promise<T | undefined> {
    checkTyped(data)
    this.checkRank(root, 'root')
    const algo = pick('gather', ALGORITHMS.gather, this.size, data.byteLength, options.algorithm)
    const { ctx, tag, guard } = this.begin('gather', options, signatureOf('gather', dtypeOf(data), data.length, root), algo.name, data.byteLength)
    return (await guard(algo.run(ctx, data, root, tag))) as T | undefined
  }

  /**
   * Every rank gets every rank's `data`: a new array of `size * data.length` elements in rank order.
   *
   * @example
   * ```ts
   * const all = await world.allgather(new Int32Array([world.rank]))   // [0, 1, 2, ...]
   * ```
   */
  async allgather<T extends TypedArray>(data: T, options: OutputOptions<T> = {}): Promise<T> {
    checkTyped(data)
    const algo = pick('allgather', ALGORITHMS.allgather, this.size, data.byteLength, options.algorithm)
    const n = data.length
    const out = outputFor('allgather', data, this.size * n, options.into)
    out.set(data as any, this.rank * n)
    const { ctx, tag, guard } = this.begin('allgather', options, signatureOf('allgather', dtypeOf(data), n), algo.name, data.byteLength)
    await guard(algo.run(ctx, out, tag, (r) => [r * n, (r + 1) * n]))
    return out
  }

  /**
   * Splits `data` (on `root`: `size * n` elements) into `size` blocks of `n`; rank i gets block i. Other
   * ranks may pass `undefined`; each resolves to a new array of its `n` elements.
   *
   * @example
   * ```ts
   * const shard = await world.scatter(world.rank === 0 ? allSamples : undefined, 0)
   * ```
   */
  async scatter<T extends TypedArray>(data: T | undefined, root: number, options: CollectiveOptions = {}): Promise<T> {
    this.checkRank(root, 'root')
    if (this.rank === root) {
      checkTyped(data)
      if (data.length % this.size !== 0) {
        throw new UsageError(`scatter: the root's data must hold size * n elements (size ${this.size}), got ${describe(data)}`)
      }
    }
    const algo = pick('scatter', ALGORITHMS.scatter, this.size, data?.byteLength ?? 0, options.algorithm)
    const { ctx, tag, guard } = this.begin('scatter', options, signatureOf('scatter', UNKNOWN_DTYPE, -1, root), algo.name, data?.byteLength ?? 0)
    return (await guard(algo.run(ctx, data, root, tag))) as T
  }

  /**
   * Combines `data` of every rank with `op` and gives each rank its block of the result (blocks as even
   * as possible; the first `length % size` ranks get one element more). `data` is used as scratch space.
   *
   * @example
   * ```ts
   * const mine = await world.reduceScatter(grads, 'sum')   // this rank's slice of the summed gradients
   * ```
   */
  async reduceScatter<T extends TypedArray>(data: T, op: ReduceOp, options: CollectiveOptions = {}): Promise<T> {
    checkTyped(data)
    checkOp(op, data)
    if (inOrder(op)) return (await this.allreduce(data, op, options)).slice(...blockRange(data.length, this.size, this.rank)) as T
    const algo = pick('reduceScatter', ALGORITHMS.reduceScatter, this.size, data.byteLength, options.algorithm)
    const { ctx, tag, seq, guard } = this.begin('reduceScatter', options, signatureOf('reduceScatter', dtypeOf(data), data.length, undefined, op), algo.name, data.byteLength)
    await guard(algo.run(ctx, data, op, tag))
    const [a, b] = blockRange(data.length, this.size, this.rank)
    const mine = data.slice(a, b) as T
    finishAvg(op, mine, this.contributors(seq))
    return mine
  }

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
  async alltoall<T extends TypedArray>(data: T, options: OutputOptions<T> = {}): Promise<T> {
    checkTyped(data)
    if (data.length % this.size !== 0) {
      throw new UsageError(`alltoall: data.length must be a multiple of size ${this.size}, got ${describe(data)}`)
    }
    const algo = pick('alltoall', ALGORITHMS.alltoall, this.size, data.byteLength, options.algorithm)
    const { ctx, tag, guard } = this.begin('alltoall', options, signatureOf('alltoall', dtypeOf(data), data.length), algo.name, data.byteLength)
    const out = outputFor('alltoall', data, data.length, options.into)
    return (await guard(algo.run(ctx, data, tag, out))) as T
  }

  /** @internal How many ranks' data an average of collective `seq` divides by (ranks that had joined do not count). */
  contributors(seq: number): number {
    return this.joins.contributors(this.size, seq)
  }

  /** @internal Number of collectives started on this communicator (what a stalled peer asks for). */
  get started(): number {
    return this.tags.count
  }

  /**
   * @internal Starts a collective: checks the communicator and the options, takes a fresh tag, records the
   * call's signature for the mismatch detector, builds the context, and gives the stall inspector's guard.
   */
  protected begin(what: CollectiveName, options: CollectiveOptions, sig: FullSignature, algo = '', bytes = 0): Running {
    this.checkUsable()
    const { segmentBytes, timeoutMs } = options
    checkSegmentBytes(segmentBytes)
    checkTimeout(timeoutMs)
    const tag = this.tags.next()
    const seq = this.tags.count
    this.mismatch.called(tag, sig)
    this.joins.began(seq)
    this.checkUsable()
    const { transport, stallWarningMs, opTimeoutMs } = this.world
    const { commId, name, rank, members } = this
    const contributors = () => this.contributors(seq)
    const trace = recorder.on ? this.tracer.start(tag, { comm: name, seq, op: what, bytes, algo }) : undefined
    const ctx = collectiveContext({ transport, commId, name, rank, members, nodes: this.nodes, what: `${what} #${seq}`, segmentBytes, timeoutMs, sig, contributors, trace })
    const watch = { what, seq, stallWarningMs, opTimeoutMs: timeoutMs ?? opTimeoutMs }
    const guard = <T>(p: Promise<T>) => watchStall(p, this.scope, watch)
    return { ctx, tag, seq, guard: trace ? (p) => this.tracer.watch(tag, trace, guard(p)) : guard }
  }

  /** @internal A collective message for `tag` arrived (the timeline's "first peer arrived" mark). */
  noteArrival(tag: number): void {
    if (recorder.on) this.tracer.arrived(tag)
  }
}
