// The unix-socket record reader (StreamReader) under hostile input: every split of the byte stream, 1-byte
// chunks, lengths out of range (refused as soon as the 8-byte prefix is in, before any body arrives), huge
// declared lengths (nothing allocated ahead of the bytes), truncation, garbage, and a seeded fuzz checked against
// a model of the format in the file's header. StreamReader never throws: a malformed record calls `bad`, once.
import { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { HEADER_BYTES } from '../../../src/transport/framing.ts'
import { MAX_FRAME_BYTES, StreamReader, StreamWriter } from '../../../src/transport/unix/stream-frames.ts'
import { seeded } from '../../helpers/memory-context.ts'

/** One record: u32 LE length of frame 1, u32 LE length of frame 2 (0: none), the frames. */
function record(first: Buffer, second?: Buffer, lengths: [number, number] = [first.length, second?.length ?? 0]): Buffer {
  const prefix = Buffer.alloc(8)
  prefix.writeUInt32LE(lengths[0], 0)
  prefix.writeUInt32LE(lengths[1], 4)
  return Buffer.concat([prefix, first, ...(second ? [second] : [])])
}
/** A frame of `n` bytes whose content says which it is. */
const frame = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (seed * 31 + i * 7) & 0xff))

/** A reader that records what it delivers, and how often it found the stream bad (with the messages seen by then). */
function reader() {
  const messages: Buffer[][] = []
  const bad: number[] = []
  const r = new StreamReader(
    (frames) => messages.push(frames),
    () => bad.push(messages.length),
  )
  return { r, messages, bad, hex: () => messages.map((m) => m.map((f) => f.toString('hex'))) }
}

/** The format, as the header of stream-frames.ts states it: the messages in `bytes`, and whether a record is malformed. */
function model(bytes: Buffer): { messages: string[][]; bad: boolean } {
  const messages: string[][] = []
  let at = 0
  while (bytes.length - at >= 8) {
    const a = bytes.readUInt32LE(at)
    const b = bytes.readUInt32LE(at + 4)
    if (a < HEADER_BYTES || a > MAX_FRAME_BYTES || b > MAX_FRAME_BYTES) return { messages, bad: true }
    if (bytes.length - at - 8 < a + b) break
    const first = bytes.subarray(at + 8, at + 8 + a).toString('hex')
    messages.push(b > 0 ? [first, bytes.subarray(at + 8 + a, at + 8 + a + b).toString('hex')] : [first])
    at += 8 + a + b
  }
  return { messages, bad: false }
}

/**
 * Feeds `bytes` cut at `cuts` (sorted offsets) to a fresh reader; returns how it differs from the model (a throw
 * counts), or undefined. Loops collect these and assert once: thousands of `expect`s would dominate the run time.
 */
function mismatch(bytes: Buffer, cuts: number[]): string | undefined {
  const x = reader()
  let from = 0
  try {
    for (const c of [...cuts, bytes.length]) {
      x.r.push(bytes.subarray(from, c))
      from = c
    }
  } catch (e) {
    return `cuts ${cuts}: threw ${e}`
  }
  const want = model(bytes)
  const got = JSON.stringify({ messages: x.hex(), bad: x.bad })
  const expected = JSON.stringify({ messages: want.messages, bad: want.bad ? [want.messages.length] : [] })
  return got === expected ? undefined : `${bytes.toString('hex')} cut at ${cuts}: got ${got}, expected ${expected}`
}
const feedAndCheck = (bytes: Buffer, cuts: number[]) => expect(mismatch(bytes, cuts)).toBeUndefined()

const GOOD = Buffer.concat([
  record(frame(HEADER_BYTES, 1)), // a bare header
  record(frame(HEADER_BYTES + 5, 2)), // header and a small payload
  record(frame(HEADER_BYTES, 3), frame(17, 4)), // header, then the payload as a second frame
  record(frame(HEADER_BYTES + 1, 5), frame(1, 6)),
])
const GOOD_MESSAGES = model(GOOD).messages

