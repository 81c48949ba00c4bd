/**
 * Element types that travel on the wire. A one-byte code in each message header tells the receiver which
 * TypedArray to build over the payload, so `recv` returns the sender's element type and length.
 */
import { UsageError } from './errors.ts'
import { BFloat16Bits, Float16Bits } from './half.ts'

/** Any TypedArray that tsrun can send, receive and reduce. */
export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array

/** What `send` accepts: a TypedArray (not copied on the hot path) or a raw ArrayBuffer. */
export type Sendable = TypedArray | ArrayBuffer

type TypedArrayConstructor = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray
  new (length: number): TypedArray
  readonly BYTES_PER_ELEMENT: number
  readonly name: string
}

/** Wire codes. 0 is reserved for "raw ArrayBuffer", JSON carries serialised objects. */
export const DTYPE_ARRAYBUFFER = 0
export const DTYPE_JSON = 12
export const DTYPE_FLOAT16 = 13
export const DTYPE_BFLOAT16 = 14
const CONSTRUCTORS: (TypedArrayConstructor | undefined)[] = [
  undefined,
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
  undefined, // 12: JSON
  Float16Bits,
  BFloat16Bits,
] as TypedArrayConstructor[]

const UINT8 = 2
const CODES = new Map<unknown, number>(CONSTRUCTORS.flatMap((c, i) => (c ? [[c, i] as const] : [])))

/** Wire code of a sendable value; throws UsageError for anything else (DataView, plain arrays, Float16Array). */
export function dtypeOf(data: unknown, what = 'data'): number {
  if (data instanceof ArrayBuffer) return DTYPE_ARRAYBUFFER
  if (Buffer.isBuffer(data)) return UINT8 // Node's Buffer is a Uint8Array
  const code = data !== null && typeof data === 'object' ? CODES.get(data.constructor) : undefined
  if (code === undefined || code === 0) {
    throw new UsageError(`${what} must be a TypedArray (Float32Array, Int32Array, ...) or an ArrayBuffer, got ${describe(data)}`)
  }
  return code
}

/** Size in bytes of one element of a wire type (1 for raw bytes and JSON). */
export function bytesPerElement(code: number): number {
  return CONSTRUCTORS[code]?.BYTES_PER_ELEMENT ?? 1
}

/** Human name of a wire type, for error messages. */
export function dtypeName(code: number): string {
  if (code === DTYPE_ARRAYBUFFER) return 'ArrayBuffer'
  if (code === DTYPE_JSON) return 'JSON'
  return CONSTRUCTORS[code]?.name ?? `dtype#${code}`
}

/** True if the code names a type this module knows. */
export function isKnownDtype(code: number): boolean {
  return code === DTYPE_ARRAYBUFFER || code === DTYPE_JSON || CONSTRUCTORS[code] !== undefined
}

/**
 * Builds the sender's element type over received bytes without copying when the bytes are aligned for it;
 * copies otherwise (a view must start at a multiple of the element size).
 */
export function viewAs(code: number, bytes: Uint8Array): Sendable {
  if (code === DTYPE_ARRAYBUFFER || code === DTYPE_JSON) {
    return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
      ? (bytes.buffer as ArrayBuffer)
      : (bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer)
  }
  const Ctor = CONSTRUCTORS[code]!
  const size = Ctor.BYTES_PER_ELEMENT
  if (bytes.byteOffset % size === 0) return new Ctor(bytes.buffer, bytes.byteOffset, bytes.byteLength / size)
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  return new Ctor(copy.buffer, 0, bytes.byteLength / size)
}

/**
 * `dst.set(src, offset)` for two arrays of the same element kind (bigint into bigint, number into number;
 * mixing them throws TypeError, as `set` does).
 */
export function copyInto(dst: TypedArray, src: TypedArray, offset = 0): void {
  // On the union, TypeScript intersects the members' `set` parameters to `ArrayLike<number> & ArrayLike<bigint>`,
  // which no array satisfies; the cast is type-only, and callers pass matching kinds.
  dst.set(src as never, offset)
}

/** True when two views share at least one byte of memory (an `into` that is, or overlaps, the input). */
export function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength
}

/** A byte view of a sendable value over the same memory. */
export function asBytes(data: Sendable): Uint8Array {
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

/** Short description of a value for error messages: `Float32Array[10]`, `number 3`, `string "x"`. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'undefined'
  if (ArrayBuffer.isView(value)) {
    const length = 'length' in value ? (value as { length: number }).length : value.byteLength
    return `${value.constructor.name}[${length}]`
  }
  if (value instanceof ArrayBuffer) return `ArrayBuffer(${value.byteLength} bytes)`
  if (Array.isArray(value)) return `Array[${value.length}]`
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`
  if (typeof value === 'object') return `${value.constructor?.name ?? 'object'}`
  return `${typeof value} ${String(value)}`
}

/** @internal JSON payload of the object calls; `undefined` travels as an empty payload. */
export function encodeJson(value: unknown): Uint8Array {
  if (value === undefined) return new Uint8Array(0)
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (err) {
    // BigInt, cycles, a throwing toJSON: the user's value, so a UsageError that says what to do.
    throw new UsageError(`value must be JSON-serialisable, got ${describe(value)}: ${(err as Error).message}; convert it first (e.g. BigInt to string)`, {
      cause: err,
    })
  }
  if (text === undefined) throw new UsageError(`value must be JSON-serialisable, got ${describe(value)}`)
  return Buffer.from(text)
}

/** @internal */
export function decodeJson(bytes: Uint8Array): unknown {
  return bytes.byteLength === 0 ? undefined : JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString())
}
