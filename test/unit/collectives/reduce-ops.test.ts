import { expect, test } from 'vitest'
import { checkOp, defineOp, fillIdentity, finishAvg, reduceInto, reduceIntoJs, type ReduceOp } from '../../../src/collectives/reduce-ops.ts'
import type { TypedArray } from '../../../src/dtype.ts'
import { BFloat16Bits, Float16Bits, halfBits, halfValue } from '../../../src/half.ts'
import { native, nativeUnavailable } from '../../../src/native/native.ts'

test('kernels', () => {
  const a = () => new Float64Array([1, -2, 3])
  const b = new Float64Array([4, 5, -6])
  const run = (op: ReduceOp) => {
    const d = a()
    reduceInto(op, d, b)
    return [...d]
  }
  expect(run('sum')).toEqual([5, 3, -3])
  expect(run('prod')).toEqual([4, -10, -18])
  expect(run('min')).toEqual([1, -2, -6])
  expect(run('max')).toEqual([4, 5, 3])
  const i = new Int32Array([0b1100, 0b1010])
  reduceInto('bxor', i, new Int32Array([0b1010, 0b1010]))
  expect([...i]).toEqual([0b0110, 0])
  const avg = new Float32Array([2, 4])
  finishAvg('avg', avg, 2)
  expect([...avg]).toEqual([1, 2])
})

test('min and max are commutative bit for bit, NaN and signed zero included', () => {
  const x = new Float64Array([NaN, -0, 0, 1])
  const y = new Float64Array([1, 0, -0, NaN])
  for (const op of ['min', 'max'] as const) {
    const a = x.slice()
    reduceInto(op, a, y)
    const b = y.slice()
    reduceInto(op, b, x)
    expect(new Uint8Array(a.buffer)).toEqual(new Uint8Array(b.buffer))
  }
})

test('ops that do not fit the element type are UsageErrors', () => {
  expect(() => checkOp('bxor', new Float16Bits(1))).toThrow(/needs an integer array/)
  expect(() => checkOp('band', new Float32Array(1))).toThrow(/needs an integer array/)
  expect(() => checkOp('mean', new Float32Array(1))).toThrow(/op must be one of "sum", "prod"/)
  expect(() => checkOp('bor', new BigInt64Array(1))).not.toThrow()
  expect(() => checkOp('avg', new Int32Array(1))).not.toThrow()
})

test('integer avg floor-divides (toward minus infinity), as Python // and TensorFlow floordiv', () => {
  const i32 = new Int32Array([7, -7, 6, -1, 0])
  finishAvg('avg', i32, 2)
  expect([...i32]).toEqual([3, -4, 3, -1, 0])
  const u8 = new Uint8Array([255, 1])
  finishAvg('avg', u8, 4)
  expect([...u8]).toEqual([63, 0])
  const i64 = new BigInt64Array([7n, -7n, -8n])
  finishAvg('avg', i64, 2)
  expect([...i64]).toEqual([3n, -4n, -4n])
})

test('identity elements leave every value unchanged', () => {
  for (const [op, T, v] of [
    ['sum', Int8Array, 0],
    ['prod', Float32Array, 1],
    ['min', Int16Array, 32767],
    ['max', Int16Array, -32768],
    ['min', Uint32Array, 2 ** 32 - 1],
    ['max', Float64Array, -Infinity],
    ['band', Uint8Array, 255],
    ['band', Int32Array, -1],
  ] as const) {
    expect([...fillIdentity(new (T as new (n: number) => TypedArray)(2), op)]).toEqual([v, v])
  }
  expect([...fillIdentity(new BigUint64Array(1), 'min')]).toEqual([2n ** 64n - 1n])
  expect([...fillIdentity(new BigInt64Array(1), 'max')]).toEqual([-(2n ** 63n)])
})

test('a user op combines with its function; defineOp checks its arguments', () => {
  const op = defineOp<Float64Array>('sumsq', (a, b) => {
    for (let i = 0; i < a.length; i++) a[i] = a[i]! + b[i]! * b[i]!
  })
  const d = new Float64Array([1, 2])
  reduceInto(op, d, new Float64Array([3, 4]))
  expect([...d]).toEqual([10, 18])
  expect(op.commutative).toBe(true)
  expect(() => defineOp('', () => {})).toThrow(/name must be a non-empty string/)
  expect(() => defineOp('x', 3 as never)).toThrow(/fn must be a function/)
  expect(() => checkOp(op, new Int8Array(1))).not.toThrow()
})

