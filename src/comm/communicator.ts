/**
 * A communicator: a group of ranks that talk to each other, MPI style. The world communicator comes from
 * `init()`; sub-communicators come from `split` and `dup`. Point-to-point calls come from point-to-point.ts,
 * the collectives on typed arrays from typed-collectives.ts; here are the collectives on JSON values
 * (mpi4py's lower-case calls: serialised, for small values) and the communicator calls.
 */
import { alltoallvPairwise } from '../collectives/alltoallv-pairwise.ts'
import type { ReduceOp } from '../collectives/reduce-ops.ts'
import { decodeJson, describe, encodeJson, type Sendable, type TypedArray } from '../dtype.ts'
import { UsageError } from '../errors.ts'
import type { P2POptions, Received, RecvOptions } from './point-to-point.ts'
import { Request } from './request.ts'
import { ALGORITHMS, pick } from './select.ts'
import { signatureOf, UNKNOWN_DTYPE } from './signature.ts'
import { childCommId } from './tags.ts'
import type { CollectiveOptions } from './typed-collectives.ts'
import { VectorCollectives, type ReduceOptions } from './vector-collectives.ts'

export class Communicator extends VectorCollectives {
  private children = 0

  /**
   * `value` from `root` to every rank (serialised as JSON).
   *
   * @example
   * ```ts
   * const config = await world.broadcastObject(world.rank === 0 ? loadConfig() : undefined, 0)
   * ```
   */
  async broadcastObject<T>(value: T, root: number, options: CollectiveOptions = {}): Promise<T> {
    this.checkRank(root, 'root')
    const bytes = this.rank === root ? encodeJson(value) : undefined
    const length = new Float64Array([bytes?.byteLength ?? 0])
    await this.broadcast(length, root, options)
    const buf = bytes ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(length[0])
    await this.broadcast(buf, root, options)
    return this.rank === root ? value : (decodeJson(buf) as T)
  }

  /**
   * Every rank's `value` on `root`, as an array in rank order; `undefined` elsewhere.
   *
   * @example
   * ```ts
   * const stats = await world.gatherObject({ rank: world.rank, loss }, 0)
   * ```
   */
  async gatherObject<T>(value: T, root: number, options: CollectiveOptions = {}): Promise<T[] | undefined> {
    this.checkRank(root, 'root')
    const bytes = encodeJson(value)
    const algo = pick('gatherObject', ALGORITHMS.gatherObject, this.size, bytes.byteLength, options.algorithm)
    const { ctx, tag, guard } = this.begin('gatherObject', options, signatureOf('gatherObject', UNKNOWN_DTYPE, -1, root))
    const parts = await guard(algo.run(ctx, bytes, root, tag))
    return parts?.map((p, r) => (r === root ? value : (decodeJson(p) as T)))
  }

  /**
   * Every rank's `value` on every rank, as an array in rank order.
   *
   * @example
   * ```ts
   * const hosts = await world.allgatherObject(world.host)
   * ```
   */
  async allgatherObject<T>(value: T, options: CollectiveOptions = {}): Promise<T[]> {
    const gathered = await this.gatherObject(value, 0, options)
    return this.broadcastObject(gathered as T[], 0, options)
  }

  /**
   * `values[i]` from `root` to rank i (root passes an array of `size` JSON values; others may pass undefined).
   *
   * @example
   * ```ts
   * const task = await world.scatterObject(world.rank === 0 ? tasks : undefined, 0)
   * ```
   */
  async scatterObject<T>(values: T[] | undefined, root: number, options: CollectiveOptions = {}): Promise<T> {
    this.checkRank(root, 'root')
    if (this.rank === root && (!Array.isArray(values) || values.length !== this.size)) {
      throw new UsageError(`scatterObject: the root must pass an array of ${this.size} values (one per rank), got ${describe(values)}`)
    }
    const parts = this.rank === root ? values!.map((v, r) => (r === root ? new Uint8Array(0) : encodeJson(v))) : undefined
    const algo = pick('scatterObject', ALGORITHMS.scatterObject, this.size, 0, options.algorithm)
    const { ctx, tag, guard } = this.begin('scatterObject', options, signatureOf('scatterObject', UNKNOWN_DTYPE, -1, root))
    const mine = await guard(algo.run(ctx, parts, root, tag))
    return this.rank === root ? values![root] : (decodeJson(mine) as T)
  }

