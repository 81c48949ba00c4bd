// The shared-memory segment of one rank, in this process through two mappings of one file: frames pushed into
// its queue come out whole and in order, a full queue and an exhausted pool say so and ask to be rung, the
// armed flag asks for a doorbell exactly once, forged fragment numbers are refused, and a budget too small is
// an error that says what to set.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { native, nativeUnavailable } from '../../../src/native/native.ts'
import { segmentPath } from '../../../src/transport/shm/files.ts'
import { CELLS, geometryFor, ShmSegment, type Geometry } from '../../../src/transport/shm/segment.ts'

const dirs: string[] = []
afterEach(() =>
  dirs.splice(0).forEach((d) => {
    rmSync(d, { recursive: true, force: true })
  }),
)
const shmDir = () => {
  const d = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : '/tmp', 'tsrun-test-'))
  dirs.push(d)
  return d
}
const g: Geometry = { cells: CELLS, cellBytes: 1024, frags: 4, fragBytes: 4096, world: 8 }

function pair() {
  const n = native()
  expect(n, `native module: ${nativeUnavailable()}`).toBeDefined()
  const path = segmentPath(shmDir(), 3)
  const owner = ShmSegment.create(n!, path, g)
  const peer = ShmSegment.open(n!, path) // another rank's view of the same file
  return { n: n!, owner, peer }
}

test('frames pushed by a producer come out of the owner’s queue whole and in order; the first push to an armed owner rings', () => {
  const { n, owner, peer } = pair()
  expect(peer.geometry).toEqual(g)
  const dst = Buffer.alloc(1024)
  expect(n.shmPop(owner.memory, dst)).toBe(0) // empty
  expect(n.shmPush(peer.memory, Buffer.from('head'), new Uint8Array([1, 2, 3]))).toBe(2) // armed from the start: ring
  expect(n.shmPush(peer.memory, Buffer.from('next'), new Uint8Array(0))).toBe(1) // rung already: no second doorbell
  expect(n.shmPop(owner.memory, dst)).toBe(7)
  expect([...dst.subarray(0, 7)]).toEqual([...Buffer.from('head'), 1, 2, 3])
  expect(n.shmPop(owner.memory, dst)).toBe(4)
  expect(dst.subarray(0, 4).toString()).toBe('next')
  expect(n.shmArm(owner.memory, true)).toBe(0) // armed, nothing waiting
  expect(n.shmPush(peer.memory, Buffer.from('x'), new Uint8Array(0))).toBe(2)
  expect(n.shmArm(owner.memory, false)).toBe(1) // polling: a frame waits
  expect(n.shmWait(owner.memory, 1_000_000)).toBe(1)
  expect(() => n.shmPush(peer.memory, Buffer.alloc(1020), new Uint8Array(0))).toThrow(/does not fit a cell/)
})

test('a full queue refuses the push and rings the producers that asked once cells are taken', () => {
  const { n, owner, peer } = pair()
  for (let i = 0; i < CELLS; i++) expect(n.shmPush(peer.memory, Buffer.from([i & 255]), new Uint8Array(0))).toBeGreaterThan(0)
  expect(n.shmPush(peer.memory, Buffer.from([0]), new Uint8Array(0))).toBe(0)
  expect(n.shmWantSpace(peer.memory, 5)).toBe(0) // still full: rank 5 waits to be rung
  const waiters = new Int32Array(8)
  expect(n.shmSpaceWaiters(owner.memory, waiters)).toBe(1)
  expect(waiters[0]).toBe(5)
  expect(n.shmSpaceWaiters(owner.memory, waiters)).toBe(0) // cleared
  const dst = Buffer.alloc(1024)
  for (let i = 0; i < CELLS; i++) {
    expect(n.shmPop(owner.memory, dst)).toBe(1)
    expect(dst[0]).toBe(i & 255)
  }
  expect(n.shmPop(owner.memory, dst)).toBe(0)
})

test('fragments run out and come back; the owner that waited is rung; forged numbers are refused', () => {
  const { n, owner, peer } = pair()
  const taken = [0, 1, 2, 3].map(() => n.shmTake(owner.memory, 0))
  expect([...taken].sort()).toEqual([0, 1, 2, 3])
  expect(n.shmTake(owner.memory, 0)).toBe(-1) // none free: the owner now waits for one
  owner.fragment(2, 3).set([9, 8, 7])
  expect([...peer.fragment(2, 3)]).toEqual([9, 8, 7])
  expect(n.shmFree(peer.memory, 2)).toBe(1) // the owner waited: ring it
  expect(n.shmFree(peer.memory, 2)).toBe(3) // not in use any more
  expect(n.shmFree(peer.memory, 99)).toBe(3) // no such fragment
  expect(n.shmFree(peer.memory, 1)).toBe(0) // nobody waits
  expect(n.shmTake(owner.memory, 0)).toBeGreaterThanOrEqual(1)
})

test('a file that is not a segment is refused; a budget too small says what to set', () => {
  const n = native()!
  const dir = shmDir()
  const path = join(dir, 'junk')
  n.mapShared(path, 8192, true)
  expect(() => ShmSegment.open(n, path)).toThrow(/not a tsrun shared-memory segment/)
  expect(geometryFor(dir, 8, 8, 1 << 20)).toMatch(/below the .* MiB they need \(TSRUN_SHM_BYTES sets it\)/)
  const fit = geometryFor(dir, 8, 8, 32 << 20)
  expect(typeof fit === 'object' && fit.frags).toBe(3) // 4 MiB per rank: half of a 64 MiB /dev/shm among 8
})
