import { describe, expect, it } from 'vitest'
import { tf } from '../../../src/dl/backend.ts'
import { FusedLayout } from '../../../src/dl/variables.ts'

describe('FusedLayout', () => {
  it('packs whole tensors into buckets under the limit; a larger tensor is a bucket alone', () => {
    const layout = new FusedLayout([[10], [30, 10], [5], [2000], [1]], 1600) // 400 floats per bucket
    expect(layout.length).toBe(10 + 300 + 5 + 2000 + 1)
    expect(layout.buckets.map((b) => [b.from, b.to, b.start, b.end])).toEqual([
      [0, 3, 0, 315],
      [3, 4, 315, 2315],
      [4, 5, 2315, 2316],
    ])
    // Buckets tile the buffer without gaps.
    expect(layout.buckets.every((b, i) => i === 0 || b.start === layout.buckets[i - 1]!.end)).toBe(true)
  })

  it('round-trips tensors through the fused buffer', () => {
    const tensors = [
      tf.tensor([1, 2, 3]),
      tf.tensor([
        [4, 5],
        [6, 7],
      ]),
      tf.tensor([8]),
    ]
    const layout = new FusedLayout(
      tensors.map((t) => t.shape),
      8,
    )
    const buf = new Float32Array(layout.length)
    for (const b of layout.buckets) layout.pack(buf, tensors, b)
    expect([...buf]).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    const back = layout.unpack(buf)
    expect(back.map((t) => t.shape)).toEqual([[3], [2, 2], [1]])
    expect(back.map((t) => [...t.dataSync()])).toEqual([[1, 2, 3], [4, 5, 6, 7], [8]])
    tf.dispose([...tensors, ...back])
  })

  it('rejects a bucket size that is not positive', () => {
    expect(() => new FusedLayout([[1]], 0)).toThrow('bucketBytes must be a positive number of bytes, got 0')
  })
})