describe('well-formed streams', () => {
  test('the model reads the sample as four messages', () => {
    expect(GOOD_MESSAGES.map((m) => m.map((f) => f.length / 2))).toEqual([[48], [53], [48, 17], [49, 1]])
  })

  test('whole, in 1-byte chunks, and cut at every offset', () => {
    feedAndCheck(GOOD, [])
    feedAndCheck(
      GOOD,
      Array.from({ length: GOOD.length - 1 }, (_, i) => i + 1),
    )
    const failures: string[] = []
    for (let k = 0; k <= GOOD.length; k++) failures.push(mismatch(GOOD, [k]) ?? '')
    expect(failures.filter(Boolean)).toEqual([])
  })

  test('cut at every pair of offsets (records and prefixes spread over three chunks)', () => {
    const s = Buffer.concat([record(frame(HEADER_BYTES, 1)), record(frame(HEADER_BYTES, 3), frame(17, 4))]) // one- and two-frame
    const failures: string[] = []
    for (let i = 0; i <= s.length; i++) for (let j = i; j <= s.length; j++) failures.push(mismatch(s, [i, j]) ?? '')
    expect(failures.filter(Boolean).slice(0, 3)).toEqual([])
    expect(failures.length).toBe(((s.length + 1) * (s.length + 2)) / 2)
  })

  test('empty chunks change nothing', () => {
    const x = reader()
    for (let i = 0; i < GOOD.length; i++) {
      x.r.push(Buffer.alloc(0))
      x.r.push(GOOD.subarray(i, i + 1))
    }
    expect(x.hex()).toEqual(GOOD_MESSAGES)
    expect(x.bad).toEqual([])
  })

  test('delivered frames keep their bytes when more data arrives (joined copies and views of pushed chunks alike)', () => {
    const x = reader()
    // 3-byte chunks: frames are joined copies; then one piece: frames may be views of it.
    for (let i = 0; i < GOOD.length; i += 3) x.r.push(Buffer.from(GOOD.subarray(i, i + 3)))
    x.r.push(Buffer.from(GOOD))
    const snapshot = x.hex()
    for (let i = 0; i < 10; i++) x.r.push(record(frame(HEADER_BYTES + i, 9), frame(i + 1, 8)))
    expect(snapshot).toEqual([...GOOD_MESSAGES, ...GOOD_MESSAGES])
    expect(x.hex().slice(0, snapshot.length)).toEqual(snapshot)
    expect(x.messages.length).toBe(2 * GOOD_MESSAGES.length + 10)
  })

  test('the smallest and largest lengths accepted: a first frame of exactly a header, and MAX_FRAME_BYTES', () => {
    const x = reader()
    x.r.push(record(frame(HEADER_BYTES, 1)))
    expect(x.messages.length).toBe(1)
    // MAX_FRAME_BYTES for both frames is allowed: the reader waits for the bytes (not sent here: 2 GiB).
    x.r.push(record(Buffer.alloc(0), undefined, [MAX_FRAME_BYTES, MAX_FRAME_BYTES]))
    expect(x.bad).toEqual([])
    expect(x.messages.length).toBe(1)
  })

  test('a second frame of length 0 is no second frame: [header, empty] arrives as [header] (the same message to inbound.ts)', () => {
    const x = reader()
    x.r.push(record(frame(HEADER_BYTES, 1), Buffer.alloc(0)))
    expect(x.messages.map((m) => m.length)).toEqual([1])
  })

  test("what is inside a frame is not the reader's business: garbage headers are delivered as they are", () => {
    const rand = seeded(42)
    const garbage = Buffer.from(Array.from({ length: HEADER_BYTES + 20 }, () => Math.floor(rand() * 256)))
    const x = reader()
    x.r.push(record(garbage.subarray(0, HEADER_BYTES), garbage.subarray(HEADER_BYTES)))
    expect(x.messages).toEqual([[garbage.subarray(0, HEADER_BYTES), garbage.subarray(HEADER_BYTES)]])
  })
})

