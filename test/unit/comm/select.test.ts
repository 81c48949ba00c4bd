// Algorithm tables: the size crossovers, the per-call and environment overrides, and a clear error for a bad name.
import { afterEach, expect, test } from 'vitest'
import { UsageError } from '../../../src/errors.ts'
import { ALGORITHMS, ALLREDUCE_RING_MIN_BYTES, BCAST_SCATTER_ALLGATHER_MIN_BYTES, pick } from '../../../src/comm/select.ts'

afterEach(() => {
  delete process.env.TSRUN_ALLREDUCE_ALGORITHM
  delete process.env.TSRUN_REDUCE_SCATTER_ALGORITHM
})

test('allreduce: recursive doubling below the crossover, ring from it', () => {
  expect(pick('allreduce', ALGORITHMS.allreduce, 4, ALLREDUCE_RING_MIN_BYTES - 1).name).toBe('recursive-doubling')
  expect(pick('allreduce', ALGORITHMS.allreduce, 4, ALLREDUCE_RING_MIN_BYTES).name).toBe('ring')
})

test('broadcast: binomial on 2 ranks at any size; scatter-allgather for large data on more', () => {
  expect(pick('broadcast', ALGORITHMS.broadcast, 2, 64 << 20).name).toBe('binomial')
  expect(pick('broadcast', ALGORITHMS.broadcast, 3, BCAST_SCATTER_ALLGATHER_MIN_BYTES).name).toBe('scatter-allgather')
  expect(pick('broadcast', ALGORITHMS.broadcast, 3, BCAST_SCATTER_ALLGATHER_MIN_BYTES - 1).name).toBe('binomial')
})

test('the call wins over the environment, the environment over the table', () => {
  process.env.TSRUN_ALLREDUCE_ALGORITHM = 'ring'
  expect(pick('allreduce', ALGORITHMS.allreduce, 2, 4).name).toBe('ring')
  expect(pick('allreduce', ALGORITHMS.allreduce, 2, 4, 'recursive-doubling').name).toBe('recursive-doubling')
  process.env.TSRUN_REDUCE_SCATTER_ALGORITHM = 'auto'
  expect(pick('reduceScatter', ALGORITHMS.reduceScatter, 2, 4).name).toBe('ring')
})

test('an unknown name says where it came from and what exists', () => {
  expect(() => pick('allreduce', ALGORITHMS.allreduce, 2, 4, 'tree')).toThrow(UsageError)
  expect(() => pick('allreduce', ALGORITHMS.allreduce, 2, 4, 'tree')).toThrow('algorithm for allreduce must be one of "recursive-doubling", "ring" or "auto", got "tree"')
  process.env.TSRUN_ALLREDUCE_ALGORITHM = 'tree'
  expect(() => pick('allreduce', ALGORITHMS.allreduce, 2, 4)).toThrow('TSRUN_ALLREDUCE_ALGORITHM for allreduce')
})
