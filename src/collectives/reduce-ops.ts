/**
 * Reduction kernels (gloo math.h): `dst[i] = op(dst[i], src[i])`. Every kernel is commutative bit for bit
 * (Math.min/max order NaN and -0 the same either way round), which is what lets every algorithm give all ranks
 * the same bits: whichever rank combines a pair, it gets the same value.
 */
import { describe } from '../dtype.ts'
import type { TypedArray } from '../dtype.ts'
import { UsageError } from '../errors.ts'
import { native, NATIVE_OPS } from '../native/native.ts'

/** Reduction operations. `avg` is sum / size (floats only); `band`, `bor`, `bxor` are for integers. */
export type ReduceOp = 'sum' | 'prod' | 'min' | 'max' | 'avg' | 'band' | 'bor' | 'bxor'

export const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'prod', 'min', 'max', 'avg', 'band', 'bor', 'bxor']

const isFloat = (a: TypedArray) => a instanceof Float32Array || a instanceof Float64Array
const isBig = (a: TypedArray) => a instanceof BigInt64Array || a instanceof BigUint64Array

/** Throws a UsageError when `op` is unknown or does not apply to the element type of `data`. */
export function checkOp(op: unknown, data: TypedArray): asserts op is ReduceOp {
  if (!REDUCE_OPS.includes(op as ReduceOp)) {
    throw new UsageError(`op must be one of ${REDUCE_OPS.map((o) => `"${o}"`).join(', ')}, got ${describe(op)}`)
  }
  if (op === 'avg' && !isFloat(data)) {
    throw new UsageError(`op "avg" needs a Float32Array or Float64Array, got ${describe(data)}; use "sum" and divide`)
  }
  if ((op === 'band' || op === 'bor' || op === 'bxor') && isFloat(data)) {
    throw new UsageError(`op "${op}" needs an integer array, got ${describe(data)}`)
  }
}

type Kernel = (dst: TypedArray, src: TypedArray, n: number) => void

/** The statement that combines element i, per op; `M` is Math, passed in so generated code can reach it. */
const BODY: Record<Exclude<ReduceOp, 'avg'>, { number: string; bigint: string }> = {
  sum: { number: 'd[i] += s[i]', bigint: 'd[i] += s[i]' },
  // Doubles round the low bits of large 32-bit products away; Math.imul wraps as C does (and as tsrun.c does).
  prod: { number: 'd[i] *= s[i]', bigint: 'd[i] *= s[i]' },
  min: { number: 'd[i] = M.min(d[i], s[i])', bigint: 'if (s[i] < d[i]) d[i] = s[i]' },
  max: { number: 'd[i] = M.max(d[i], s[i])', bigint: 'if (s[i] > d[i]) d[i] = s[i]' },
  band: { number: 'd[i] &= s[i]', bigint: 'd[i] &= s[i]' },
  bor: { number: 'd[i] |= s[i]', bigint: 'd[i] |= s[i]' },
  bxor: { number: 'd[i] ^= s[i]', bigint: 'd[i] ^= s[i]' },
}

// One compiled loop per (op, element type): a single shared loop would see every array type and stay
// polymorphic (slow) in V8; a separate function per type stays monomorphic, measured ~3x faster on floats.
const kernels = new Map<string, Kernel>()

function kernelFor(op: Exclude<ReduceOp, 'avg'>, dst: TypedArray): Kernel {
  const key = `${op}/${dst.constructor.name}`
  let k = kernels.get(key)
  if (!k) {
    const wide = dst instanceof Int32Array || dst instanceof Uint32Array
    const body = op === 'prod' && wide ? 'd[i] = M.imul(d[i], s[i])' : BODY[op][isBig(dst) ? 'bigint' : 'number']
    const make = new Function('M', `return function ${op}_${dst.constructor.name}(d, s, n) { for (let i = 0; i < n; i++) ${body} }`)
    k = make(Math) as Kernel
    kernels.set(key, k)
  }
  return k
}

/** Below this many elements a JavaScript loop beats the cost of calling into the native module. */
const NATIVE_MIN_ELEMENTS = 64

/**
 * `dst = op(dst, src)` element-wise over `dst.length` elements (`avg` sums; see `finishAvg`), in the native
 * module when it is there (12 GB/s against 1.3 for float32 sums here, `npx tsx bench/kernels.ts`); both give
 * the same bits.
 */
export function reduceInto(op: ReduceOp, dst: TypedArray, src: TypedArray): void {
  const k = op === 'avg' ? 'sum' : op
  const n = native()
  if (n && dst.length >= NATIVE_MIN_ELEMENTS) return n.reduce(NATIVE_OPS[k], dst, src)
  kernelFor(k, dst)(dst, src, dst.length)
}

/** The JavaScript kernel alone (the fallback), for tests that compare it with the native one. */
export function reduceIntoJs(op: ReduceOp, dst: TypedArray, src: TypedArray): void {
  kernelFor(op === 'avg' ? 'sum' : op, dst)(dst, src, dst.length)
}

/** After a sum, divide by the number of ranks for `avg`. */
export function finishAvg(op: ReduceOp, data: TypedArray, size: number): void {
  if (op !== 'avg' || size === 1) return
  const d = data as Float64Array
  for (let i = 0; i < d.length; i++) d[i] /= size
}
