import { expect, test } from 'vitest'
import { asBytes, describe as describeValue, dtypeName, dtypeOf, viewAs } from '../../src/dtype.ts'

test('every TypedArray kind round-trips through its wire code', () => {
  const samples = [
    new Int8Array([-1]),
    new Uint8Array([1]),
    new Uint8ClampedArray([2]),
    new Int16Array([-3]),
    new Uint16Array([4]),
    new Int32Array([-5]),
    new Uint32Array([6]),
    new Float32Array([0.5]),
    new Float64Array([Math.PI]),
    new BigInt64Array([-7n]),
    new BigUint64Array([8n]),
  ]
  for (const a of samples) {
    const back = viewAs(dtypeOf(a), asBytes(a)) as typeof a
    expect(back.constructor).toBe(a.constructor)
    expect(back[0]).toBe(a[0])
    expect(dtypeName(dtypeOf(a))).toBe(a.constructor.name)
  }
})

test('a misaligned payload is copied into an aligned array', () => {
  const raw = new Uint8Array(9)
  const view = raw.subarray(1) // starts at byte 1: no Float64Array can view it in place
  new DataView(view.buffer, 1).setFloat64(0, 2.5, true)
  const f = viewAs(dtypeOf(new Float64Array(0)), view) as Float64Array
  expect(f[0]).toBe(2.5)
})

test('anything else is a UsageError naming what was given', () => {
  expect(() => dtypeOf([1, 2])).toThrow(/got Array\[2\]/)
  expect(() => dtypeOf(new DataView(new ArrayBuffer(2)))).toThrow(/got DataView/)
  expect(() => dtypeOf('x')).toThrow(/got string "x"/)
  expect(describeValue(3)).toBe('number 3')
})
