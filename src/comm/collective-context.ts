/** The CollectiveContext of a communicator: typed-array sends and receives between its ranks, on the transport. */
import type { CollectiveContext } from '../collectives/context.ts'
import { DEFAULT_SEGMENT_BYTES } from '../constants.ts'
import { asBytes, bytesPerElement, dtypeName, dtypeOf, viewAs, type TypedArray } from '../dtype.ts'
import { CollectiveMismatchError, UsageError } from '../errors.ts'
import { reduceInto } from '../collectives/reduce-ops.ts'
import type { MismatchDetector } from './mismatch.ts'
import type { Signature } from '../transport/transport.ts'
import type { Transport } from '../transport/transport.ts'
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
  contributors?: () => number
  /** The collective's timeline record when recording: reduction time is added to `r` (µs). */
  trace?: { r?: number }
  /** Carried by every message of this collective, for the other ranks to compare with their call. */
  sig: Signature
  /**
   * The communicator's mismatch detector: a block that does not fit its receive (counts that disagree with the
   * sender's length) fails the communicator and is told to every member, as a signature that does not match
   * is. Without it, only this collective fails.
   */
  mismatch?: Pick<MismatchDetector, 'found'>
}

export function collectiveContext(spec: ContextSpec): CollectiveContext {
  const { transport, commId, members, rank } = spec
  const segmentBytes = spec.segmentBytes ?? DEFAULT_SEGMENT_BYTES
  const describeWait = (peer: number) => () =>
    `rank ${rank} of ${spec.name}: ${spec.what} timed out after ${spec.timeoutMs} ms waiting for rank ${peer}; ` +
    `is rank ${peer} still running, and did it call the same collective?`
  return {
    rank,
    size: members.length,
    nodes: spec.nodes,
    contributors: spec.contributors,
    segmentElements: (bytesPerElement) => Math.max(1, Math.floor(segmentBytes / bytesPerElement)),
    send: (peer, tag, data) => {
      if (spec.trace) recorder.count('sent', data.byteLength)
      return transport.send(members[peer], commId, tag, dtypeOf(data), asBytes(data), spec.sig)
    },
    async recv(peer, tag, into) {
      try {
        const m = await transport.recv(commId, members[peer], tag, { into: asBytes(into), timeoutMs: spec.timeoutMs, describeWait: describeWait(peer) })
        if (m.payload.byteLength !== into.byteLength || m.dtype !== dtypeOf(into))
          throw misfit(spec, peer, tag, into, { bytes: m.payload.byteLength, dtype: m.dtype })
        if (spec.trace) recorder.count('recv', into.byteLength)
      } catch (err) {
        if (err instanceof UsageError) throw misfit(spec, peer, tag, into, gotOf(err), err)
        throw err
      }
    },
    async recvReduce(peer, tag, dst, op) {
      // Each segment is combined into dst straight from the transport's memory as it arrives.
      const dtype = dtypeOf(dst)
      const bpe = dst.BYTES_PER_ELEMENT
      const { trace } = spec
      const write = (segment: Uint8Array, offset: number) => {
        const from = offset / bpe
        const t0 = trace ? performance.now() : 0
        reduceInto(op, dst.subarray(from, from + segment.byteLength / bpe), viewAs(dtype, segment) as TypedArray)
        if (trace) trace.r = (trace.r ?? 0) + (performance.now() - t0) * 1000
      }
      try {
        await transport.recv(commId, members[peer], tag, {
          sink: { bytes: dst.byteLength, dtype, write },
          timeoutMs: spec.timeoutMs,
          describeWait: describeWait(peer),
        })
        if (trace) recorder.count('recv', dst.byteLength)
      } catch (err) {
        if (err instanceof UsageError) throw misfit(spec, peer, tag, dst, gotOf(err), err)
        throw err
      }
    },
    async recvAny(peer, tag) {
      const m = await transport.recv(commId, members[peer], tag, { timeoutMs: spec.timeoutMs, describeWait: describeWait(peer) })
      if (spec.trace) recorder.count('recv', m.payload.byteLength)
      return viewAs(m.dtype, m.payload) as TypedArray
    },
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
