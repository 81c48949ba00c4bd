/**
 * Half-precision numbers on the wire (Horovod's `Compression.fp16`): IEEE float16 and bfloat16 values kept as
 * 16-bit patterns in `Float16Bits` / `BFloat16Bits` arrays (Uint16Array subclasses that tsrun sends, receives
 * and reduces as their own element types), and the conversions to and from Float32Array. Rounding is to
 * nearest, ties to even, straight from the double value (no double rounding); overflow gives ±Infinity.
 */
import { native } from './native/native.ts'

/** float16 bit patterns (1 sign, 5 exponent, 10 mantissa bits): a TypedArray tsrun reduces as float16. */
export class Float16Bits extends Uint16Array {}
/** bfloat16 bit patterns (1 sign, 8 exponent, 7 mantissa bits: float32's range): reduced as bfloat16. */
export class BFloat16Bits extends Uint16Array {}

/** A 16-bit float format: mantissa bits, exponent bias, smallest normal exponent. */
interface Format {
  mant: number
  bias: number
  /** The value from which rounding gives Infinity. */
  overflow: number
  nan: number
}
const F16: Format = { mant: 10, bias: 15, overflow: 65520, nan: 0x7e00 }
const BF16: Format = { mant: 7, bias: 127, overflow: (2 - 2 ** -8) * 2 ** 127, nan: 0x7fc0 }

function roundEven(v: number): number {
  const f = Math.floor(v)
  const d = v - f
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f + (f & 1)
}

/** 2^k for k in [-1100, 1100), so the encoder scales without Math.pow. */
const POW2 = Float64Array.from({ length: 2200 }, (_, i) => 2 ** (i - 1100))
const scratch = new Float64Array(1)
const scratchHi = new Uint32Array(scratch.buffer, 4, 1) // little-endian: the sign and exponent word

function encode(x: number, f: Format): number {
  if (Number.isNaN(x)) return f.nan
  scratch[0] = x
  const hi = scratchHi[0]!
  const sign = (hi >>> 16) & 0x8000
  const a = Math.abs(x)
  if (a >= f.overflow) return ((2 * f.bias + 1) << f.mant) | sign
  const e = ((hi >>> 20) & 0x7ff) - 1023
  const emin = 1 - f.bias
  // Subnormal (or zero): the pattern is the value in units of the smallest subnormal, rounded.
  if (e < emin) return sign | roundEven(a * POW2[f.mant - emin + 1100]!)
  // Normal: q carries the implicit bit, so it adds one to the exponent field; a carry out of the mantissa
  // rounds into the next binade by itself.
  return sign | (((e + f.bias - 1) << f.mant) + roundEven(a * POW2[f.mant - e + 1100]!))
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
 * `values` rounded to float16 (or bfloat16), as a new Float16Bits (BFloat16Bits) array, or written into `into`
 * (at least as long as `values`, of the format's class).
 *
 * @example
 * ```ts
 * const half = toHalf(new Float32Array([1, 0.1]))      // Float16Bits [0x3c00, 0x2e66]
 * const back = fromHalf(half)                          // Float32Array [1, 0.0999755859375]
 * ```
 */
export function toHalf(values: ArrayLike<number>, format: 'fp16' | 'bf16' = 'fp16', into?: Float16Bits | BFloat16Bits): Float16Bits | BFloat16Bits {
  const out = into ?? (format === 'bf16' ? new BFloat16Bits(values.length) : new Float16Bits(values.length))
  const n = native()
  if (n?.halfConvert && (values instanceof Float32Array || values instanceof Float64Array) && values.length >= 64) {
    n.halfConvert(format === 'bf16' ? 1 : 0, values, out)
    return out
  }
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
  const n = native()
  if (n?.halfConvert && bits.length >= 64) {
    n.halfConvert(bits instanceof BFloat16Bits ? 1 : 0, bits, into)
    return into
  }
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
