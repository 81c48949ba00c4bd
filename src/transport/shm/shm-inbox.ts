/**
 * The receiving side of this rank's shared memory: its own queue, drained cell by cell into frames for
 * `Inbound.onFrames`, and the mapped segments of the ranks of its host, whose fragments the notices point at.
 * A fragment is freed as soon as its bytes are copied (or reduced) out; a sender that waits for one is rung.
 * Everything read from a peer's memory is checked: a bad notice is counted and dropped, never thrown.
 */
import type { NativeModule } from '../../native/native.ts'
import type { Header } from '../framing.ts'
import type { ShmSegment } from './segment.ts'

/** A cell the native side found torn or forged. */
const BAD_CELL = 0xffffffff
/** Most frames taken per drain, so that one busy queue cannot hold the event loop. */
const DRAIN_MAX = 256
/**
 * Most fragments taken per drain. A drain runs before the script's promises do: without a bound, a peer that
 * refills its fragments as fast as they are freed kept this rank copying its messages (as unexpected ones, into
 * fresh memory) and never let the script post the receives they were meant for.
 */
const FRAGMENTS_PER_DRAIN = 2

export class ShmInbox {
  /** Cells and notices dropped because they were malformed. */
  dropped = 0
  readonly mine: ShmSegment
  private readonly n: NativeModule
  private readonly ring: (peer: number) => void
  private readonly peers: (ShmSegment | undefined)[] = []
  /** Bytes received so far of the large message each source is sending. */
  private readonly received: number[] = []
  private readonly scratch: Buffer
  private readonly waiters: Int32Array
  /** Fragments taken in the current drain. */
  private fragments = 0

  constructor(n: NativeModule, mine: ShmSegment, ring: (peer: number) => void) {
    this.n = n
    this.mine = mine
    this.ring = ring
    this.scratch = Buffer.allocUnsafe(mine.geometry.cellBytes)
    this.waiters = new Int32Array(Math.min(mine.geometry.world, 4096))
  }

  /** The segment of `peer` (a rank of this host), mapped. */
  attach(peer: number, segment: ShmSegment): void {
    this.peers[peer] = segment
  }

  /** Hands each waiting frame to `onFrame` (a fresh Buffer the callee may keep); the number taken. */
  drain(onFrame: (frame: Buffer) => void): number {
    const mem = this.mine.memory
    let taken = 0
    this.fragments = 0
    while (taken < DRAIN_MAX && this.fragments < FRAGMENTS_PER_DRAIN) {
      const len = this.n.shmPop(mem, this.scratch)
      if (len === 0) break
      taken++
      if (len === BAD_CELL) {
        this.dropped++
        continue
      }
      onFrame(Buffer.from(this.scratch.subarray(0, len)))
    }
    if (taken > 0) {
      const k = this.n.shmSpaceWaiters(mem, this.waiters)
      for (let i = 0; i < k; i++) this.ring(this.waiters[i]!)
    }
    return taken
  }

  /**
   * The bytes an SHM notice points at: `h.bytes` is the whole message, the segment is the next fragment's worth
   * of it. Undefined if malformed.
   */
  segment(h: Header, first: boolean): Uint8Array | undefined {
    const seg = this.peers[h.source]
    const f = h.aux ?? 0
    if (!seg || f >= seg.geometry.frags) return undefined
    const done = first ? 0 : (this.received[h.source] ?? 0)
    const len = Math.min(seg.geometry.fragBytes, h.bytes - done)
    if (len <= 0) return undefined
    this.fragments++
    this.received[h.source] = done + len === h.bytes ? 0 : done + len
    return seg.fragment(f, len)
  }

  /** The fragment of `h` has been copied out: back to its owner, who is rung if it waits for one. */
  release(h: Header): void {
    const seg = this.peers[h.source]
    if (!seg) return
    const r = this.n.shmFree(seg.memory, h.aux ?? 0)
    if (r === 1) this.ring(h.source)
    else if (r === 3) this.dropped++
  }
}
