import { expect, test } from 'vitest'
import { checkOp, finishAvg, reduceInto, reduceIntoJs } from '../../../src/collectives/reduce-ops.ts'
import { native, nativeUnavailable } from '../../../src/native/native.ts'

test('kernels', () => {
  const a = () => new Float64Array([1, -2, 3])
  const b = new Float64Array([4, 5, -6])
  const run = (op: any) => {
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
  expect(() => checkOp('avg', new Int32Array(1))).toThrow(/op "avg" needs a Float32Array or Float64Array, got Int32Array\[1\]/)
  expect(() => checkOp('band', new Float32Array(1))).toThrow(/needs an integer array/)
  expect(() => checkOp('mean', new Float32Array(1))).toThrow(/op must be one of "sum", "prod"/)
  expect(() => checkOp('bor', new BigInt64Array(1))).not.toThrow()
})

const TYPES = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array]
const isFloat = (T: unknown) => T === Float32Array || T === Float64Array

/** Random bits, plus the values where kernels differ most easily: extremes, zeros of both signs, NaN, infinities. */
function randomArray(T: (typeof TYPES)[number], n: number, seed: number): any {
  const a = new T(n)
  const bytes = new Uint8Array(a.buffer)
  let x = seed
  for (let i = 0; i < bytes.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    bytes[i] = x >>> 24
  }
  if (isFloat(T)) [NaN, -0, 0, Infinity, -Infinity, 1e-40, -1].forEach((v, i) => ((a as Float64Array)[i * 7 + (seed % 5)] = v))
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