  /**
   * Combines every rank's `value` with `fn`, in rank order, on every rank (all get the same result).
   *
   * @example
   * ```ts
   * const merged = await world.allreduceObject(localCounts, (a, b) => mergeCounts(a, b))
   * ```
   */
  async allreduceObject<T>(value: T, fn: (a: T, b: T) => T, options: CollectiveOptions = {}): Promise<T> {
    checkFn('allreduceObject', fn)
    const all = await this.allgatherObject(value, options)
    return all.reduce(fn)
  }

  /**
   * Combines every rank's `value` with `fn` in rank order on `root` (mpi4py's `reduce` for objects); `undefined`
   * elsewhere.
   *
   * @example
   * ```ts
   * const total = await world.reduceObject({ n: 1 }, (a, b) => ({ n: a.n + b.n }), 0)   // rank 0: { n: size }
   * ```
   */
  async reduceObject<T>(value: T, fn: (a: T, b: T) => T, root: number, options: CollectiveOptions = {}): Promise<T | undefined> {
    checkFn('reduceObject', fn)
    const all = await this.gatherObject(value, root, options)
    return all?.reduce(fn)
  }

  /**
   * `values[i]` goes to rank i; resolves to what every rank sent this one, in rank order (mpi4py's `alltoall`).
   *
   * @example
   * ```ts
   * const got = await world.alltoallObject(Array.from({ length: world.size }, (_, to) => `${world.rank}->${to}`))
   * ```
   */
  async alltoallObject<T>(values: T[], options: CollectiveOptions = {}): Promise<T[]> {
    if (!Array.isArray(values) || values.length !== this.size) {
      throw new UsageError(`alltoallObject needs an array of ${this.size} values (one per rank), got ${describe(values)}`)
    }
    const parts = values.map((v, r) => (r === this.rank ? new Uint8Array(0) : encodeJson(v)))
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
    parts.reduce((at, p) => (bytes.set(p, at), at + p.byteLength), 0)
    const { ctx, tag, guard } = this.begin('alltoallObject', options, signatureOf('alltoallObject', UNKNOWN_DTYPE, -1))
    const got = await guard(alltoallvPairwise(ctx, bytes, parts.map((p) => p.byteLength), tag))
    let at = 0
    return got.counts.map((n, r) => {
      const piece = got.data.subarray(at, (at += n)) as Uint8Array
      return r === this.rank ? values[r]! : (decodeJson(piece) as T)
    })
  }

  /**
   * Inclusive prefix of JSON values: rank r gets `fn` folded over ranks 0..r in order (mpi4py's `scan`).
   *
   * @example
   * ```ts
   * const seen = await world.scanObject([world.rank], (a, b) => [...a, ...b])   // rank 2: [0, 1, 2]
   * ```
   */
  async scanObject<T>(value: T, fn: (a: T, b: T) => T, options: CollectiveOptions = {}): Promise<T> {
    checkFn('scanObject', fn)
    const all = await this.allgatherObject(value, options)
    return all.slice(0, this.rank + 1).reduce(fn)
  }

  /**
   * Exclusive prefix of JSON values: rank r gets `fn` folded over ranks 0..r-1; rank 0 gets `undefined`
   * (mpi4py's `exscan` gives None).
   *
   * @example
   * ```ts
   * const before = await world.exscanObject(myCount, (a, b) => a + b)   // undefined on rank 0
   * ```
   */
  async exscanObject<T>(value: T, fn: (a: T, b: T) => T, options: CollectiveOptions = {}): Promise<T | undefined> {
    checkFn('exscanObject', fn)
    const all = await this.allgatherObject(value, options)
    return this.rank === 0 ? undefined : all.slice(0, this.rank).reduce(fn)
  }

  // ---------------------------------------------------------------- non-blocking (MPI requests)

  /**
   * `send` as a Request (MPI_Isend): poll it with `test()` or await it.
   *
   * @example
   * ```ts
   * const req = world.isend(buf, 1)
   * await Request.waitAll([req, world.irecv(1)])
   * ```
   */
  isend(data: Sendable, dest: number, options: P2POptions = {}): Request<void> {
    return new Request(this.send(data, dest, options))
  }

  /** `recv` as a Request (MPI_Irecv). @example `const req = world.irecv(ANY_SOURCE, { tag: 2 })` */
  irecv(source?: number, options: RecvOptions = {}): Request<Received> {
    return new Request(this.recv(source, options))
  }

