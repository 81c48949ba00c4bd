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
export { Communicator } from './comm/communicator.ts'
export type { P2POptions, RecvOptions, Received } from './comm/point-to-point.ts'
export type { CollectiveOptions } from './comm/typed-collectives.ts'
export { MAX_TAG } from './comm/validate.ts'
export { ANY_SOURCE, ANY_TAG } from './transport/transport.ts'
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
