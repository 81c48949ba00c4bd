/**
 * Reduction kernels (gloo math.h): `dst[i] = op(dst[i], src[i])`. Every built-in kernel is commutative bit for
 * bit (Math.min/max order NaN and -0 the same either way round), which is what lets every algorithm give all
 * ranks the same bits: whichever rank combines a pair, it gets the same value. User-defined ops (`defineOp`,
 * MPI's Op.Create) may say they are not commutative; the communicator then combines in rank order.
 */
import { describe } from '../dtype.ts'
import type { TypedArray } from '../dtype.ts'
import { UsageError } from '../errors.ts'
import { BFloat16Bits, Float16Bits, halfBits, halfValue } from '../half.ts'
import { native, NATIVE_OPS } from '../native/native.ts'

/** The built-in reduction operations. `avg` is sum / size; `band`, `bor`, `bxor` are for integers. */
export type BuiltinOp = 'sum' | 'prod' | 'min' | 'max' | 'avg' | 'band' | 'bor' | 'bxor'

/** A reduction made by `defineOp`: `fn(inout, incoming)` combines `incoming` into `inout`, element by element. */
export interface UserOp {
  readonly name: string
  readonly commutative: boolean
  readonly fn: (inout: TypedArray, incoming: TypedArray) => void
}

/**
 * What the reducing calls accept: a built-in op by name, or a user-defined one. Integer `avg` sums in the element
 * type (wrapping like C, as Horovod's does) and rounds the quotient toward minus infinity (Python's `//`,
 * TensorFlow's floordiv).
 */
export type ReduceOp = BuiltinOp | UserOp

export const REDUCE_OPS: readonly BuiltinOp[] = ['sum', 'prod', 'min', 'max', 'avg', 'band', 'bor', 'bxor']
/** Signature code of any user-defined op (after the built-ins' 1..8). */
export const USER_OP_CODE = REDUCE_OPS.length + 1

/**
 * A user-defined reduction (MPI `Op.Create`, gloo's custom reduce function). `fn(inout, incoming)` must write
 * `op(inout[i], incoming[i])` into `inout[i]` for every element; in rank order, `inout` holds the lower ranks'
 * result. Every rank must pass an op of the same name. Non-commutative ops are combined strictly in rank
 * order (r0 ∘ r1 ∘ … ∘ rP-1) by a linear algorithm; commutative ones use the usual size-chosen algorithms, and
 * must then also give the same bits whichever way round they combine, or ranks may end with different bits.
 *
 * @example
 * ```ts
 * const absMax = defineOp('absmax', (inout, incoming) => {
 *   for (let i = 0; i < inout.length; i++) inout[i] = Math.max(Math.abs(inout[i]), Math.abs(incoming[i]))
 * })
 * await world.allreduce(grads, absMax)
 * ```
 */
export function defineOp<T extends TypedArray = TypedArray>(
  name: string,
  fn: (inout: T, incoming: T) => void,
  options: { commutative?: boolean } = {},
): UserOp {
  if (typeof name !== 'string' || name === '') throw new UsageError(`defineOp: name must be a non-empty string, got ${describe(name)}`)
  if (typeof fn !== 'function') throw new UsageError(`defineOp: fn must be a function (inout, incoming) => void, got ${describe(fn)}`)
  return Object.freeze({ name, commutative: options.commutative ?? true, fn: fn as UserOp['fn'] })
}

export const isUserOp = (op: ReduceOp): op is UserOp => typeof op === 'object' && op !== null

const isHalf = (a: TypedArray) => a instanceof Float16Bits || a instanceof BFloat16Bits
const isFloat = (a: TypedArray) => a instanceof Float32Array || a instanceof Float64Array || isHalf(a)
const isBig = (a: TypedArray) => a instanceof BigInt64Array || a instanceof BigUint64Array

