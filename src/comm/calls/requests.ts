/**
 * Every call as a Request, for code ported from MPI (the I-calls: isend, irecv, iallreduce, ...). tsrun's calls
 * already start at once and return promises; a Request lets them be polled (`test()`) as well as awaited.
 */
import type { ReduceOp } from '../../collectives/reduce-ops.ts'
import type { Sendable, TypedArray } from '../../dtype.ts'
import type { CollectiveOptions, OutputOptions, P2POptions, Received, ReceivedObject, RecvOptions, ReduceOptions } from '../options.ts'
import { Request } from '../request.ts'
import type { CollectiveCalls } from './collectives.ts'
import type { PointToPointCalls } from './point-to-point.ts'
import type { VectorCalls } from './vector.ts'

/** The calls of a Communicator that return Requests (MPI's I-calls). */
export interface RequestCalls {
  /**
   * `send` as a Request (MPI_Isend): poll it with `test()` or await it.
   *
   * @example
   * ```ts
   * const req = world.isend(buf, 1)
   * await Request.waitAll([req, world.irecv(1)])
   * ```
   */
  isend(data: Sendable, dest: number, options?: P2POptions): Request<void>
  /** `recv` as a Request (MPI_Irecv). @example `const req = world.irecv(ANY_SOURCE, { tag: 2 })` */
  irecv(source?: number, options?: RecvOptions): Request<Received>
  /** `sendObject` as a Request (mpi4py `isend`). @example `const req = world.isendObject({ step: 1 }, 0)` */
  isendObject(value: unknown, dest: number, options?: P2POptions): Request<void>
  /** `recvObject` as a Request (mpi4py `irecv`). @example `const { value } = await world.irecvObject(0)` */
  irecvObject<T = unknown>(source?: number, options?: P2POptions): Request<ReceivedObject<T>>
  /** `barrier` as a Request (MPI_Ibarrier). @example `const req = world.ibarrier()` */
  ibarrier(options?: CollectiveOptions): Request<void>
  /** `broadcast` as a Request (MPI_Ibcast). @example `const req = world.ibroadcast(weights, 0)` */
  ibroadcast<T extends TypedArray>(data: T, root: number, options?: CollectiveOptions): Request<T>
  /** `allreduce` as a Request (MPI_Iallreduce). @example `const req = world.iallreduce(grads, 'sum')` */
  iallreduce<T extends TypedArray>(data: T, op: ReduceOp, options?: ReduceOptions): Request<T>
  /** `reduce` as a Request (MPI_Ireduce). @example `const req = world.ireduce(counts, 'sum', 0)` */
  ireduce<T extends TypedArray>(data: T, op: ReduceOp, root: number, options?: CollectiveOptions): Request<T>
  /** `allgather` as a Request (MPI_Iallgather). @example `const req = world.iallgather(new Int32Array([world.rank]))` */
  iallgather<T extends TypedArray>(data: T, options?: CollectiveOptions): Request<T>
  /** `gather` as a Request (MPI_Igather). @example `const req = world.igather(new Float64Array([loss]), 0)` */
  igather<T extends TypedArray>(data: T, root: number, options?: CollectiveOptions): Request<T | undefined>
  /** `scatter` as a Request (MPI_Iscatter). @example `const req = world.iscatter(world.rank === 0 ? all : undefined, 0)` */
  iscatter<T extends TypedArray>(data: T | undefined, root: number, options?: CollectiveOptions): Request<T>
  /** `alltoall` as a Request (MPI_Ialltoall). @example `const req = world.ialltoall(blocks)` */
  ialltoall<T extends TypedArray>(data: T, options?: OutputOptions<T>): Request<T>
  /** `reduceScatter` as a Request (MPI_Ireduce_scatter_block). @example `const req = world.ireduceScatter(grads, 'sum')` */
  ireduceScatter<T extends TypedArray>(data: T, op: ReduceOp, options?: CollectiveOptions): Request<T>
  /** `allgatherv` as a Request (MPI_Iallgatherv). @example `const req = world.iallgatherv(myRows)` */
  iallgatherv<T extends TypedArray>(data: T, counts?: readonly number[], options?: OutputOptions<T>): Request<T>
  /** `alltoallv` as a Request (MPI_Ialltoallv). @example `const req = world.ialltoallv(tokens, splits)` */
  ialltoallv<T extends TypedArray>(
    data: T,
    sendCounts: readonly number[],
    recvCounts?: readonly number[],
    options?: OutputOptions<T>,
  ): Request<{ data: T; counts: number[] }>
  /** `scan` as a Request (MPI_Iscan). @example `const req = world.iscan(new Int32Array([n]), 'sum')` */
  iscan<T extends TypedArray>(data: T, op: ReduceOp, options?: CollectiveOptions): Request<T>
  /** `exscan` as a Request (MPI_Iexscan). @example `const req = world.iexscan(new Int32Array([n]), 'sum')` */
  iexscan<T extends TypedArray>(data: T, op: ReduceOp, options?: CollectiveOptions): Request<T>
}

type Self = RequestCalls & PointToPointCalls & CollectiveCalls & VectorCalls

export const requestCalls: RequestCalls & ThisType<Self> = {
  isend(data, dest, options) {
    return new Request(this.send(data, dest, options))
  },

  irecv(source, options) {
    return new Request(this.recv(source, options))
  },

  isendObject(value, dest, options) {
    return new Request(this.sendObject(value, dest, options))
  },

  irecvObject<T>(source?: number, options?: P2POptions) {
    return new Request(this.recvObject<T>(source, options))
  },

  ibarrier(options) {
    return new Request(this.barrier(options))
  },

  ibroadcast(data, root, options) {
    return new Request(this.broadcast(data, root, options))
  },

  iallreduce(data, op, options) {
    return new Request(this.allreduce(data, op, options))
  },

  ireduce(data, op, root, options) {
    return new Request(this.reduce(data, op, root, options))
  },

  iallgather(data, options) {
    return new Request(this.allgather(data, options))
  },

  igather(data, root, options) {
    return new Request(this.gather(data, root, options))
  },

  iscatter(data, root, options) {
    return new Request(this.scatter(data, root, options))
  },

  ialltoall(data, options) {
    return new Request(this.alltoall(data, options))
  },

  ireduceScatter(data, op, options) {
    return new Request(this.reduceScatter(data, op, options))
  },

  iallgatherv(data, counts, options) {
    return new Request(this.allgatherv(data, counts, options))
  },

  ialltoallv(data, sendCounts, recvCounts, options) {
    return new Request(this.alltoallv(data, sendCounts, recvCounts, options))
  },

  iscan(data, op, options) {
    return new Request(this.scan(data, op, options))
  },

  iexscan(data, op, options) {
    return new Request(this.exscan(data, op, options))
  },
}
