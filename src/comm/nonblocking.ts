/**
 * The calls for code ported from MPI: send and receive in one call (sendrecv; no deadlock in a ring shift), and
 * every call as a Request (MPI's I-calls: test, wait, waitAll, waitAny). tsrun's calls already start at once and
 * return promises; a Request lets them be polled too.
 */
import type { ReduceOp } from '../collectives/reduce-ops.ts'
import { asBytes, bytesPerElement, dtypeOf, type Sendable, type TypedArray } from '../dtype.ts'
import { ANY_SOURCE, ANY_TAG } from '../transport/transport.ts'
import { ObjectCollectives } from './object-collectives.ts'
import type { CollectiveOptions, OutputOptions } from './options.ts'
import type { P2POptions, Received, RecvOptions } from './point-to-point.ts'
import { Request } from './request.ts'
import type { ReduceOptions } from './vector-collectives.ts'

/** @internal The base of Communicator; use Communicator. */
export class NonBlocking extends ObjectCollectives {
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

  /** `gather` as a Request (MPI_Igather). @example `const req = world.igather(new Float64Array([loss]), 0)` */
  igather<T extends TypedArray>(data: T, root: number, options: CollectiveOptions = {}): Request<T | undefined> {
    return new Request(this.gather(data, root, options))
  }

  /** `scatter` as a Request (MPI_Iscatter). @example `const req = world.iscatter(world.rank === 0 ? all : undefined, 0)` */
  iscatter<T extends TypedArray>(data: T | undefined, root: number, options: CollectiveOptions = {}): Request<T> {
    return new Request(this.scatter(data, root, options))
  }

  /** `alltoall` as a Request (MPI_Ialltoall). @example `const req = world.ialltoall(blocks)` */
  ialltoall<T extends TypedArray>(data: T, options: OutputOptions<T> = {}): Request<T> {
    return new Request(this.alltoall(data, options))
  }

  /** `reduceScatter` as a Request (MPI_Ireduce_scatter_block). @example `const req = world.ireduceScatter(grads, 'sum')` */
  ireduceScatter<T extends TypedArray>(data: T, op: ReduceOp, options: CollectiveOptions = {}): Request<T> {
    return new Request(this.reduceScatter(data, op, options))
  }

  /** `allgatherv` as a Request (MPI_Iallgatherv). @example `const req = world.iallgatherv(myRows)` */
  iallgatherv<T extends TypedArray>(data: T, counts?: readonly number[], options: OutputOptions<T> = {}): Request<T> {
    return new Request(this.allgatherv(data, counts, options))
  }

  /** `alltoallv` as a Request (MPI_Ialltoallv). @example `const req = world.ialltoallv(tokens, splits)` */
  ialltoallv<T extends TypedArray>(data: T, sendCounts: readonly number[], recvCounts?: readonly number[], options: OutputOptions<T> = {}): Request<{ data: T; counts: number[] }> {
    return new Request(this.alltoallv(data, sendCounts, recvCounts, options))
  }

  /** `scan` as a Request (MPI_Iscan). @example `const req = world.iscan(new Int32Array([n]), 'sum')` */
  iscan<T extends TypedArray>(data: T, op: ReduceOp, options: CollectiveOptions = {}): Request<T> {
    return new Request(this.scan(data, op, options))
  }

  /** `exscan` as a Request (MPI_Iexscan). @example `const req = world.iexscan(new Int32Array([n]), 'sum')` */
  iexscan<T extends TypedArray>(data: T, op: ReduceOp, options: CollectiveOptions = {}): Request<T> {
    return new Request(this.exscan(data, op, options))
  }
}
