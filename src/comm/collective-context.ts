/** The CollectiveContext of a communicator's call: typed-array sends and receives between its ranks, on the transport. */
import type { CollectiveContext, HostRounds } from '../collectives/context.ts'
import type { ReduceOp } from '../collectives/reduce-ops.ts'
import { DEFAULT_SEGMENT_BYTES } from '../constants.ts'
import { asBytes, bytesPerElement, dtypeName, dtypeOf, viewAs, type TypedArray } from '../dtype.ts'
import { CollectiveMismatchError, TimeoutError, UsageError } from '../errors.ts'
import { reduceInto } from '../collectives/reduce-ops.ts'
import type { MismatchDetector } from './mismatch.ts'
import type { HostCollectives, HostRound, Transport } from '../transport/transport.ts'
import { compatible, describeSignature, type FullSignature } from './signature.ts'
import { recorder } from '../trace/recorder.ts'

export interface ContextSpec {
  transport: Transport
  commId: number
  name: string
  rank: number
  members: readonly number[]
  /** Host index of each member. */
  nodes?: readonly number[]
  /** What is running, for error messages: "allreduce #3". */
  what: string
  segmentBytes?: number
  timeoutMs?: number
  /** How many ranks' data an average holds (see CollectiveContext.contributors). */
  contributors?: { contributors(): number }
  /** The collective's timeline record when recording: reduction time is added to `r` (µs). */
  trace?: { r?: number }
  /** Carried by every message of this collective, for the other ranks to compare with their call. */
  sig: FullSignature
  /** The host collectives, where this communicator has them (the world of a one-host job). */
  host?: HostCollectives
  /**
   * The communicator's mismatch detector: a block that does not fit its receive (counts that disagree with the
   * sender's length) fails the communicator and is told to every member, as a signature that does not match
   * is. Without it, only this collective fails.
   */
  mismatch?: Pick<MismatchDetector, 'found' | 'error'>
}

/**
 * The context of one collective call. A class, not an object of closures: one is made per call, and a method
 * costs nothing to make (under tsx every named closure is also renamed at run time, a measurable part of a
 * small call).
 */
export class CommContext implements CollectiveContext {
  readonly rank: number
  readonly size: number
  readonly nodes?: readonly number[]
  readonly host?: HostRounds
  private readonly spec: ContextSpec
  private readonly transport: Transport
  private readonly commId: number
  private readonly members: readonly number[]

  constructor(spec: ContextSpec) {
    this.spec = spec
    this.transport = spec.transport
    this.commId = spec.commId
    this.members = spec.members
    this.rank = spec.rank
    this.size = spec.members.length
    this.nodes = spec.nodes
    if (spec.host) this.host = new CallRounds(spec, spec.host)
  }

  contributors(): number {
    return this.spec.contributors ? this.spec.contributors.contributors() : this.size
  }

  segmentElements(bytesPerElement: number): number {
    return Math.max(1, Math.floor((this.spec.segmentBytes ?? DEFAULT_SEGMENT_BYTES) / bytesPerElement))
  }

  send(peer: number, tag: number, data: TypedArray): Promise<void> {
    if (this.spec.trace) recorder.count('sent', data.byteLength)
    return this.transport.send(this.members[peer]!, this.commId, tag, dtypeOf(data), asBytes(data), this.spec.sig)
  }

  async recv(peer: number, tag: number, into: TypedArray): Promise<void> {
    const { spec } = this
    try {
      const m = await this.transport.recv(this.commId, this.members[peer]!, tag, { into: asBytes(into), timeoutMs: spec.timeoutMs })
      if (m.payload.byteLength !== into.byteLength || m.dtype !== dtypeOf(into))
        throw misfit(spec, peer, tag, into, { bytes: m.payload.byteLength, dtype: m.dtype })
      if (spec.trace) recorder.count('recv', into.byteLength)
    } catch (err) {
      throw this.failed(err, peer, tag, into)
    }
  }

  async recvReduce(peer: number, tag: number, dst: TypedArray, op: ReduceOp): Promise<void> {
    // Each segment is combined into dst straight from the transport's memory as it arrives.
    const { spec } = this
    try {
      await this.transport.recv(this.commId, this.members[peer]!, tag, {
        sink: new ReduceSink(dst, op, spec.trace),
        timeoutMs: spec.timeoutMs,
      })
      if (spec.trace) recorder.count('recv', dst.byteLength)
    } catch (err) {
      throw this.failed(err, peer, tag, dst)
    }
  }

  async recvAny(peer: number, tag: number): Promise<TypedArray> {
    try {
      const m = await this.transport.recv(this.commId, this.members[peer]!, tag, { timeoutMs: this.spec.timeoutMs })
      if (this.spec.trace) recorder.count('recv', m.payload.byteLength)
      return viewAs(m.dtype, m.payload) as TypedArray
    } catch (err) {
      throw this.failed(err, peer, tag)
    }
  }

  /** What a failed receive throws: a misfit as a mismatch, a timeout that names the peer waited for. */
  private failed(err: unknown, peer: number, tag: number, into?: TypedArray): unknown {
    const { spec } = this
    if (into && err instanceof UsageError) return misfit(spec, peer, tag, into, gotOf(err), err)
    if (err instanceof TimeoutError) {
      return new TimeoutError(
        `rank ${spec.rank} of ${spec.name}: ${spec.what} timed out after ${spec.timeoutMs} ms waiting for rank ${peer}; ` +
          `is rank ${peer} still running, and did it call the same collective?`,
        { cause: err },
      )
    }
    return err
  }
}