/** Throws a UsageError when `op` is unknown or does not apply to the element type of `data`. */
export function checkOp(op: unknown, data: TypedArray): asserts op is ReduceOp {
  if (typeof op === 'object' && op !== null && typeof (op as UserOp).fn === 'function' && typeof (op as UserOp).name === 'string') return
  if (!REDUCE_OPS.includes(op as BuiltinOp)) {
    throw new UsageError(`op must be one of ${REDUCE_OPS.map((o) => `"${o}"`).join(', ')} or an op from defineOp(), got ${describe(op)}`)
  }
  if ((op === 'band' || op === 'bor' || op === 'bxor') && isFloat(data)) {
    throw new UsageError(`op "${op}" needs an integer array, got ${describe(data)}`)
  }
  if (isHalf(data) && op !== 'sum' && op !== 'avg' && op !== 'min' && op !== 'max' && op !== 'prod') {
    throw new UsageError(`op "${op}" does not apply to ${describe(data)}`)
  }
}

/** Signature code of an op: 1..8 built-in, USER_OP_CODE for user-defined ones. */
export function opCode(op: ReduceOp): number {
  return isUserOp(op) ? USER_OP_CODE : REDUCE_OPS.indexOf(op) + 1
}

type Kernel = (dst: TypedArray, src: TypedArray, n: number) => void
type Combine = Exclude<BuiltinOp, 'avg'>

/** The statement that combines element i, per op; `M` is Math, passed in so generated code can reach it. */
const BODY: Record<Combine, { number: string; bigint: string }> = {
  sum: { number: 'd[i] += s[i]', bigint: 'd[i] += s[i]' },
  // Doubles round the low bits of large 32-bit products away; Math.imul wraps as C does (and as tsrun.c does).
  prod: { number: 'd[i] *= s[i]', bigint: 'd[i] *= s[i]' },
  min: { number: 'd[i] = M.min(d[i], s[i])', bigint: 'if (s[i] < d[i]) d[i] = s[i]' },
  max: { number: 'd[i] = M.max(d[i], s[i])', bigint: 'if (s[i] > d[i]) d[i] = s[i]' },
  band: { number: 'd[i] &= s[i]', bigint: 'd[i] &= s[i]' },
  bor: { number: 'd[i] |= s[i]', bigint: 'd[i] |= s[i]' },
  bxor: { number: 'd[i] ^= s[i]', bigint: 'd[i] ^= s[i]' },
}
/**
 * Half kernels: decode both (exact), combine in float32 (the exact double result rounded to float, as a float
 * add or multiply gives), round to the nearest half: what the F16C instructions of tsrun.c's kernel compute.
 */
const HALF: Record<'sum' | 'prod' | 'min' | 'max', string> = {
  sum: 'd[i] = E(M.fround(V(d[i], b) + V(s[i], b)), b)',
  prod: 'd[i] = E(M.fround(V(d[i], b) * V(s[i], b)), b)',
  min: 'd[i] = E(M.min(V(d[i], b), V(s[i], b)), b)',
  max: 'd[i] = E(M.max(V(d[i], b), V(s[i], b)), b)',
}

// One compiled loop per (op, element type): a single shared loop would see every array type and stay
// polymorphic (slow) in V8; a separate function per type stays monomorphic, measured ~3x faster on floats.
const kernels = new Map<string, Kernel>()

function kernelFor(op: Combine, dst: TypedArray): Kernel {
  const key = `${op}/${dst.constructor.name}`
  let k = kernels.get(key)
  if (!k) {
    const wide = dst instanceof Int32Array || dst instanceof Uint32Array
    let body = op === 'prod' && wide ? 'd[i] = M.imul(d[i], s[i])' : BODY[op][isBig(dst) ? 'bigint' : 'number']
    if (isHalf(dst)) body = HALF[op as keyof typeof HALF]
    const make = new Function('M', 'V', 'E', 'b', `return function ${op}_${dst.constructor.name}(d, s, n) { for (let i = 0; i < n; i++) ${body} }`)
    k = make(Math, halfValue, halfBits, dst instanceof BFloat16Bits) as Kernel
    kernels.set(key, k)
  }
  return k
}

/** Below this many elements a JavaScript loop beats the cost of calling into the native module. */
const NATIVE_MIN_ELEMENTS = 64

