// How an elastic job's state moves (elastic/transfer.ts): which holders send to a member that lacks it, and how
// the arrays are cut into a part per sender (the parts tile the arrays exactly, at element boundaries, in about
// equal bytes).
import { expect, test } from 'vitest'
import type { TypedArray } from '../../../src/dtype.ts'
import { cutIntoParts, sendersFor } from '../../../src/elastic/transfer.ts'

/** Every element of every array, by the part that holds it: each exactly once. */
function owners(arrays: TypedArray[], parts: [number, number, number][][]): number[][] {
  const seen = arrays.map((a) => new Array<number>(a.length).fill(-1))
  parts.forEach((pieces, j) => {
    for (const [i, s, e] of pieces) {
      expect(e).toBeGreaterThan(s)
      for (let k = s; k < e; k++) {
        expect(seen[i]![k]).toBe(-1)
        seen[i]![k] = j
      }
    }
  })
  return seen
}

test('two arrays of different element sizes over two holders: one each when the bytes split there', () => {
  expect(cutIntoParts([new Float32Array(4), new Float64Array(2)], 2)).toEqual([[[0, 0, 4]], [[1, 0, 2]]])
})

test.each([1, 2, 3, 5, 8])('%i holders: every element in exactly one part, parts within one element of equal bytes', (n) => {
  const arrays: TypedArray[] = [new Float32Array(1001), new Int32Array(3), new Float64Array(77), new Uint8Array(5), new Float32Array(0), new Int16Array(999)]
  const parts = cutIntoParts(arrays, n)
  expect(parts).toHaveLength(n)
  const seen = owners(arrays, parts)
  expect(seen.flat().every((j) => j >= 0)).toBe(true)
  // Pieces of a part come in array order, and part j's pieces come before part j+1's in each array.
  for (const a of seen) for (let k = 1; k < a.length; k++) expect(a[k]!).toBeGreaterThanOrEqual(a[k - 1]!)
  const total = arrays.reduce((t, a) => t + a.byteLength, 0)
  for (const pieces of parts) {
    const bytes = pieces.reduce((t, [i, s, e]) => t + (e - s) * arrays[i]!.BYTES_PER_ELEMENT, 0)
    expect(Math.abs(bytes - total / n)).toBeLessThanOrEqual(16)
  }
})

test('more holders than elements: some parts are empty, none holds an empty piece', () => {
  const parts = cutIntoParts([new Float64Array(2)], 5)
  expect(parts.flat()).toHaveLength(2)
  expect(parts.filter((p) => p.length === 0)).toHaveLength(3)
})

test('senders: a holder on the same host alone; else the first holder of every host', () => {
  // Ranks 0, 1 on host 0; 2 on host 1; 3, 4 on host 2; 5 on host 3.
  const plan = { commits: 7, holders: [0, 1, 2, 4], needers: [3, 5], nodes: [0, 0, 1, 2, 2, 3] }
  expect(sendersFor(plan, 3)).toEqual([4])
  expect(sendersFor(plan, 5)).toEqual([0, 2, 4])
  expect(sendersFor({ commits: 1, holders: [1], needers: [0], nodes: [0, 1] }, 0)).toEqual([1])
})
