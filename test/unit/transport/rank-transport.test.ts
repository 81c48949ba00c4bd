// The rank transport between two endpoints in this process, over real tcp and ipc sockets.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { RankTransport } from '../../../src/transport/rank-transport.ts'

const open: RankTransport[] = []
afterEach(() =>
  open.splice(0).forEach((t) => {
    t.close()
  }),
)

async function pair(kind: 'tcp' | 'ipc') {
  const jobDir = mkdtempSync(join(tmpdir(), 'tsrun-transport-'))
  const [a, b] = await Promise.all([0, 1].map((rank) => RankTransport.create({ rank, size: 2, host: 'h', jobDir, kind })))
  open.push(a, b)
  return [a, b]
}

test.each(['tcp', 'ipc'] as const)('%s: a large message that arrives before the receiver has connected back is still acknowledged', async (kind) => {
  const [a, b] = await pair(kind)
  a.connect([a.address, b.address])
  // b has not connected to a yet (it is still in its rendezvous) when a's message arrives and must be acked.
  const payload = new Uint8Array(256 * 1024).fill(7)
  const sent = a.send(1, 0, 5, 2, payload)
  const got = await b.recv(0, 0, 5)
  expect(got.payload.byteLength).toBe(payload.byteLength)
  b.connect([a.address, b.address])
  await expect(Promise.race([sent.then(() => 'acked'), new Promise((r) => setTimeout(() => r('no ack'), 5000))])).resolves.toBe('acked')
})

test.each(['tcp', 'ipc'] as const)('%s: 0 bytes, small, and multi-segment messages in order, both ways', async (kind) => {
  const [a, b] = await pair(kind)
  a.connect([a.address, b.address])
  b.connect([a.address, b.address])
  const sizes = [0, 1, 64 * 1024, 64 * 1024 + 1, 3 * 1024 * 1024 + 5]
  await Promise.all(sizes.map((n, i) => a.send(1, 0, 1, 2, new Uint8Array(n).fill(i))))
  for (const [i, n] of sizes.entries()) {
    const m = await b.recv(0, 0, 1)
    expect([m.payload.byteLength, m.payload[n - 1] ?? i]).toEqual([n, i])
  }
  expect(a.droppedFrames + b.droppedFrames).toBe(0)
})

/** Two ranks of one host with shared memory, in a fresh shared-memory directory (removed after `body`). */
async function withShmPair(body: (a: RankTransport, b: RankTransport) => Promise<void>): Promise<void> {
  const jobDir = mkdtempSync(join(tmpdir(), 'tsrun-transport-'))
  const shmDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'tsrun-shm-'))
  try {
    const [a, b] = await Promise.all([0, 1].map((rank) => RankTransport.create({ rank, size: 2, host: 'h', jobDir, shmDir })))
    open.push(a!, b!)
    await body(a!, b!)
  } finally {
    rmSync(shmDir, { recursive: true, force: true })
  }
}

test('shared memory: a message larger than the whole fragment pool, sent before the receiver has connected back, still completes', () =>
  withShmPair(async (a, b) => {
    a.connect([a.address, b.address])
    // 8 fragments of 1 MiB through a pool of 4: b takes nothing before it has mapped a's segment (connect);
    // then the fragments it frees must ring a, or the other 4 never come.
    const payload = new Uint8Array(8 << 20).map((_, i) => i % 251)
    const sent = a.send(1, 0, 5, 2, payload)
    const got = b.recv(0, 0, 5)
    await new Promise((r) => setTimeout(r, 300))
    b.connect([a.address, b.address])
    const within = <T>(p: Promise<T>) => Promise.race([p, new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), 5000))])
    const m = await within(got)
    expect(m).not.toBe('stuck')
    expect(Buffer.compare(Buffer.from((m as { payload: Uint8Array }).payload), Buffer.from(payload))).toBe(0)
    await expect(within(sent.then(() => 'sent'))).resolves.toBe('sent')
    expect(a.sent.shm).toBe(1)
  }))

test('shared memory: receives posted in a row take messages already waiting as posted ones, never as unexpected copies', () =>
  withShmPair(async (a, b) => {
    a.connect([a.address, b.address])
    b.connect([a.address, b.address])
    // Four messages of one fragment each, all in b's queue before b posts anything.
    const blocks = [0, 1, 2, 3].map((i) => new Uint8Array(512 * 1024).fill(i + 1))
    await Promise.all(blocks.map((blk) => a.send(1, 0, 5, 2, blk)))
    const matcher = (b as unknown as { matcher: { deliver: (...args: unknown[]) => void } }).matcher
    let unexpected = 0
    const deliver = matcher.deliver.bind(matcher)
    matcher.deliver = (...args: unknown[]) => {
      unexpected++
      deliver(...args)
    }
    const into = blocks.map(() => new Uint8Array(512 * 1024))
    const got = await Promise.all(into.map((buf) => b.recv(0, 0, 5, { into: buf })))
    expect(got.map((m) => m.payload.byteLength)).toEqual([524288, 524288, 524288, 524288])
    expect(into.map((buf) => [buf[0], buf[buf.length - 1]])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
    ])
    expect(unexpected).toBe(0)
    expect(a.sent.shm).toBe(4)
  }))

