/**
 * Argument checks of the public calls: each throws a UsageError that says what was expected and what came
 * (execa's timeout.js style), before anything is sent.
 */
import { describe, dtypeOf, type TypedArray } from '../dtype.ts'
import { UsageError } from '../errors.ts'
import { ANY_TAG } from '../transport/transport.ts'

/** Largest user tag. Negative tags are reserved for collectives. */
export const MAX_TAG = 2 ** 30 - 1

export function checkTyped(data: unknown): asserts data is TypedArray {
  if (!ArrayBuffer.isView(data) || data instanceof DataView || dtypeOf(data) === 0) {
    throw new UsageError(`data must be a TypedArray (Float32Array, Int32Array, ...), got ${describe(data)}`)
  }
}

/** `r` must be a rank of a communicator of `size` called `name`. */
export function checkRank(r: number, what: string, size: number, name: string): void {
  if (!Number.isInteger(r) || r < 0 || r >= size) {
    throw new UsageError(`${what} must be a rank from 0 to ${size - 1} in ${name} (size ${size}), got ${describe(r)}`)
  }
}

export function checkTag(tag: number, wildcardOk: boolean): number {
  if (wildcardOk && tag === ANY_TAG) return tag
  if (!Number.isInteger(tag) || tag < 0 || tag > MAX_TAG) {
    throw new UsageError(`tag must be an integer from 0 to ${MAX_TAG}${wildcardOk ? ' or ANY_TAG' : ''}, got ${describe(tag)}`)
  }
  return tag
}

export function checkTimeout(timeoutMs: number | undefined): void {
  if (timeoutMs !== undefined && !(timeoutMs >= 0)) throw new UsageError(`timeoutMs must be a number >= 0, got ${describe(timeoutMs)}`)
}

export function checkSegmentBytes(segmentBytes: number | undefined): void {
  if (segmentBytes !== undefined && !(Number.isInteger(segmentBytes) && segmentBytes > 0)) {
    throw new UsageError(`segmentBytes must be a positive integer, got ${describe(segmentBytes)}`)
  }
}
