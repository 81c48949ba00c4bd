import { expect, test } from 'vitest'
import { giveScratch, scratchLike, takeScratch } from '../../../src/collectives/scratch.ts'

test('a scratch buffer given back is handed out again for the same size; small ones are never pooled', () => {
  const a = takeScratch(Float32Array, 1 << 16, 4)
  giveScratch(a)
  const b = scratchLike(new Float32Array(1 << 16))
  expect(b.buffer).toBe(a.buffer)
  const c = scratchLike(new Float32Array(1 << 16)) // the pool had one: a new buffer now
  expect(c.buffer).not.toBe(a.buffer)
  const small = takeScratch(Int8Array, 100, 1)
  giveScratch(small)
  expect(takeScratch(Int8Array, 100, 1).buffer).not.toBe(small.buffer)
})

test("a view that does not start at the buffer start is not pooled (it is someone else's memory)", () => {
  const owner = new Float64Array(1 << 16)
  giveScratch(owner.subarray(8))
  expect(takeScratch(Float64Array, (1 << 16) - 8, 8).buffer).not.toBe(owner.buffer)
})