/** The host rounds of one call: each checks that every rank called the same collective, as messages do. */
class CallRounds implements HostRounds {
  readonly maxBytes: number
  readonly maxBcastBytes: number
  readonly ranks: readonly number[]
  readonly peerMemory: HostRounds['peerMemory']
  private readonly spec: ContextSpec
  private readonly hc: HostCollectives

  constructor(spec: ContextSpec, hc: HostCollectives) {
    this.spec = spec
    this.hc = hc
    this.maxBytes = hc.maxBytes
    this.maxBcastBytes = hc.maxBcastBytes
    this.peerMemory = hc.peerMemory
    this.ranks = hc.ranks // world ranks; the world communicator's ranks are the same
  }

  round<T>(tag: number, data: Uint8Array | undefined, read: (dataOf: (rank: number) => Uint8Array) => T): Promise<T> {
    return this.hc.round(
      this.signature(tag),
      data,
      (r) => {
        this.check(tag, r)
        return read((q) => r.data(q))
      },
      this.stray(tag),
    )
  }

  bcast(tag: number, root: number, bytes: Uint8Array): Promise<void> {
    return this.hc.bcast(this.signature(tag), this.ranks.indexOf(root), bytes, (r) => this.check(tag, r), this.stray(tag))
  }

  /** The round's signature words: the call's, then its tag (the same on every rank for the same call). */
  private signature(tag: number): number[] {
    const mine = this.spec.sig
    return [mine.coll, mine.op, mine.root, mine.count, mine.dtype, tag]
  }

  /** Throws (and fails the communicator on every member) if a rank of the round called another collective. */
  private check(tag: number, r: HostRound): void {
    for (let p = 0; p < r.size; p++) {
      if (this.ranks[p] === this.spec.rank) continue
      const theirs = { coll: r.signature(p, 0), op: r.signature(p, 1), root: r.signature(p, 2), count: r.signature(p, 3), dtype: r.signature(p, 4) }
      // Another tag: the rank is at another call of the communicator (its earlier one ran by messages).
      const at = r.signature(p, 5)
      if (compatible(this.spec.sig, theirs) && at === tag) continue
      this.mismatch(tag, p, theirs, at === tag ? '' : ` (its collective #${-1 - at})`)
    }
  }

  /** A rank that runs this call by messages while this rank waits for it in a round: the calls do not match. */
  private stray(tag: number): (p: number, theirs: number[]) => void {
    return (p, w) => this.mismatch(tag, p, { coll: w[0]!, op: w[1]!, root: w[2]!, count: w[3]!, dtype: w[4]! }, ' by messages, not in shared memory')
  }

  private mismatch(tag: number, p: number, theirs: FullSignature, how: string): never {
    const { spec } = this
    const mine = spec.sig
    // Fails the communicator on every member, as a message with another signature does; this rank then reports
    // what the communicator failed with (found here or by a peer first), as every member does, not a second text.
    spec.mismatch?.found(tag, spec.members[this.ranks[p]!]!, theirs)
    const failed = spec.mismatch?.error
    if (failed) throw failed
    throw new CollectiveMismatchError(
      `rank ${spec.rank} of ${spec.name}: ${spec.what} (${describeSignature(mine)}) met rank ${this.ranks[p]}'s ${describeSignature(theirs)}${how}; ` +
        'every rank must call the same collectives in the same order',
    )
  }
}

/** Where a reducing receive's segments go: combined into `dst` with `op` as they come. */
class ReduceSink {
  readonly bytes: number
  readonly dtype: number
  private readonly dst: TypedArray
  private readonly op: ReduceOp
  private readonly trace: { r?: number } | undefined

  constructor(dst: TypedArray, op: ReduceOp, trace: { r?: number } | undefined) {
    this.dst = dst
    this.op = op
    this.trace = trace
    this.bytes = dst.byteLength
    this.dtype = dtypeOf(dst)
  }

  write(segment: Uint8Array, offset: number): void {
    const bpe = this.dst.BYTES_PER_ELEMENT
    const from = offset / bpe
    const t0 = this.trace ? performance.now() : 0
    reduceInto(this.op, this.dst.subarray(from, from + segment.byteLength / bpe), viewAs(this.dtype, segment) as TypedArray)
    if (this.trace) this.trace.r = (this.trace.r ?? 0) + (performance.now() - t0) * 1000
  }
}

/** What came instead of what a receive expected. */
interface Came {
  bytes: number
  dtype: number
}

/** What the matcher says came, when a message did not fit its receive (transport/matcher.ts `got`). */
function gotOf(err: Error): Came | undefined {
  return (err as Error & { got?: Came }).got
}

/**
 * A block from `peer` that does not fit the receive it went to (its signature matched: a length the counts did
 * not say, or a larger message). Fails the communicator on every member through the detector, when the context
 * has one, and returns the error for this collective to throw.
 */
function misfit(spec: ContextSpec, peer: number, tag: number, into: TypedArray, came: Came | undefined, cause?: Error) {
  if (spec.mismatch) {
    const dtype = came?.dtype ?? dtypeOf(into)
    const count = came === undefined ? -1 : Math.floor(came.bytes / bytesPerElement(dtype))
    spec.mismatch.found(tag, spec.members[peer]!, { ...spec.sig, count, dtype })
  }
  const got = came === undefined ? 'a larger message' : `${came.bytes} bytes of ${dtypeName(came.dtype)}`
  return new CollectiveMismatchError(
    `rank ${spec.rank} of ${spec.name}: ${spec.what} expected ${into.byteLength} bytes of ${into.constructor.name} from rank ${peer} ` +
      `but got ${got}; every rank must call the same collective with the same element type and length`,
    { cause },
  )
}
