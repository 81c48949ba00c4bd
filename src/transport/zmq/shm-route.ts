/**
 * How the ZeroMQ transport uses the shared-memory slots of transport/shm for large messages between ranks on
 * one host: it opens a pair's slots on the first large message (an SHM_OPEN frame on the pipe, before any
 * segment), and finds the bytes an SHM frame points at.
 */
import type { NativeModule } from '../../native/native.ts'
import { encodeHeader, KIND_SHM_FREE, KIND_SHM_OPEN, type Header } from '../framing.ts'
import { ShmInbox } from '../shm/inbox.ts'
import { ShmOutbox } from '../shm/outbox.ts'
import { SLOT_BYTES, SLOTS } from '../shm/slots.ts'
import { NO_SIGNATURE } from '../transport.ts'
import type { PeerLink } from './peer-link.ts'

export class ShmRoute {
  private readonly native: NativeModule
  private readonly dir: string
  private readonly rank: number
  private readonly inbox: ShmInbox
  private readonly outboxes: ShmOutbox[] = []
  /** Bytes received so far of the message each source is sending through its slots. */
  private readonly received: number[] = []

  constructor(native: NativeModule, dir: string, rank: number) {
    this.native = native
    this.dir = dir
    this.rank = rank
    this.inbox = new ShmInbox(native, dir, rank)
  }

  /** Makes sure `link` to `peer` has its slots, announcing them first if they are new. */
  ready(link: PeerLink, peer: number): void {
    if (link.outbox) return
    const out = new ShmOutbox(this.native, this.dir, this.rank, peer, SLOTS, SLOT_BYTES)
    this.outboxes.push(out)
    link.outbox = out
    link.push([
      encodeHeader({ commId: 0, tag: 0, source: this.rank, dtype: 0, kind: KIND_SHM_OPEN, flags: 0, seq: 0, bytes: SLOT_BYTES, ...NO_SIGNATURE, count: SLOTS }),
    ])
  }

  /** An SHM_OPEN from `h.source`. False if malformed. */
  open(h: Header): boolean {
    try {
      return this.inbox.open(h.source, h.count, h.bytes)
    } catch {
      return false
    }
  }

  /**
   * The bytes an SHM frame points at: `h.bytes` is the whole message, the segment is the next slot's worth of
   * it. Undefined if malformed.
   */
  segment(h: Header, first: boolean): Uint8Array | undefined {
    const done = first ? 0 : (this.received[h.source] ?? 0)
    const slotBytes = this.inbox.slotBytes(h.source)
    const len = Math.min(slotBytes, h.bytes - done)
    if (slotBytes === 0 || len <= 0) return undefined
    const seg = this.inbox.segment(h.source, h.aux ?? 0, len)
    if (seg) this.received[h.source] = done + len === h.bytes ? 0 : done + len
    return seg
  }

  /** The frame that gives slot `slot` back to its sender. */
  freeFrame(slot: number): Buffer[] {
    return [encodeHeader({ commId: 0, tag: 0, source: this.rank, dtype: 0, kind: KIND_SHM_FREE, flags: 0, seq: 0, bytes: 0, ...NO_SIGNATURE, aux: slot })]
  }

  /** Removes files no receiver has mapped. */
  close(): void {
    for (const o of this.outboxes) o.close()
  }
}