test('a reducing receive (sink) gets whole elements in every segment, whatever TSRUN_SEGMENT_BYTES says', async () => {
  const jobDir = mkdtempSync(join(tmpdir(), 'tsrun-transport-'))
  const [a, b] = await Promise.all([0, 1].map((rank) => RankTransport.create({ rank, size: 2, host: 'h', jobDir, kind: 'ipc', segmentBytes: 1029 })))
  open.push(a!, b!)
  a!.connect([a!.address, b!.address])
  b!.connect([a!.address, b!.address])
  const data = new Float64Array(100_000).map((_, i) => i + 0.5)
  const dst = new Float64Array(100_000).fill(1)
  const got = b!.recv(0, 0, 9, {
    sink: {
      bytes: dst.byteLength,
      dtype: 9,
      write: (seg, off) => {
        expect(off % 8).toBe(0)
        expect(seg.byteLength % 8).toBe(0)
        const src = new Float64Array(seg.buffer.slice(seg.byteOffset, seg.byteOffset + seg.byteLength))
        for (let i = 0; i < src.length; i++) dst[off / 8 + i]! += src[i]!
      },
    },
  })
  await a!.send(1, 0, 9, 9, new Uint8Array(data.buffer))
  await got
  expect(dst.every((v, i) => v === i + 1.5)).toBe(true)
})

test("ranks of other hosts known by place only: the host's addresses are fetched once, on the first message, and what was sent meanwhile arrives in order", async () => {
  const jobDir = mkdtempSync(join(tmpdir(), 'tsrun-transport-'))
  // Three ranks, one per (pretended) host: rank 0 on "a", 1 and 2 both on "b".
  const ts = await Promise.all([0, 1, 2].map((rank) => RankTransport.create({ rank, size: 3, host: rank === 0 ? 'a' : 'b', jobDir, kind: 'tcp' })))
  open.push(...ts)
  const [a, b1, b2] = ts as [RankTransport, RankTransport, RankTransport]
  const fetched: number[][] = []
  const place = (t: RankTransport) => ({ rank: t.rank, host: t.address.host, shm: false })
  const fetch = async (ranks: number[]) => {
    fetched.push(ranks)
    await new Promise((r) => setTimeout(r, 50)) // the store's answer takes a while: sends in between are held
    return ranks.map((r) => ts[r]!.address)
  }
  a.connect([a.address, place(b1), place(b2)], fetch)
  b1.connect([place(a), b1.address, b2.address], fetch)
  b2.connect([place(a), b1.address, b2.address], fetch)
  expect(fetched).toEqual([])
  const sizes = [1, 70_000, 3, 2_000_000]
  const sends = sizes.map((n, i) => a.send(1, 0, 4, 2, new Uint8Array(n).fill(i + 1)))
  sends.push(a.send(2, 0, 4, 2, new Uint8Array([9])))
  for (const [i, n] of sizes.entries()) {
    const m = await b1.recv(0, 0, 4)
    expect([m.payload.byteLength, m.payload[n - 1]]).toEqual([n, i + 1])
  }
  expect([...(await b2.recv(0, 0, 4)).payload]).toEqual([9])
  await Promise.all(sends)
  // One request of a's for host b's two ranks; b1 and b2 each linked back to a on a's HELLO, fetching host a.
  expect(fetched).toEqual([[1, 2], [0], [0]])
  await a.send(1, 0, 5, 2, new Uint8Array([1]))
  await b1.recv(0, 0, 5)
  expect(fetched).toHaveLength(3)
})

test('an address that cannot be fetched fails the transport with an error that names the rank and its host', async () => {
  const jobDir = mkdtempSync(join(tmpdir(), 'tsrun-transport-'))
  const [a, b] = await Promise.all([0, 1].map((rank) => RankTransport.create({ rank, size: 2, host: `h${rank}`, jobDir, kind: 'tcp' })))
  open.push(a!, b!)
  a!.connect([a!.address, { rank: 1, host: 'h1' }], () => Promise.reject(new Error('the store is gone')))
  const err = await a!.recv(0, 1, 3).catch((e: Error) => e)
  expect(err).toBeInstanceOf(Error)
  expect((err as Error).message).toMatch(/rank 0: cannot link to rank 1 \(host h1\): its address could not be fetched: the store is gone/)
})