describe('malformed and hostile streams', () => {
  const cases: [string, [number, number]][] = [
    ['a zero-length first frame', [0, 0]],
    ['a first frame shorter than a header', [HEADER_BYTES - 1, 10]],
    ['a first frame over MAX_FRAME_BYTES', [MAX_FRAME_BYTES + 1, 0]],
    ['a second frame over MAX_FRAME_BYTES', [HEADER_BYTES, MAX_FRAME_BYTES + 1]],
    ['lengths of 2^32 - 1', [0xffffffff, 0xffffffff]],
    ['a zero-length first frame with a second one', [0, 48]],
  ]
  test.each(cases)('%s: bad, once, as soon as the 8-byte prefix is in; nothing after it is delivered', (_, lengths) => {
    const x = reader()
    const stream = Buffer.concat([GOOD, record(frame(HEADER_BYTES, 7), undefined, lengths), GOOD])
    const prefixEnd = GOOD.length + 8
    for (let i = 0; i < stream.length; i++) {
      x.r.push(stream.subarray(i, i + 1))
      // Before the prefix is complete the reader cannot know; the byte that completes it settles it.
      expect(x.bad).toEqual(i + 1 < prefixEnd ? [] : [GOOD_MESSAGES.length])
    }
    expect(x.hex()).toEqual(GOOD_MESSAGES)
    // Good records after the bad one stay ignored: the stream cannot be resynchronised.
    x.r.push(GOOD)
    expect(x.bad).toEqual([GOOD_MESSAGES.length])
    expect(x.messages.length).toBe(GOOD_MESSAGES.length)
  })

  test('a huge declared length allocates nothing ahead of the bytes: 1 MiB of a declared 2 GiB record', () => {
    const x = reader()
    const before = process.memoryUsage().arrayBuffers
    x.r.push(record(Buffer.alloc(0), undefined, [MAX_FRAME_BYTES, MAX_FRAME_BYTES]))
    const chunk = Buffer.alloc(64 * 1024, 0xab)
    for (let i = 0; i < 16; i++) x.r.push(chunk) // the same buffer: 64 KiB of our own memory
    const grown = process.memoryUsage().arrayBuffers - before
    expect(x.messages).toEqual([])
    expect(x.bad).toEqual([])
    expect(grown).toBeLessThan(32 << 20) // far below 1 GiB: it holds the chunks, it does not reserve the frame
  })

  test('a record truncated at the end is neither delivered nor called bad: the reader waits for the rest', () => {
    const last = record(frame(HEADER_BYTES, 3), frame(17, 4))
    for (let cut = 1; cut < last.length; cut++) {
      const x = reader()
      x.r.push(Buffer.concat([GOOD, last.subarray(0, cut)]))
      expect(x.hex()).toEqual(GOOD_MESSAGES)
      expect(x.bad).toEqual([])
      x.r.push(last.subarray(cut)) // the rest arrives: it is delivered whole
      expect(x.messages.length).toBe(GOOD_MESSAGES.length + 1)
      expect(x.hex().at(-1)).toEqual([frame(HEADER_BYTES, 3).toString('hex'), frame(17, 4).toString('hex')])
    }
  })

  test('seeded fuzz: mutated and random streams in random chunks match the model; never a throw, at most one bad', () => {
    const rand = seeded(20240601)
    const int = (n: number) => Math.floor(rand() * n)
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)))
    const lengths = [0, 1, HEADER_BYTES - 1, HEADER_BYTES, HEADER_BYTES + 1, MAX_FRAME_BYTES, MAX_FRAME_BYTES + 1, 0xffffffff, 2 ** 31]
    const failures: string[] = []
    let bads = 0
    let delivered = 0
    const t0 = performance.now()
    for (let iter = 0; iter < 3000; iter++) {
      const recs = Array.from({ length: 1 + int(6) }, () =>
        rand() < 0.5 ? record(bytes(HEADER_BYTES + int(40))) : record(bytes(HEADER_BYTES + int(8)), bytes(1 + int(60))),
      )
      const starts = recs.map((_, i) => recs.slice(0, i).reduce((a, r) => a + r.length, 0))
      let s = Buffer.concat(recs)
      switch (int(7)) {
        case 0: // one byte flipped anywhere
          s[int(s.length)] ^= 1 << int(8)
          break
        case 1: // a length field of some record overwritten with a value at or around a limit
          s.writeUInt32LE(lengths[int(lengths.length)]!, starts[int(starts.length)]! + int(2) * 4)
          break
        case 2: // garbage inserted
          s = Buffer.concat([s.subarray(0, int(s.length)), bytes(1 + int(20)), s.subarray(int(s.length))])
          break
        case 3: // truncated
          s = s.subarray(0, int(s.length))
          break
        case 4: // nothing but noise
          s = bytes(int(300))
          break
        case 5: // noise that starts with a plausible prefix
          s = Buffer.concat([record(Buffer.alloc(0), undefined, [HEADER_BYTES + int(100), int(100)]), bytes(int(200))])
          break
        default: // well-formed
      }
      const cuts = Array.from({ length: int(12) }, () => int(s.length + 1)).sort((a, b) => a - b)
      const m = mismatch(s, cuts)
      if (m) failures.push(m)
      const want = model(s)
      bads += want.bad ? 1 : 0
      delivered += want.messages.length
    }
    expect(failures.slice(0, 3)).toEqual([])
    // The fuzz reached both outcomes often, and did not take long.
    expect(bads).toBeGreaterThan(400)
    expect(delivered).toBeGreaterThan(4000)
    expect(performance.now() - t0).toBeLessThan(10_000)
  })
})

