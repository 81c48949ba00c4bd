/** The options objects of the collectives, and the output array some of them fill. */
import { describe, type TypedArray } from '../dtype.ts'
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
