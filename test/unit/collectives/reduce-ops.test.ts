import { expect, test } from 'vitest'
import { checkOp, finishAvg, reduceInto } from '../../../src/collectives/reduce-ops.ts'

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