test('half kernels: float32 arithmetic rounded to the half format, and the native kernel gives the same bits', () => {
  const a = new Float16Bits(4096)
  const b = new Float16Bits(4096)
  for (let i = 0; i < a.length; i++) {
    a[i] = (i * 7919) & 0xffff
    b[i] = (i * 104729 + 3) & 0xffff
  }
  for (const op of ['sum', 'prod', 'min', 'max'] as const) {
    for (const T of [Float16Bits, BFloat16Bits]) {
      const x = new T(a),
        y = new T(b)
      const js = x.slice() as typeof x
      reduceIntoJs(op, js, y)
      const nat = x.slice() as typeof x
      reduceInto(op, nat, y)
      expect(nat).toEqual(js)
      // Reference: decode, combine in float32, round to nearest even.
      for (let i = 0; i < 64; i++) {
        const f = (v: number) => halfValue(v, T === BFloat16Bits)
        const r = Math.fround(op === 'sum' ? f(x[i]!) + f(y[i]!) : op === 'prod' ? f(x[i]!) * f(y[i]!) : Math[op](f(x[i]!), f(y[i]!)))
        expect(js[i]).toBe(halfBits(r, T === BFloat16Bits))
      }
    }
  }
})

const TYPES = [
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
]
const isFloat = (T: unknown) => T === Float32Array || T === Float64Array

/** Random bits, plus the values where kernels differ most easily: extremes, zeros of both signs, NaN, infinities. */
function randomArray(T: (typeof TYPES)[number], n: number, seed: number): TypedArray {
  const a = new T(n)
  const bytes = new Uint8Array(a.buffer)
  let x = seed
  for (let i = 0; i < bytes.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  if (isFloat(T))
    [NaN, -0, 0, Infinity, -Infinity, 1e-40, -1].forEach((v, i) => {
      ;(a as Float64Array)[i * 7 + (seed % 5)] = v
    })
  return a
}

test('the native kernels give the same bits as the JavaScript ones, every op and type (n = 1000)', () => {
  expect(native(), `native module: ${nativeUnavailable()}`).toBeDefined()
  for (const T of TYPES) {
    for (const op of ['sum', 'prod', 'min', 'max', 'band', 'bor', 'bxor'] as const) {
      if (isFloat(T) && op.startsWith('b')) continue
      const dst = randomArray(T, 1000, 1)
      const src = randomArray(T, 1000, 2)
      const js = dst.slice()
      reduceIntoJs(op, js, src)
      reduceInto(op, dst, src)
      expect(new Uint8Array(dst.buffer), `${op} ${T.name}`).toEqual(new Uint8Array(js.buffer))
    }
  }
})

test("avg's division of float arrays: the native kernel gives the bits of JavaScript's division, every divisor", () => {
  expect(native(), `native module: ${nativeUnavailable()}`).toBeDefined()
  for (const T of [Float32Array, Float64Array]) {
    const data = randomArray(T, 1000, 3) as Float32Array | Float64Array
    data.set([0, -0, Number.NaN, Number.POSITIVE_INFINITY, 1e-45, 3.4e38], 0)
    for (const divisor of [2, 3, 7, 10, 1000]) {
      const got = data.slice()
      finishAvg('avg', got, divisor) // native from 64 elements on
      const want = data.slice()
      for (let i = 0; i < want.length; i++) want[i] = want[i]! / divisor
      expect(new Uint8Array(got.buffer), `${T.name} / ${divisor}`).toEqual(new Uint8Array(want.buffer))
    }
  }
})

test('integer prod wraps like C, not through doubles (native and JavaScript)', () => {
  for (const reduce of [reduceInto, reduceIntoJs]) {
    const n = 100 // above the native threshold
    const a = new Int32Array(n).fill(2147483647)
    a[1] = 65537
    a[2] = -2147483647
    const b = a.slice()
    reduce('prod', a, b)
    expect([...a.subarray(0, 3)]).toEqual([1, Math.imul(65537, 65537), 1])
    const u = new Uint32Array(n).fill(4294967295)
    reduce('prod', u, u.slice())
    expect(u[0]).toBe(1)
  }
})