describe('StreamWriter', () => {
  /** Enough of a socket for the writer: records writes, and lets a test say how much is still queued. */
  function fakeSocket() {
    const s = Object.assign(new EventEmitter(), {
      destroyed: false,
      writableLength: 0,
      writes: [] as Buffer[],
      corked: 0,
      cork() {
        s.corked++
      },
      uncork() {
        s.corked--
      },
      write(b: Buffer) {
        expect(s.corked).toBe(1) // prefix and frames go out together
        s.writes.push(Buffer.from(b))
        return true
      },
    })
    return s
  }

  test('what it writes, the reader reads back, one- and two-frame messages', () => {
    const sock = fakeSocket()
    const w = new StreamWriter(sock as unknown as Socket)
    const sent = [[frame(HEADER_BYTES, 1)], [frame(HEADER_BYTES, 2), frame(1000, 3)], [frame(HEADER_BYTES + 9, 4)]]
    for (const m of sent) w.push(m)
    const x = reader()
    for (const b of sock.writes) x.r.push(b)
    expect(x.messages).toEqual(sent)
    expect(x.bad).toEqual([])
  })

  /** A unix-socket server that reads records, and a client socket connecting to it (not yet connected). */
  async function pair() {
    const dir = mkdtempSync(join(tmpdir(), 'tsrun-stream-'))
    const x = reader()
    let peer: Socket | undefined
    const accepted = new Promise<Socket>((resolve) => {
      const server = createServer((s) => {
        peer = s
        s.on('data', (d) => x.r.push(d))
        resolve(s)
      })
      server.listen(join(dir, 's'))
      cleanups.push(() => {
        peer?.destroy()
        server.close()
        rmSync(dir, { recursive: true, force: true })
      })
    })
    await new Promise((r) => setImmediate(r))
    const client = connect(join(dir, 's'))
    cleanups.push(() => client.destroy())
    return { client, accepted, x }
  }
  const cleanups: (() => void)[] = []
  afterEach(() => {
    for (const c of cleanups.splice(0)) c()
  })

  test('drained() resolves for records pushed while the socket was still connecting (no "drain" event comes for them)', async () => {
    const { client, accepted, x } = await pair()
    const w = new StreamWriter(client)
    const sent = [[frame(HEADER_BYTES, 7)], [frame(HEADER_BYTES, 8), frame(300, 9)]]
    for (const m of sent) w.push(m)
    expect(client.connecting).toBe(true)
    expect(w.pending).toBe(true)
    await w.drained()
    expect(w.pending).toBe(false)
    await accepted
    await vi.waitFor(() => expect(x.messages).toEqual(sent))
  })

  test('drained() waits while the reader does not read, and resolves once it has taken everything', async () => {
    const { client, accepted, x } = await pair()
    const w = new StreamWriter(client)
    const peer = await accepted
    peer.pause()
    const big = frame(16 << 20, 3) // far more than the kernel buffers between the two ends
    w.push([frame(HEADER_BYTES, 1), big])
    let done = false
    const d = w.drained().then(() => (done = true))
    w.push([frame(HEADER_BYTES, 2)]) // pushed after drained() was called: waited for too
    await new Promise((r) => setTimeout(r, 200))
    expect(done).toBe(false)
    peer.resume()
    await d
    expect(w.pending).toBe(false)
    await vi.waitFor(() => expect(x.messages.length).toBe(2))
    expect(x.messages[0]![1]!.equals(big)).toBe(true)
  })

  test('a socket destroyed while records wait: drained() resolves, and later pushes write nothing', async () => {
    const { client, accepted, x } = await pair()
    const w = new StreamWriter(client)
    const peer = await accepted
    peer.pause()
    w.push([frame(HEADER_BYTES, 1), frame(16 << 20, 3)])
    const d = w.drained()
    client.destroy()
    await d
    expect(w.pending).toBe(false)
    peer.resume()
    w.push([frame(HEADER_BYTES, 2)])
    await new Promise((r) => setTimeout(r, 100))
    expect(x.messages.some((m) => m[0]!.equals(frame(HEADER_BYTES, 2)))).toBe(false)
  })
})

// A record that arrives in many small pieces is put together in work linear in their number: with a shift per
// piece it was quadratic (a 64 KiB record in 1-byte pieces took about 18 s, the event loop blocked). The bound is
// the test's timeout, far above the linear time (well under a second) and far below the quadratic one.
test('a 64 KiB record pushed one byte at a time is delivered whole, without quadratic work', () => {
  const n = 1 << 16
  const rec = Buffer.alloc(8 + n, 0x5a)
  rec.writeUInt32LE(n, 0)
  rec.writeUInt32LE(0, 4)
  const got: number[] = []
  const r = new StreamReader(
    (frames) => got.push(frames[0]!.length),
    () => got.push(-1),
  )
  for (let i = 0; i < rec.length; i++) r.push(rec.subarray(i, i + 1))
  expect(got).toEqual([n])
}, 8_000)
