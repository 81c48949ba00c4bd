// A world of one (no launcher): communicator bookkeeping that needs no peers.
import { expect, test } from 'vitest'
import { FinalizedError, init, UsageError } from '../../../src/index.ts'

test('free() takes a communicator out of the world registry and makes it unusable', async () => {
  const world = await init()
  const registry = (world as unknown as { state: { world: { registry: { size: number } } } }).state.world.registry
  const before = registry.size
  const d = world.dup()
  expect(registry.size).toBe(before + 1)
  d.free()
  expect(registry.size).toBe(before)
  await expect(d.allreduce(new Float32Array(1), 'sum')).rejects.toThrow(FinalizedError)
  // The world itself is untouched.
  await expect(world.allreduce(new Float32Array([2]), 'sum')).resolves.toEqual(new Float32Array([2]))
})

test('a value JSON cannot carry is a UsageError that says so', async () => {
  const world = await init()
  expect(() => world.sendObject(10n, 0)).toThrow(UsageError)
  expect(() => world.sendObject(10n, 0)).toThrow(/JSON-serialisable, got bigint 10/)
  await expect(world.broadcastObject({ big: 1n }, 0)).rejects.toThrow(UsageError)
})
