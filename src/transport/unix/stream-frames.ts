/**
 * Frames on a unix-domain stream. After the handshake (unix-peers.ts) every message is a record:
 *
 * | bytes | field                                                             |
 * |-------|-------------------------------------------------------------------|
 * | 4     | u32 LE length of the first frame (header and, for small ones, data) |
 * | 4     | u32 LE length of the second frame (0: none)                        |
 * | ...   | the frames                                                        |
 *
 * the same one- and two-frame messages the ZeroMQ pipes carry (framing.ts), so both feed one receive path.
 */
import type { Socket } from 'node:net'
import { HEADER_BYTES } from '../framing.ts'
import type { FrameQueue } from '../frame-queue.ts'

/** Largest frame accepted from a peer: a header with an eager payload, or one segment of a large message. */
export const MAX_FRAME_BYTES = 1 << 30

/** A write of nothing: its callback says that everything written before it has been handed over. */
const MARK = Buffer.alloc(0)

/** Writes records to a connected socket. */
export class StreamWriter implements FrameQueue {
  private readonly socket: Socket
  private waiters: (() => void)[] = []
  private readonly wake = () => this.woken()

  constructor(socket: Socket) {
    this.socket = socket
    socket.on('close', this.wake)
  }

  push(frames: Buffer[]): void {
    if (this.socket.destroyed) return // the peer is gone; peer watch reports it
    const prefix = Buffer.allocUnsafe(8)
    prefix.writeUInt32LE(frames[0]!.length, 0)
    prefix.writeUInt32LE(frames.length > 1 ? frames[1]!.length : 0, 4)
    this.socket.cork()
    this.socket.write(prefix)
    for (const f of frames) this.socket.write(f)
    this.socket.uncork()
  }

  get pending(): boolean {
    return this.socket.writableLength > 0 && !this.socket.destroyed
  }

  /**
   * Resolves once every record pushed so far has been handed to the kernel (or the socket is gone). Not on
   * 'drain': Node emits it only after a write found the buffer full, and never for small writes that waited
   * for the connection to open (finalize's FIN to a peer linked just before, then waiting forever).
   */
  drained(): Promise<void> {
    if (!this.pending) return Promise.resolve()
    return new Promise((resolve) => {
      this.waiters.push(resolve)
      if (this.waiters.length === 1) this.socket.write(MARK, this.wake)
    })
  }

  private woken(): void {
    if (this.waiters.length === 0) return
    // Pushed after the mark: mark again behind them.
    if (this.pending) return void this.socket.write(MARK, this.wake)
    for (const w of this.waiters.splice(0)) w()
  }
}

/** Cuts a byte stream into messages of one or two frames; `bad` is called once for a malformed record. */
export class StreamReader {
  private chunks: Buffer[] = []
  private have = 0
  private readonly onMessage: (frames: Buffer[]) => void
  private readonly bad: () => void
  private broken = false

  constructor(onMessage: (frames: Buffer[]) => void, bad: () => void) {
    this.onMessage = onMessage
    this.bad = bad
  }

  push(data: Buffer): void {
    if (this.broken) return
    this.chunks.push(data)
    this.have += data.length
    while (this.have >= 8) {
      const head = this.peek(8)
      const a = head.readUInt32LE(0)
      const b = head.readUInt32LE(4)
      if (a < HEADER_BYTES || a > MAX_FRAME_BYTES || b > MAX_FRAME_BYTES) {
        this.broken = true
        return this.bad()
      }
      if (this.have < 8 + a + b) return
      this.take(8)
      const first = this.take(a)
      this.onMessage(b > 0 ? [first, this.take(b)] : [first])
    }
  }

  /** The first `n` buffered bytes, without consuming them. */
  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!
    const joined = Buffer.concat(this.chunks)
    this.chunks = [joined]
    return joined
  }

  /** Consumes `n` bytes: a view when they lie in one chunk (no copy), else a joined copy. */
  private take(n: number): Buffer {
    this.have -= n
    const c = this.chunks[0]!
    if (c.length >= n) {
      if (c.length === n) this.chunks.shift()
      else this.chunks[0] = c.subarray(n)
      return c.subarray(0, n)
    }
    // Chunks used up are dropped with one splice at the end: a shift per chunk is quadratic in their number
    // (a large record that came in many small pieces).
    const out = Buffer.allocUnsafe(n)
    let off = 0
    let used = 0
    while (off < n) {
      const head = this.chunks[used]!
      const k = Math.min(head.length, n - off)
      head.copy(out, off, 0, k)
      off += k
      if (k === head.length) used++
      else this.chunks[used] = head.subarray(k)
    }
    this.chunks.splice(0, used)
    return out
  }
}
