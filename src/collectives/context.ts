/**
 * What an algorithm sees of a communicator: its rank and size, and tagged sends and receives of typed
 * arrays to and from peers (ranks in the communicator). Algorithms never import the transport or the
 * communicator, so each can be unit-tested against an in-memory context (test/helpers/memory-context.ts).
 */
import type { TypedArray } from '../dtype.ts'
import type { ReduceOp } from './reduce-ops.ts'

export interface CollectiveContext {
  readonly rank: number
  readonly size: number
  /** Elements per segment for pipelined algorithms, for an element of `bytesPerElement` bytes. */
  segmentElements(bytesPerElement: number): number
  /** Sends `data`; resolves when `data` may be changed again. */
  send(peer: number, tag: number, data: TypedArray): Promise<void>
  /** Receives exactly `into.length` elements from `peer` into `into`. */
  recv(peer: number, tag: number, into: TypedArray): Promise<void>
  /**
   * Receives `dst.length` elements from `peer` and combines them into `dst` with `op` straight from the
   * transport's buffer (no copy).
   */
  recvReduce(peer: number, tag: number, dst: TypedArray, op: ReduceOp): Promise<void>
  /** Receives a message of unknown length from `peer` (scatter's non-roots). */
  recvAny(peer: number, tag: number): Promise<TypedArray>
}
