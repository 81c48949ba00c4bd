import { describe, expect, test } from 'vitest'
import { parseElasticRange } from '../../../src/elastic/keys.ts'
import { elasticSlice } from '../../../src/elastic/sampler.ts'
import { UsageError } from '../../../src/errors.ts'

describe('elasticSlice', () => {
  /** Walks one epoch of `length` positions with the world size changing as `sizes` says, step by step. */
  const walk = (length: number, globalBatch: number, sizes: number[]) => {
    const seen = new Uint8Array(length)
    let offset = 0
    let step = 0
    while (offset < length) {
      const size = sizes[Math.min(step, sizes.length - 1)]!
      let next = -1
      for (let rank = 0; rank < size; rank++) {
        const s = elasticSlice({ offset, globalBatch, length, rank, size })
        for (let p = s.start; p < s.end; p++) seen[p]!++
        next = s.next
      }
      offset = next
      step++
    }
    return { seen, steps: step }
  }

  test.each([
    [600, 24, [3]],
    [1000, 40, [4, 4, 3, 3, 3, 4]],
    [101, 7, [5, 1, 2, 7, 3]],
    [5, 8, [7]], // fewer positions than ranks in the only step
  ])('%i positions, global batch %i, world sizes %j: every position exactly once', (length, batch, sizes) => {
    const { seen, steps } = walk(length, batch, sizes)
    expect([...seen].every((c) => c === 1)).toBe(true)
    expect(steps).toBe(Math.ceil(length / batch))
  })

  test('the slices of a step split it as evenly as possible, in rank order', () => {
    const parts = [0, 1, 2].map((rank) => elasticSlice({ offset: 10, globalBatch: 8, length: 100, rank, size: 3 }))
    expect(parts.map((p) => [p.start, p.end])).toEqual([
      [10, 13],
      [13, 16],
      [16, 18],
    ])
    expect(parts.every((p) => p.next === 18)).toBe(true)
  })

  test('bad input is a UsageError naming the field', () => {
    expect(() => elasticSlice({ offset: -1, globalBatch: 8, length: 10, rank: 0, size: 1 })).toThrow(/offset must be a whole number/)
    expect(() => elasticSlice({ offset: 0, globalBatch: 8, length: 10, rank: 2, size: 2 })).toThrow(UsageError)
    expect(() => elasticSlice({ offset: 0, globalBatch: 0, length: 10, rank: 0, size: 1 })).toThrow(/globalBatch must be at least 1/)
  })
})

describe('parseElasticRange', () => {
  test.each([
    ['2:4', 4, { min: 2, max: 4 }],
    ['2:', 3, { min: 2, max: 3 }],
    [':6', 4, { min: 1, max: 6 }],
    ['3', 5, { min: 3, max: 5 }],
  ])('%s with -np %i', (text, np, want) => {
    expect(parseElasticRange(text, np)).toEqual(want)
  })

  test.each([
    ['5:3', 4, /MAX \(3\) is below MIN \(5\)/],
    ['0:3', 2, /MIN must be at least 1/],
    ['2:3', 4, /needs -np between 2 and 3, got -np 4/],
    ['a:b', 2, /takes MIN:MAX/],
  ])('%s with -np %i is refused', (text, np, message) => {
    expect(parseElasticRange(text, np)).toMatch(message)
  })
})