  /** `sendObject` as a Request (mpi4py `isend`). @example `const req = world.isendObject({ step: 1 }, 0)` */
  isendObject(value: unknown, dest: number, options: P2POptions = {}): Request<void> {
    return new Request(Promise.resolve().then(() => this.sendObject(value, dest, options)))
  }

  /** `recvObject` as a Request (mpi4py `irecv`). @example `const { value } = await world.irecvObject(0)` */
  irecvObject<T = unknown>(source?: number, options: P2POptions = {}): Request<{ value: T; source: number; tag: number }> {
    return new Request(this.recvObject<T>(source, options))
  }

  /** `barrier` as a Request (MPI_Ibarrier). @example `const req = world.ibarrier()` */
  ibarrier(options: CollectiveOptions = {}): Request<void> {
    return new Request(this.barrier(options))
  }

  /** `broadcast` as a Request (MPI_Ibcast). @example `const req = world.ibroadcast(weights, 0)` */
  ibroadcast<T extends TypedArray>(data: T, root: number, options: CollectiveOptions = {}): Request<T> {
    return new Request(this.broadcast(data, root, options))
  }

  /** `allreduce` as a Request (MPI_Iallreduce). @example `const req = world.iallreduce(grads, 'sum')` */
  iallreduce<T extends TypedArray>(data: T, op: ReduceOp, options: ReduceOptions = {}): Request<T> {
    return new Request(this.allreduce(data, op, options))
  }

  /** `reduce` as a Request (MPI_Ireduce). @example `const req = world.ireduce(counts, 'sum', 0)` */
  ireduce<T extends TypedArray>(data: T, op: ReduceOp, root: number, options: CollectiveOptions = {}): Request<T> {
    return new Request(this.reduce(data, op, root, options))
  }

  /** `allgather` as a Request (MPI_Iallgather). @example `const req = world.iallgather(new Int32Array([world.rank]))` */
  iallgather<T extends TypedArray>(data: T, options: CollectiveOptions = {}): Request<T> {
    return new Request(this.allgather(data, options))
  }

  // ---------------------------------------------------------------- communicators

  /**
   * Collective: splits the communicator into groups by `color`; within a group ranks are ordered by `key`
   * (then by rank here). Ranks passing `color` undefined get `null`.
   *
   * @example
   * ```ts
   * const group = await world.split(Math.floor(world.rank / 2))   // pairs of consecutive ranks
   * await group!.allreduce(grads, 'sum')
   * ```
   */
  async split(color: number | undefined, key: number = this.rank, options: CollectiveOptions = {}): Promise<Communicator | null> {
    if (color !== undefined && (!Number.isInteger(color) || color < 0)) {
      throw new UsageError(`split: color must be an integer >= 0 or undefined, got ${describe(color)}`)
    }
    if (!Number.isInteger(key)) throw new UsageError(`split: key must be an integer, got ${describe(key)}`)
    const all = await this.allgather(new Float64Array([color ?? -1, key]), options)
    const creation = this.children++
    if (color === undefined) return null
    const group: number[] = []
    for (let r = 0; r < this.size; r++) if (all[2 * r] === color) group.push(r)
    group.sort((a, b) => all[2 * a + 1] - all[2 * b + 1] || a - b)
    return new Communicator(this.world, childCommId(this.commId, creation, color), group.map((r) => this.members[r]), group.indexOf(this.rank), `${this.name}.split(${color})`)
  }

  /**
   * A new communicator with the same ranks, whose messages never mix with this one's (for a library).
   * Every rank must call it, in the same order relative to other splits and dups.
   *
   * @example
   * ```ts
   * const libComm = world.dup()
   * ```
   */
  dup(): Communicator {
    this.checkUsable()
    const creation = this.children++
    return new Communicator(this.world, childCommId(this.commId, creation, 'dup'), this.members, this.rank, `${this.name}.dup()`)
  }

  /**
   * Releases the communicator; using it afterwards throws FinalizedError.
   *
   * @example
   * ```ts
   * group.free()
   * ```
   */
  free(): void {
    this.freed = true
    // The world no longer routes control-plane questions to it (and does not keep it alive).
    if (this.world.comms.get(this.commId) === this) this.world.comms.delete(this.commId)
  }

}

function checkFn(what: string, fn: unknown): void {
  if (typeof fn !== 'function') throw new UsageError(`${what} needs a function (a, b) => combined, got ${describe(fn)}`)
}
