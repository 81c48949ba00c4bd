/**
 * Half-precision numbers on the wire (Horovod's `Compression.fp16`): IEEE float16 and bfloat16 values kept as
 * 16-bit patterns in `Float16Bits` / `BFloat16Bits` arrays (Uint16Array subclasses that tsrun sends, receives
 * and reduces as their own element types), and the conversions to and from Float32Array. Rounding is to
 * nearest, ties to even, straight from the double value (no double rounding); overflow gives ±Infinity.
 */

/** float16 bit patterns (1 sign, 5 exponent, 10 mantissa bits): a TypedArray tsrun reduces as float16. */
export class Float16Bits extends Uint16Array {}
/** bfloat16 bit patterns (1 sign, 8 exponent, 7 mantissa bits: float32's range): reduced as bfloat16. */
export class BFloat16Bits extends Uint16Array {}

/** A 16-bit float format: mantissa bits, exponent bias, smallest normal exponent. */
interface Format {
  mant: number
  bias: number
  /** Largest finite value and the value from which rounding gives Infinity. */
  max: number
  overflow: number
  nan: number
}
const F16: Format = { mant: 10, bias: 15, max: 65504, overflow: 65520, nan: 0x7e00 }
const BF16: Format = { mant: 7, bias: 127, max: (2 - 2 ** -7) * 2 ** 127, overflow: (2 - 2 ** -8) * 2 ** 127, nan: 0x7fc0 }

function roundEven(v: number): number {
  const f = Math.floor(v)
  const d = v - f
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f + (f & 1)
}

function encode(x: number, f: Format): number {
  if (x !== x) return f.nan
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0
  const a = Math.abs(x)
  const infBits = ((2 * f.bias + 1) << f.mant) | sign
  if (a >= f.overflow) return infBits
  const emin = 1 - f.bias
  if (a < 2 ** emin) return sign | roundEven(a * 2 ** (f.mant - emin)) // subnormal (may round up to the smallest normal)
  let e = Math.floor(Math.log2(a))
  if (2 ** e > a) e-- // log2 can be off by one near powers of two
  else if (2 ** (e + 1) <= a) e++
  let m = roundEven((a / 2 ** e) * 2 ** f.mant)
  if (m === 2 ** (f.mant + 1)) {
    m = 2 ** f.mant
    e++
  }
  return sign | ((e + f.bias) << f.mant) | (m - 2 ** f.mant)
}

let f16Table: Float32Array | undefined
let bf16Table: Float32Array | undefined
function table(f: Format): Float32Array {
  if (f === F16) return (f16Table ??= build(F16))
  return (bf16Table ??= build(BF16))
}
function build(f: Format): Float32Array {
  const t = new Float32Array(65536)
  const emax = 2 * f.bias + 1
  for (let b = 0; b < 65536; b++) {
    const sign = b & 0x8000 ? -1 : 1
    const e = (b & 0x7fff) >> f.mant
    const m = b & ((1 << f.mant) - 1)
    if (e === emax) t[b] = m ? NaN : sign * Infinity
    else if (e === 0) t[b] = sign * m * 2 ** (1 - f.bias - f.mant)
    else t[b] = sign * (1 + m / 2 ** f.mant) * 2 ** (e - f.bias)
  }
  return t
}

const formatOf = (a: Uint16Array): Format => (a instanceof BFloat16Bits ? BF16 : F16)

/**
 * `values` rounded to float16 (or bfloat16), as a new Float16Bits (BFloat16Bits) array.
 *
 * @example
 * ```ts
 * const half = toHalf(new Float32Array([1, 0.1]))      // Float16Bits [0x3c00, 0x2e66]
 * const back = fromHalf(half)                          // Float32Array [1, 0.0999755859375]
 * ```
 */
export function toHalf(values: ArrayLike<number>, format: 'fp16' | 'bf16' = 'fp16'): Float16Bits | BFloat16Bits {
  const out = format === 'bf16' ? new BFloat16Bits(values.length) : new Float16Bits(values.length)
  const f = format === 'bf16' ? BF16 : F16
  for (let i = 0; i < values.length; i++) out[i] = encode(values[i]!, f)
  return out
}

/**
 * The values of a Float16Bits or BFloat16Bits array as float32 (exact: every half value is a float32), written
 * into `into` when given.
 *
 * @example
 * ```ts
 * const grads = fromHalf(await world.allreduce(toHalf(local), 'sum'))
 * ```
 */
export function fromHalf(bits: Float16Bits | BFloat16Bits, into: Float32Array = new Float32Array(bits.length)): Float32Array {
  const t = table(formatOf(bits))
  for (let i = 0; i < bits.length; i++) into[i] = t[bits[i]!]!
  return into
}

/** @internal One half value decoded. */
export function halfValue(bits: number, bf16: boolean): number {
  return table(bf16 ? BF16 : F16)[bits]!
}

/** @internal One value rounded to half bits. */
export function halfBits(x: number, bf16: boolean): number {
  return encode(x, bf16 ? BF16 : F16)
}

/** @internal The largest finite value of a format (the identity of min / max). */
export function halfMax(bf16: boolean): number {
  return (bf16 ? BF16 : F16).max
}
