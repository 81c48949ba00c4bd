/**
 * Reduction kernels (gloo math.h): `dst[i] = op(dst[i], src[i])`. Every kernel is commutative bit for bit
 * (Math.min/max order NaN and -0 the same either way round), which is what lets every algorithm give all ranks
 * the same bits: whichever rank combines a pair, it gets the same value.
 */
import { describe } from '../dtype.ts'
import type { TypedArray } from '../dtype.ts'
import { UsageError } from '../errors.ts'

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

type Kernel = (dst: any, src: any, n: number) => void

const KERNELS: Record<Exclude<ReduceOp, 'avg'>, Kernel> = {
  sum: (d, s, n) => {
    for (let i = 0; i < n; i++) d[i] += s[i]
  },
  prod: (d, s, n) => {
    for (let i = 0; i < n; i++) d[i] *= s[i]
  },
  min: (d, s, n) => {
    for (let i = 0; i < n; i++) d[i] = Math.min(d[i], s[i])
  },
  max: (d, s, n) => {
    for (let i = 0; i < n; i++) d[i] = Math.max(d[i], s[i])
  },
  band: (d, s, n) => {
    for (let i = 0; i < n; i++) d[i] &= s[i]
  },
  bor: (d, s, n) => {
    for (let i = 0; i < n; i++) d[i] |= s[i]
  },
  bxor: (d, s, n) => {
    for (let i = 0; i < n; i++) d[i] ^= s[i]
  },
}

const BIG_KERNELS: Partial<Record<ReduceOp, Kernel>> = {
  min: (d, s, n) => {
    for (let i = 0; i < n; i++) if (s[i] < d[i]) d[i] = s[i]
  },
  max: (d, s, n) => {
    for (let i = 0; i < n; i++) if (s[i] > d[i]) d[i] = s[i]
  },
}

/** `dst = op(dst, src)` element-wise over `dst.length` elements (`avg` sums; see `finishAvg`). */
export function reduceInto(op: ReduceOp, dst: TypedArray, src: TypedArray): void {
  const kernelOp = op === 'avg' ? 'sum' : op
  const k = (isBig(dst) && BIG_KERNELS[kernelOp]) || KERNELS[kernelOp]
  k(dst, src, dst.length)
}

/** After a sum, divide by the number of ranks for `avg`. */
export function finishAvg(op: ReduceOp, data: TypedArray, size: number): void {
  if (op !== 'avg' || size === 1) return
  const d = data as Float64Array
  for (let i = 0; i < d.length; i++) d[i] /= size
}