/**
 * `dst = op(dst, src)` element-wise over `dst.length` elements (`avg` sums; see `finishAvg`), in the native
 * module when it is there (27-30 GB/s against 1.3 for float32 sums here, `npx tsx bench/kernels.ts`); both give
 * the same bits.
 */
export function reduceInto(op: ReduceOp, dst: TypedArray, src: TypedArray): void {
  if (isUserOp(op)) return op.fn(dst, src.length === dst.length ? src : src.subarray(0, dst.length))
  const k = op === 'avg' ? 'sum' : op
  const n = native()
  if (n && dst.length >= NATIVE_MIN_ELEMENTS) {
    if (!isHalf(dst)) return n.reduce(NATIVE_OPS[k], dst, src)
    if (n.reduceHalf) return n.reduceHalf(NATIVE_OPS[k], dst instanceof BFloat16Bits ? 1 : 0, dst, src)
  }
  kernelFor(k, dst)(dst, src, dst.length)
}

/** The JavaScript kernel alone (the fallback), for tests that compare it with the native one. */
export function reduceIntoJs(op: ReduceOp, dst: TypedArray, src: TypedArray): void {
  if (isUserOp(op)) return op.fn(dst, src)
  kernelFor(op === 'avg' ? 'sum' : op, dst)(dst, src, dst.length)
}

/**
 * After a sum, divide by the number of contributing ranks for `avg`: floats divide, integers floor-divide,
 * half-precision arrays divide in float32 and round to the half format.
 */
export function finishAvg(op: ReduceOp, data: TypedArray, divisor: number): void {
  if (op !== 'avg' || divisor === 1) return
  if (isHalf(data)) {
    const bf = data instanceof BFloat16Bits
    for (let i = 0; i < data.length; i++) data[i] = halfBits(Math.fround(halfValue(data[i] as number, bf) / divisor), bf)
  } else if (isBig(data)) {
    const d = data as BigInt64Array
    const n = BigInt(divisor)
    for (let i = 0; i < d.length; i++) {
      const q = d[i]! / n
      d[i] = d[i]! % n !== 0n && d[i]! < 0n ? q - 1n : q
    }
  } else if (isFloat(data)) {
    const n = native()
    if (n && data.length >= NATIVE_MIN_ELEMENTS)
      return n.reduce(NATIVE_OPS.div, data, data instanceof Float32Array ? new Float32Array([divisor]) : new Float64Array([divisor]))
    const d = data as Float64Array
    for (let i = 0; i < d.length; i++) d[i] /= divisor
  } else {
    const d = data as Int32Array
    for (let i = 0; i < d.length; i++) d[i] = Math.floor(d[i]! / divisor)
  }
}

/**
 * The value that leaves every other unchanged under `op` (sum 0, prod 1, min the largest value, ...), in the
 * element type of `like`: what a rank that has joined contributes, and exscan's result on rank 0.
 */
export function fillIdentity<T extends TypedArray>(data: T, op: BuiltinOp): T {
  const big = isBig(data)
  const unsigned =
    data instanceof Uint8Array ||
    data instanceof Uint8ClampedArray ||
    data instanceof Uint16Array ||
    data instanceof Uint32Array ||
    data instanceof BigUint64Array
  const bits = data.BYTES_PER_ELEMENT * 8
  let v: number | bigint
  switch (op) {
    case 'sum':
    case 'avg':
    case 'bor':
    case 'bxor':
      v = 0
      break
    case 'prod':
      v = 1
      break
    case 'band':
      v = unsigned ? (big ? 2n ** 64n - 1n : 2 ** bits - 1) : -1
      break
    case 'min':
      v = isFloat(data) ? Infinity : unsigned ? (big ? 2n ** 64n - 1n : 2 ** bits - 1) : big ? 2n ** 63n - 1n : 2 ** (bits - 1) - 1
      break
    case 'max':
      v = isFloat(data) ? -Infinity : unsigned ? 0 : big ? -(2n ** 63n) : -(2 ** (bits - 1))
      break
  }
  if (isHalf(data)) v = halfBits(v as number, data instanceof BFloat16Bits)
  ;(data as unknown as { fill(v: unknown): void }).fill(big ? BigInt(v) : v)
  return data
}
