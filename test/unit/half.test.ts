import { expect, test } from 'vitest'
import { BFloat16Bits, Float16Bits, fromHalf, halfBits, halfValue as halfValueOf, toHalf } from '../../src/half.ts'

test('float16: known bit patterns, rounding to nearest even, subnormals, overflow, NaN and -0', () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [65504, 0x7bff],
    [65519, 0x7bff],
    [65520, 0x7c00],
    [Infinity, 0x7c00],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000],
    [3 * 2 ** -26, 0x0001],
    [2 ** -14, 0x0400],
    [-0, 0x8000],
    [0, 0],
    [1 + 2 ** -11, 0x3c00],
    [1 + 3 * 2 ** -11, 0x3c02],
    [2047, 0x67ff],
    [2049, 0x6800],
  ]
  for (const [x, bits] of cases) expect([x, halfBits(x, false)]).toEqual([x, bits])
  expect(halfBits(NaN, false)).toBe(0x7e00)
  expect([...fromHalf(toHalf([1, 0.1, -0]))]).toEqual([1, 0.0999755859375, -0])
  expect(toHalf([1])).toBeInstanceOf(Float16Bits)
})

test('bfloat16: the top half of float32 rounded to nearest even', () => {
  const f32 = new Float32Array(1)
  const u32 = new Uint32Array(f32.buffer)
  for (const x of [1, -Math.PI, 1e30, 1e-40, 65504, 0.1, 3.3895313892515355e38]) {
    f32[0] = x
    const hi = u32[0]! >>> 16
    const lo = u32[0]! & 0xffff
    const rounded = lo > 0x8000 || (lo === 0x8000 && hi & 1) ? hi + 1 : hi
    // From the double directly: agrees with rounding float32 whenever the float32 was exact (these are, or close).
    if (Math.fround(x) === x) expect(halfBits(x, true)).toBe(rounded)
  }
  expect(halfBits(3.4e38, true)).toBe(0x7f80) // beyond bf16's largest finite: Infinity
  const b = toHalf([2.5, -1], 'bf16')
  expect(b).toBeInstanceOf(BFloat16Bits)
  expect([...fromHalf(b)]).toEqual([2.5, -1])
})

test('every float16 pattern decodes and encodes back to itself (NaNs to the canonical NaN)', () => {
  const all = new Float16Bits(65536).map((_, i) => i)
  const back = toHalf(fromHalf(all))
  for (let i = 0; i < 65536; i++) {
    const nanPattern = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0
    expect(back[i]).toBe(nanPattern ? 0x7e00 : i)
  }
})

test('the native converter rounds exactly as the JavaScript one, on random doubles of every magnitude', () => {
  const xs = new Float64Array(20_000)
  let seed = 7
  for (let i = 0; i < xs.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0
    xs[i] = (seed / 2 ** 32 - 0.5) * 2 ** ((seed % 80) - 40) // 2^-40 .. 2^40, both signs
  }
  const f32 = Float32Array.from(xs)
  f32[0] = NaN
  f32[1] = -Infinity
  f32[2] = 65520 // rounds to Infinity in float16
  for (const [format, bf] of [
    ['fp16', false],
    ['bf16', true],
  ] as const) {
    for (const src of [xs, f32]) {
      const native = toHalf(src, format) // long enough for the native path when it is built
      for (let i = 0; i < src.length; i++)
        if (native[i] !== halfBits(src[i]!, bf)) expect([format, src[i], native[i]]).toEqual([format, src[i], halfBits(src[i]!, bf)])
      // and back: exact
      const back = fromHalf(native)
      for (let i = 0; i < 50; i++) expect(Object.is(back[i], Math.fround(halfValueOf(native[i]!, bf)))).toBe(true)
    }
  }
})
