// The shared-memory slots of one pair, in this process: what the sender writes the receiver reads, the file is
// unlinked once the receiver has mapped it, and malformed notices are refused.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { native, nativeUnavailable } from '../../../src/native/native.ts'
import { ShmInbox } from '../../../src/transport/shm/inbox.ts'
import { ShmOutbox } from '../../../src/transport/shm/outbox.ts'
import { channelPath } from '../../../src/transport/shm/slots.ts'

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

test('a segment written into a slot is read back from the other mapping; the file is unlinked once mapped', () => {
  const n = native()
  expect(n, `native module: ${nativeUnavailable()}`).toBeDefined()
  const dir = shmDir()
  const out = new ShmOutbox(n!, dir, 0, 1, 4, 4096)
  expect(existsSync(channelPath(dir, 0, 1))).toBe(true)
  const inbox = new ShmInbox(n!, dir, 1)
  expect(inbox.open(0, 4, 4096)).toBe(true)
  expect(existsSync(channelPath(dir, 0, 1))).toBe(false)
  const slot = out.acquire()!
  out.slot(slot).set([1, 2, 3, 250], 0)
  expect([...inbox.segment(0, slot, 4)!]).toEqual([1, 2, 3, 250])
  out.close() // nothing left to remove: no error
})

test('slots run out and come back; bad slot numbers and geometries are refused', () => {
  const n = native()!
  const dir = shmDir()
  const out = new ShmOutbox(n, dir, 2, 3, 2, 4096)
  const a = out.acquire()
  const b = out.acquire()
  expect([a, b].sort()).toEqual([0, 1])
  expect(out.acquire()).toBeUndefined()
  expect(out.release(5)).toBe(false)
  expect(out.release(a!)).toBe(true)
  expect(out.release(a!)).toBe(false) // already free
  const inbox = new ShmInbox(n, dir, 3)
  expect(inbox.segment(2, 0, 10)).toBeUndefined() // not opened yet
  expect(inbox.open(2, 1000, 4096)).toBe(false) // more slots than any sender makes
  expect(inbox.open(2, 2, 4096)).toBe(true)
  expect(inbox.segment(2, 2, 10)).toBeUndefined() // no slot 2
  expect(inbox.segment(2, 1, 4097)).toBeUndefined() // longer than a slot
  expect(() => new ShmInbox(n, dir, 4).open(2, 2, 4096)).toThrow(/cannot open/) // no file toward rank 4
})
