/**
 * tsrun: an MPI-style SPMD runtime for TypeScript. The public API, named one by one.
 *
 * @example
 * ```ts
 * import { init } from 'tsrun'
 * const world = await init()
 * const grads = new Float32Array(1024).fill(world.rank)
 * await world.allreduce(grads, 'sum')
 * await world.finalize()
 * ```
 */
export { init, WorldCommunicator, type InitOptions } from './init.ts'
export { ElasticState, newestMember, type ElasticStateOptions } from './elastic/state.ts'
export { syncPlan, transferArrays, type SyncPlan } from './elastic/transfer.ts'
export { elasticInfo, type ElasticInfo } from './elastic/info.ts'
export { runElastic, type Resumable, type RunElasticOptions } from './elastic/run.ts'
export { elasticSlice, type ElasticSliceOptions } from './elastic/sampler.ts'
export { Communicator } from './comm/communicator.ts'
export type {
  P2POptions,
  RecvOptions,
  SendRecvOptions,
  Received,
  ReceivedObject,
  ProbeStatus,
  CollectiveOptions,
  OutputOptions,
  ReduceOptions,
} from './comm/options.ts'
export { MAX_TAG } from './comm/validate.ts'
export { Request, type TestResult } from './comm/request.ts'
export { timeline } from './trace/recorder.ts'
export { ANY_SOURCE, ANY_TAG, PROC_NULL } from './transport/transport.ts'
export { defineOp, type ReduceOp, type BuiltinOp, type UserOp } from './collectives/reduce-ops.ts'
export { Float16Bits, BFloat16Bits, toHalf, fromHalf } from './half.ts'
export type { TypedArray, Sendable } from './dtype.ts'
export {
  TsrunError,
  UsageError,
  TimeoutError,
  PeerLostError,
  CollectiveMismatchError,
  RendezvousError,
  TransportError,
  FinalizedError,
  WorldChangedError,
  type TsrunErrorCode,
} from './errors.ts'
