// The host broadcast's protocol (transport/shm/host-broadcast.ts), two ranks' HostCollectives in this process
// over two real segments, driven by polling each in turn: the root's area copy, single copy, and a receiver whose
// single copy fails (not permitted after all) or who cannot try it asking for the area instead. Real ranks run
// the same paths in test/ranks/host-collectives.test.ts.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { native, nativeUnavailable, type NativeModule } from '../../../src/native/native.ts'
import { segmentPath } from '../../../src/transport/shm/files.ts'
import { HostCollectives } from '../../../src/transport/shm/host-collectives.ts'
import { CELLS, ShmSegment, type Geometry } from '../../../src/transport/shm/segment.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
const g: Geometry = { cells: CELLS, cellBytes: 1024, frags: 2, fragBytes: 4096, world: 2 }

function ranks(cma: [NativeModule | undefined, NativeModule | undefined]) {
  const n = native()
  expect(n, `native module: ${nativeUnavailable()}`).toBeDefined()
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : '/tmp', 'tsrun-test-'))
  dirs.push(dir)
  const own = [0, 1].map((r) => ShmSegment.create(n!, segmentPath(dir, r), g))
  const rung: number[] = []
  return [0, 1].map((r) => {
    const segments = [0, 1].map((p) => (p === r ? own[p]! : ShmSegment.open(n!, segmentPath(dir, p))))
    return new HostCollectives(
      segments,
      [0, 1],
      r,
      (p) => rung.push(p),
      () => {},
      0,
      cma[r],
    )
  })
}

/** Polls both ranks until both calls have ended (or 1000 turns). */
async function drive(hcs: HostCollectives[], calls: Promise<void>[]): Promise<boolean[]> {
  const ended = calls.map(() => false)
  calls.forEach((c, i) => {
    c.then(() => {
      ended[i] = true
    })
  })
  for (let turn = 0; turn < 1000 && !ended.every(Boolean); turn++) {
    for (const h of hcs) h.poll()
    await new Promise((r) => setImmediate(r))
  }
  return ended
}

const SIG = [2, 0, 0, 300_000, 1]
const data = (n: number) => new Uint8Array(n).map((_, i) => (i * 31 + (i >> 12)) & 255)

test.each([
  ['through the area (no single copy anywhere)', false, false],
  ['by single copy', true, true],
  ['by the area, asked for by a receiver that cannot read the root', true, false],
])('a broadcast of 200,000 B %s arrives whole and both calls end', async (_name, rootCma, receiverCma) => {
  const n = native()!
  let reads = 0
  const counting: NativeModule = {
    ...n,
    cmaRead: (pid, address, dst) => {
      reads++
      return n.cmaRead!(pid, address, dst)
    },
  }
  const [root, receiver] = ranks([rootCma ? n : undefined, receiverCma ? counting : undefined])
  const src = data(200_000)
  const dst = new Uint8Array(src.length)
  const calls = [root!.bcast(SIG, 0, src, () => {}), receiver!.bcast(SIG, 0, dst, () => {})]
  expect(await drive([root!, receiver!], calls)).toEqual([true, true])
  expect(Buffer.compare(dst, src)).toBe(0)
  expect(reads).toBe(rootCma && receiverCma ? 1 : 0)
})

test('a receiver whose single copy fails falls back to the area, and stops trying single copy', async () => {
  const n = native()!
  let reads = 0
  const refusing: NativeModule = {
    ...n,
    cmaRead: () => {
      reads++
      return -1 // EPERM, as under a stricter policy
    },
  }
  const [root, receiver] = ranks([n, refusing])
  for (const size of [100_000, 70_000]) {
    const src = data(size)
    const dst = new Uint8Array(size)
    const calls = [root!.bcast(SIG, 0, src, () => {}), receiver!.bcast(SIG, 0, dst, () => {})]
    expect(await drive([root!, receiver!], calls)).toEqual([true, true])
    expect(Buffer.compare(dst, src)).toBe(0)
  }
  expect(reads).toBe(1)
})

test('a check that throws (a mismatch) rejects that rank’s call before any data moves', async () => {
  const n = native()!
  const [root, receiver] = ranks([n, n])
  const dst = new Uint8Array(100_000)
  const bad = receiver!.bcast(SIG, 0, dst, () => {
    throw new Error('mismatch')
  })
  const ok = root!.bcast(SIG, 0, data(100_000), () => {})
  const rejected = bad.then(
    () => false,
    (e: Error) => e.message === 'mismatch',
  )
  await drive([root!, receiver!], [rejected.then(() => {})])
  expect(await rejected).toBe(true)
  expect(dst.every((b) => b === 0)).toBe(true)
  // The root waits for a receiver that never reads: it ends when the communicator fails (fail()), not by itself.
  root!.fail(new Error('failed'))
  await expect(ok).rejects.toThrow('failed')
})
