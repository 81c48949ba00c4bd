// Algorithm tables: the size crossovers, the per-call and environment overrides, and a clear error for a bad name.
import { afterEach, expect, test } from 'vitest'
import { UsageError } from '../../../src/errors.ts'
import { resetSettingsForTests } from '../../../src/settings.ts'
import { allreduceHierarchical } from '../../../src/collectives/allreduce-hierarchical.ts'
import { allreduceHostCopy } from '../../../src/collectives/allreduce-host-copy.ts'
import { allreduceHost, barrierHost, bcastHost, HOST_BCAST_TABLE_BYTES } from '../../../src/collectives/host-shared.ts'
import {
  ALGORITHMS,
  ALLREDUCE_HOST_COPY_MIN_BYTES,
  allreduceRingMinBytes,
  BCAST_SCATTER_ALLGATHER_MIN_BYTES,
  pick,
  ROUND_ALGORITHMS,
} from '../../../src/comm/select.ts'

afterEach(() => {
  delete process.env.TSRUN_ALLREDUCE_ALGORITHM
  delete process.env.TSRUN_REDUCE_SCATTER_ALGORITHM
  resetSettingsForTests()
})

test('allreduce: recursive doubling below the crossover, ring from it (128 KiB on 2 ranks, 512 KiB on more)', () => {
  for (const size of [2, 4]) {
    expect(pick('allreduce', ALGORITHMS.allreduce, size, allreduceRingMinBytes(size) - 1).name).toBe('recursive-doubling')
    expect(pick('allreduce', ALGORITHMS.allreduce, size, allreduceRingMinBytes(size)).name).toBe('ring')
  }
  expect(allreduceRingMinBytes(2)).toBe(128 * 1024)
  expect(allreduceRingMinBytes(4)).toBe(512 * 1024)
})

test('allreduce across hosts with several ranks on a host: hierarchical from 64 KiB; one rank per host stays flat', () => {
  expect(pick('allreduce', ALGORITHMS.allreduce, 6, 64 << 10, undefined, { hosts: 3 }).name).toBe('hierarchical')
  expect(pick('allreduce', ALGORITHMS.allreduce, 6, (64 << 10) - 1, undefined, { hosts: 3 }).name).toBe('recursive-doubling')
  expect(pick('allreduce', ALGORITHMS.allreduce, 3, 16 << 20, undefined, { hosts: 3 }).name).toBe('ring')
})

test('broadcast: binomial on one host at any size; scatter-allgather for large data across hosts on more than 2 ranks', () => {
  expect(pick('broadcast', ALGORITHMS.broadcast, 2, 64 << 20, undefined, { hosts: 2 }).name).toBe('binomial')
  expect(pick('broadcast', ALGORITHMS.broadcast, 4, 64 << 20).name).toBe('binomial')
  expect(pick('broadcast', ALGORITHMS.broadcast, 3, BCAST_SCATTER_ALLGATHER_MIN_BYTES, undefined, { hosts: 3 }).name).toBe('scatter-allgather')
  expect(pick('broadcast', ALGORITHMS.broadcast, 3, BCAST_SCATTER_ALLGATHER_MIN_BYTES - 1, undefined, { hosts: 3 }).name).toBe('binomial')
})

