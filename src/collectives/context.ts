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
  /** Host of each rank, as a small index (ranks with the same index share a host); absent: unknown. */
  readonly nodes?: readonly number[]
  /**
   * How many ranks' data an `avg` sum holds when it is divided: `size`, less the ranks that have joined (Horovod
   * join). Asked only after every rank's data has reached the caller. Absent: `size`.
   */
  contributors?(): number
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
  /**
   * Rounds through shared memory among the ranks of this rank's host, when every rank of the job has shared
   * memory (the world communicator only; host-shared.ts, allreduce-hierarchical.ts). Absent elsewhere.
   */
  readonly host?: HostRounds
}

/** One round of a host collective per call: each rank of the host writes its data, then reads all of theirs. */
export interface HostRounds {
  /** The host's ranks (ranks of the communicator, ascending): `dataOf(i)` is `ranks[i]`'s. */
  readonly ranks: readonly number[]
  /** Most bytes of data a rank can write in one round. */
  readonly maxBytes: number
  /**
   * Writes this rank's `data` (or nothing), waits until every rank has written this call's, and returns what
   * `read` returns; `read` gets each rank's data as a view of shared memory, valid only while it runs.
   */
  round<T>(tag: number, data: Uint8Array | undefined, read: (dataOf: (rank: number) => Uint8Array) => T): Promise<T>
  /** Most bytes `bcast` carries. */
  readonly maxBcastBytes: number
  /** Broadcasts `bytes` from `root` (one of `ranks`) to the others' `bytes`, through the root's shared memory. */
  bcast(tag: number, root: number, bytes: Uint8Array): Promise<void>
  /** Reads of the other ranks' memory (single copy), where the system permits them on every rank; else absent. */
  readonly peerMemory?: PeerMemory
}

/** Single copy between processes of a host (Linux's process_vm_readv). */
export interface PeerMemory {
  /** Where `view`'s first byte is in this process (stable while the call that uses it runs). */
  addressOf(view: Uint8Array): number
  /** Copies `dst.byteLength` bytes at `address` in process `pid` into `dst`: the bytes copied, or -errno. */
  read(pid: number, address: number, dst: Uint8Array): number
}

/**
 * The ranks `ranks` of `ctx` (listed in the order that numbers them 0..n-1 in the group) as a context of their
 * own, on the same tag space: hierarchical algorithms run flat ones inside a host or among hosts' leaders.
 * Only members may use it.
 */
export function subgroup(ctx: CollectiveContext, ranks: readonly number[]): CollectiveContext {
  const me = ranks.indexOf(ctx.rank)
  if (me < 0) throw new Error(`rank ${ctx.rank} is not in the group [${ranks.join(', ')}]`)
  return {
    rank: me,
    size: ranks.length,
    nodes: ctx.nodes && ranks.map((r) => ctx.nodes![r]!),
    contributors: ctx.contributors ? () => ctx.contributors!() : undefined,
    segmentElements: (bpe) => ctx.segmentElements(bpe),
    send: (peer, tag, data) => ctx.send(ranks[peer]!, tag, data),
    recv: (peer, tag, into) => ctx.recv(ranks[peer]!, tag, into),
    recvReduce: (peer, tag, dst, op) => ctx.recvReduce(ranks[peer]!, tag, dst, op),
    recvAny: (peer, tag) => ctx.recvAny(ranks[peer]!, tag),
  }
}

/** The divisor of an average on `ctx` (see `contributors`). */
export function avgDivisor(ctx: CollectiveContext): number {
  return ctx.contributors ? ctx.contributors() : ctx.size
}
