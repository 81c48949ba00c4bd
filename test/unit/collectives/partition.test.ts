import { expect, test } from 'vitest'
import { blockRange, blockSizes, blockStart, floorPow2, mod, segments } from '../../../src/collectives/partition.ts'

test('blocks are as even as possible, the first count % parts one larger, and cover everything', () => {
  expect(blockSizes(10, 3)).toEqual([4, 3, 3])
  expect(blockSizes(2, 4)).toEqual([1, 1, 0, 0])
  expect(blockSizes(0, 3)).toEqual([0, 0, 0])
  for (const [count, parts] of [
    [100_003, 7],
    [5, 5],
    [1, 9],
  ]) {
    expect(blockStart(count, parts, parts)).toBe(count)
    for (let i = 0; i < parts; i++) expect(blockRange(count, parts, i)[1]).toBe(blockRange(count, parts, i + 1)[0])
  }
})

test('segments cut a range into pieces of at most the segment size', () => {
  expect(segments(3, 10, 3)).toEqual([
    [3, 6],
    [6, 9],
    [9, 10],
  ])
  expect(segments(5, 5, 3)).toEqual([])
  expect(segments(0, 2, 0)).toEqual([
    [0, 1],
    [1, 2],
  ])
})

test('floorPow2 and mod', () => {
  expect([1, 2, 3, 5, 8, 9].map(floorPow2)).toEqual([1, 2, 2, 4, 8, 8])
  expect(mod(-1, 5)).toBe(4)
  expect(mod(7, 5)).toBe(2)
})
