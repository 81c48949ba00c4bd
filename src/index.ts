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
export {
  Communicator,
  ANY_SOURCE,
  ANY_TAG,
  MAX_TAG,
  type P2POptions,
  type RecvOptions,
  type Received,
  type CollectiveOptions,
} from './comm/communicator.ts'
export type { ReduceOp } from './collectives/reduce-ops.ts'
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
  type TsrunErrorCode,
} from './errors.ts'
