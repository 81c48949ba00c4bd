/**
 * A communicator: a group of ranks that talk to each other, MPI style. The world communicator comes from
 * `init()`; sub-communicators come from `split` and `dup`. Its calls are layered, one file each:
 * point-to-point.ts ← typed-collectives.ts ← vector-collectives.ts ← object-collectives.ts ← here: the
 * non-blocking forms (Requests), join for uneven data, and the communicator calls.
 */
import type { ReduceOp } from '../collectives/reduce-ops.ts'
import { asBytes, bytesPerElement, describe, DTYPE_ARRAYBUFFER, dtypeOf, type Sendable, type TypedArray } from '../dtype.ts'
import { ANY_SOURCE, ANY_TAG, type Transport } from '../transport/transport.ts'
import { UsageError } from '../errors.ts'
import type { P2POptions, Received, RecvOptions } from './point-to-point.ts'
import { runJoin, type Servable } from './join.ts'
import { Request } from './request.ts'
import { checkTimeout } from './validate.ts'
import { signatureOf, UNKNOWN_DTYPE } from './signature.ts'
import { childCommId } from './tags.ts'
import type { CollectiveOptions } from './typed-collectives.ts'
import { ObjectCollectives } from './object-collectives.ts'
import type { ReduceOptions } from './vector-collectives.ts'

export class Communicator extends ObjectCollectives {
  private children = 0

  /**
   * Sends `data` to `dest` and receives from `source` at the same time (MPI_Sendrecv), so a ring shift cannot
   * deadlock. Either side may be PROC_NULL. `options.tag` tags the send; `recvTag` (default ANY_TAG) selects.
   *
   * @example
   * ```ts
   * const right = (world.rank + 1) % world.size, left = (world.rank - 1 + world.size) % world.size
   * const { data } = await world.sendrecv(new Float64Array([world.rank]), right, left)   // data: [left]
   * ```
   */
  async sendrecv(data: Sendable, dest: number, source: number = ANY_SOURCE, options: RecvOptions & { recvTag?: number } = {}): Promise<Received> {
    const { recvTag = ANY_TAG, ...rest } = options
    const [, got] = await Promise.all([this.send(data, dest, { tag: rest.tag }), this.recv(source, { ...rest, tag: recvTag })])
    return got
  }

  /**
   * Sends `data` to `dest`, then replaces its contents with the message from `source` (MPI_Sendrecv_replace):
   * the message must have `data`'s element type and at most its length. Resolves to the status.
   *
   * @example
   * ```ts
   * const buf = new Int32Array([world.rank])
   * await world.sendrecvReplace(buf, (world.rank + 1) % world.size, (world.rank + world.size - 1) % world.size)
   * ```
   */
  async sendrecvReplace(data: Sendable, dest: number, source: number = ANY_SOURCE, options: P2POptions & { recvTag?: number } = {}): Promise<{ source: number; tag: number; count: number }> {
    dtypeOf(data)
    const into = data instanceof ArrayBuffer ? new ArrayBuffer(data.byteLength) : new (data.constructor as new (n: number) => typeof data)(data.length)
    const got = await this.sendrecv(data, dest, source, { ...options, into })
    const bytes = asBytes(got.data)
    asBytes(data).set(bytes)
    return { source: got.source, tag: got.tag, count: bytes.byteLength / bytesPerElement(dtypeOf(data)) }
  }

  /**
   * Sends a JSON value to `dest` and receives one from `source` at the same time (mpi4py's `sendrecv` for
   * objects). Either side may be PROC_NULL.
   *
   * @example
   * ```ts
   * const { value } = await world.sendrecvObject({ from: world.rank }, right, left)
   * ```
   */
  async sendrecvObject<T = unknown>(value: unknown, dest: number, source: number = ANY_SOURCE, options: P2POptions & { recvTag?: number } = {}): Promise<{ value: T; source: number; tag: number }> {
    const { recvTag = ANY_TAG, ...rest } = options
    const [, got] = await Promise.all([this.sendObject(value, dest, { tag: rest.tag }), this.recvObject<T>(source, { ...rest, tag: recvTag })])
    return got
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
    return new Request(this.sendObject(value, dest, options))
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

  // ---------------------------------------------------------------- uneven data

  /**
   * This rank has run out of data (Horovod's `join`): until every rank has called `join()`, it takes part in the
   * other ranks' collectives with the op's identity (zeros for a sum), so they go on without a deadlock and
   * without padding; their averages divide by the ranks that still had data. While ranks have joined, the others
   * may call allreduce, reduce, broadcast (from a rank that has not joined), barrier, and allgatherv without
   * counts (joined ranks add nothing); any other collective fails on every rank with a CollectiveMismatchError.
   * Resolves, on every rank, to the rank that joined last.
   *
   * @example
   * ```ts
   * for (const batch of myShard) {                    // shards of different lengths
   *   await world.allreduce(gradsOf(batch), 'avg')
   * }
   * const last = await world.join()                   // the others' remaining allreduces complete without us
   * ```
   * @throws TimeoutError after `timeoutMs`; PeerLostError if a rank is lost meanwhile.
   */
  async join(options: { timeoutMs?: number } = {}): Promise<number> {
    checkTimeout(options.timeoutMs)
    const self = this
    const servable: Servable = {
      rank: this.rank,
      size: this.size,
      get started() {
        return self.started
      },
      barrier: () => this.barrier(),
      allreduce: (d, op) => this.allreduce(d, op),
      reduce: (d, op, root) => this.reduce(d, op, root),
      broadcast: (d, root) => this.broadcast(d, root),
      allgatherv: (d) => this.allgatherv(d),
      checkUsable: () => this.checkUsable(),
      refuse: (seq, sig, from) => {
        const info = { tag: -1 - seq, first: { rank: this.rank, sig: signatureOf('join', UNKNOWN_DTYPE, -1) }, second: { rank: from, sig } }
        this.mismatch.poison(info)
        this.world.transport.notify([...this.members], this.commId, { kind: 'mismatch', info })
      },
      watchFailure: () => watchFailure(this.world.transport, this.commId, this.members[this.rank]!),
    }
    return runJoin(servable, this.joins, options.timeoutMs)
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

/** A tag nobody sends to: a receive posted on it fails exactly when the transport or the communicator does. */
const FAILURE_WATCH_TAG = -(2 ** 31)

function watchFailure(transport: Transport, commId: number, me: number): { failed: Promise<never>; stop(): void } {
  let stopped = false
  const failed = transport.recv(commId, me, FAILURE_WATCH_TAG).then(() => new Promise<never>(() => {}))
  failed.catch(() => {}) // a failure after the join ended is somebody else's to report
  return {
    failed,
    stop() {
      if (stopped) return
      stopped = true
      // Our own message completes the watch's receive, so it does not stay posted.
      transport.send(me, commId, FAILURE_WATCH_TAG, DTYPE_ARRAYBUFFER, new Uint8Array(0)).catch(() => {})
    },
  }
}
