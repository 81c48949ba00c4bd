/** The options objects of the calls, what point-to-point receives resolve to, and the output array some collectives fill. */
import { describe, type Sendable, type TypedArray } from '../dtype.ts'
import { UsageError } from '../errors.ts'

/** Options of every collective (the last argument). */
export interface CollectiveOptions {
  /** Run this algorithm instead of the one the size table picks (e.g. "ring"). */
  algorithm?: string
  /** Segment size of pipelined algorithms in bytes (default 1 MiB); small values exercise multi-segment paths. */
  segmentBytes?: number
  /** Fail with TimeoutError when a step waits longer than this for a peer. */
  timeoutMs?: number
}

/** Options of the collectives that make a new array: `into` receives the result instead (MPI's recvbuf). */
export interface OutputOptions<T> extends CollectiveOptions {
  /**
   * Write the result here instead of a new array: the same element type and exactly the result's length. In a
   * loop, this saves allocating (and the kernel zeroing) a new array per call.
   */
  into?: T
}

/** `into` when given (checked), else a new array of `length` elements like `like`. */
export function outputFor<T extends TypedArray>(what: string, like: T, length: number, into: T | undefined): T {
  if (into === undefined) return new (like.constructor as new (n: number) => T)(length)
  if (!ArrayBuffer.isView(into) || into.constructor !== like.constructor || into.length !== length) {
    throw new UsageError(`${what}: into must be a ${like.constructor.name} of ${length} elements (the result), got ${describe(into)}`)
  }
  return into
}

/** Options of point-to-point calls. */
export interface P2POptions {
  /** Message tag, 0..2^30-1 (default 0); on receive also ANY_TAG. */
  tag?: number
  /** Fail with TimeoutError after this many milliseconds (receive only; default: wait forever). */
  timeoutMs?: number
}

/** Options of `recv`. */
export interface RecvOptions extends P2POptions {
  /**
   * Receive into this array instead of a new one (MPI style; the fast path for large messages: no allocation,
   * segments land in place). It must be at least as large as the message; `data` is then a view of it.
   */
  into?: Sendable
}

/** Options of the send-and-receive calls: `tag` tags the send, `recvTag` (default ANY_TAG) selects the receive. */
export type SendRecvOptions<O extends P2POptions = P2POptions> = O & { recvTag?: number }

/** What `recv` resolves to. */
export interface Received<T = Sendable> {
  /** The payload, with the sender's element type and length. */
  data: T
  /** Sender's rank in this communicator. */
  source: number
  tag: number
}

/** What `recvObject` resolves to. */
export interface ReceivedObject<T = unknown> {
  value: T
  /** Sender's rank in this communicator. */
  source: number
  tag: number
}

/** What `probe` and `iprobe` tell of a message that has arrived and waits to be received. */
export interface ProbeStatus {
  /** Sender's rank in this communicator. */
  source: number
  tag: number
  /** Payload size in bytes. */
  bytes: number
  /** Number of elements of the sender's element type (bytes for an ArrayBuffer or a JSON value). */
  count: number
  /** The sender's element type: "Float32Array", ..., "ArrayBuffer", or "JSON" (sent with sendObject). */
  type: string
}

/** Options of the reducing calls that can scale or compress (allreduce, groupedAllreduce). */
export interface ReduceOptions extends CollectiveOptions {
  /** Multiply every element by this before reducing (floats only; Horovod's prescale_factor). */
  prescale?: number
  /** Multiply every element of the result by this (floats only; Horovod's postscale_factor). */
  postscale?: number
  /**
   * Send float16 (`'fp16'`) or bfloat16 (`'bf16'`) on the wire and reduce in it (Horovod's Compression.fp16):
   * half the bytes of float32, at half precision (about 3 significant digits for fp16). Float arrays; sum,
   * avg, min, max.
   */
  compression?: 'none' | 'fp16' | 'bf16'
}