test('with host collectives (the world of a one-host job): shm for barrier, allreduce up to a round, broadcast up to the area where ranks poll', () => {
  const host = { hosts: 1, hostBytes: 1984, hostBcastBytes: HOST_BCAST_TABLE_BYTES }
  expect(pick('allreduce', ALGORITHMS.allreduce, 4, 1984, undefined, host).name).toBe('shm')
  expect(pick('allreduce', ALGORITHMS.allreduce, 4, 1985, undefined, host).name).toBe('recursive-doubling')
  expect(pick('broadcast', ALGORITHMS.broadcast, 4, 0, undefined, host).name).toBe('shm')
  expect(pick('broadcast', ALGORITHMS.broadcast, 4, HOST_BCAST_TABLE_BYTES, undefined, host).name).toBe('shm')
  expect(pick('broadcast', ALGORITHMS.broadcast, 4, HOST_BCAST_TABLE_BYTES + 1, undefined, host).name).toBe('binomial')
  expect(pick('barrier', ALGORITHMS.barrier, 4, 0, undefined, host).name).toBe('shm')
  // Where the ranks can read each other's memory: large allreduces by single copy, on more than two ranks.
  const copy = { ...host, hostCopy: true }
  expect(pick('allreduce', ALGORITHMS.allreduce, 3, ALLREDUCE_HOST_COPY_MIN_BYTES, undefined, copy).name).toBe('shm-copy')
  expect(pick('allreduce', ALGORITHMS.allreduce, 3, ALLREDUCE_HOST_COPY_MIN_BYTES - 1, undefined, copy).name).toBe('recursive-doubling')
  expect(pick('allreduce', ALGORITHMS.allreduce, 2, 64 << 20, undefined, copy).name).toBe('ring')
  expect(pick('allreduce', ALGORITHMS.allreduce, 4, 64 << 20, undefined, host).name).toBe('ring')
  expect(pick('allreduce', ALGORITHMS.allreduce, 6, 64 << 20, undefined, { hosts: 3, hostBytes: 1984, hostCopy: true }).name).toBe('hierarchical')
  // Ranks that sleep (more than cores): broadcasts go by messages; allreduce and barrier keep their rounds.
  const asleep = { hosts: 1, hostBytes: 1984 }
  expect(pick('broadcast', ALGORITHMS.broadcast, 4, 8, undefined, asleep).name).toBe('binomial')
  expect(pick('allreduce', ALGORITHMS.allreduce, 4, 8, undefined, asleep).name).toBe('shm')
  // Across hosts the flat algorithms stay (the hierarchical one uses rounds for small data only when asked).
  expect(pick('allreduce', ALGORITHMS.allreduce, 6, 1984, undefined, { hosts: 3, hostBytes: 1984 }).name).toBe('recursive-doubling')
  expect(pick('barrier', ALGORITHMS.barrier, 6, 0, undefined, { hosts: 3, hostBytes: 1984 }).name).toBe('dissemination')
  // Without them (other communicators, several hosts, shared memory off) nothing changes.
  expect(pick('allreduce', ALGORITHMS.allreduce, 4, 4, undefined, { hosts: 1 }).name).toBe('recursive-doubling')
  expect(pick('broadcast', ALGORITHMS.broadcast, 4, 4, undefined, { hosts: 2 }).name).toBe('binomial')
  expect(pick('barrier', ALGORITHMS.barrier, 4, 0, undefined, { hosts: 1 }).name).toBe('dissemination')
})

test('the call wins over the environment, the environment over the table', () => {
  process.env.TSRUN_ALLREDUCE_ALGORITHM = 'ring'
  resetSettingsForTests()
  expect(pick('allreduce', ALGORITHMS.allreduce, 2, 4).name).toBe('ring')
  expect(pick('allreduce', ALGORITHMS.allreduce, 2, 4, 'recursive-doubling').name).toBe('recursive-doubling')
  process.env.TSRUN_REDUCE_SCATTER_ALGORITHM = 'auto'
  resetSettingsForTests()
  expect(pick('reduceScatter', ALGORITHMS.reduceScatter, 2, 4).name).toBe('ring')
})

test('an unknown name says where it came from and what exists', () => {
  expect(() => pick('allreduce', ALGORITHMS.allreduce, 2, 4, 'tree')).toThrow(UsageError)
  expect(() => pick('allreduce', ALGORITHMS.allreduce, 2, 4, 'tree')).toThrow(
    'algorithm for allreduce must be one of "hierarchical", "shm", "shm-copy", "recursive-doubling", "ring", "ordered" or "auto", got "tree"',
  )
  process.env.TSRUN_ALLREDUCE_ALGORITHM = 'tree'
  resetSettingsForTests()
  expect(() => pick('allreduce', ALGORITHMS.allreduce, 2, 4)).toThrow('TSRUN_ALLREDUCE_ALGORITHM for allreduce')
})

test('every algorithm that runs host rounds is listed as one (else its calls would say they run by messages)', () => {
  const rounds = new Set<unknown>([allreduceHost, bcastHost, barrierHost, allreduceHostCopy, allreduceHierarchical])
  const byRounds = Object.values(ALGORITHMS)
    .flat()
    .filter((c) => rounds.has(c.run))
    .map((c) => c.name)
  expect(byRounds.length).toBe(5)
  for (const name of byRounds) expect(ROUND_ALGORITHMS.has(name), name).toBe(true)
  const others = Object.values(ALGORITHMS)
    .flat()
    .filter((c) => !rounds.has(c.run))
  for (const c of others) expect(ROUND_ALGORITHMS.has(c.name), c.name).toBe(false)
})
