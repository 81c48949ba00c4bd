/**
 * Everything that arrives for a rank, frame by frame, from any pipe (its ZeroMQ receive socket, its unix streams,
 * its shared-memory queue): data (whole, in ZeroMQ segments, or in a sender's shared-memory fragments) goes to
 * the matcher, acknowledgements to the senders waiting for them, doorbells to the shared-memory side, control
 * frames to the control channel. Frames come from outside the process: anything malformed is
 * counted and dropped, never thrown.
 */
import {
  decodeHeader,
  encodeHeader,
  FLAG_FIRST,
  FLAG_WANT_ACK,
  HEADER_BYTES,
  KIND_ACK,
  KIND_CONT,
  KIND_DATA,
  KIND_DOORBELL,
  KIND_SHM,
  type Header,
} from './framing.ts'
import { fulfil, type Matcher, type Posted } from './matcher.ts'
import type { Message } from './transport.ts'
import type { ControlChannel } from './control.ts'
import type { PendingAcks } from './pending-acks.ts'
import { Reassembly, type Assembled } from './reassembly.ts'
import type { ShmInbox } from './shm/shm-inbox.ts'

export interface InboundDeps {
  rank: number
  size: number
  matcher: Matcher
  control: ControlChannel
  /** Set once the rank's shared memory is up (after connect). */
  shm: () => ShmInbox | undefined
  acks: PendingAcks
  /** Sends frames to a peer in order (held until we are connected to it). */
  pushTo: (peer: number, frames: Buffer[]) => void
  /** A peer rang: look at the shared-memory queue and the sends waiting for room. */
  doorbell: () => void
  /** 1 for each peer we are linked to (peer-links.ts). */
  linked: Uint8Array
  /** A peer we are not linked to has sent us something: link back to it. */
  heard: (peer: number) => void
}

export class Inbound {
  /** Frames dropped because they were malformed. */
  dropped = 0
  private readonly d: InboundDeps
  private readonly reassembly: Reassembly

  constructor(deps: InboundDeps) {
    this.d = deps
    this.reassembly = new Reassembly(deps.matcher, deps.rank)
  }

  /** One message; `from` is the rank its connection authenticated as, where the connection knows it. */
  onFrames(frames: Buffer[], from?: number): void {
    if (frames.length > 2) return this.drop()
    const h = decodeHeader(frames[0], this.d.size)
    if (typeof h === 'string' || (from !== undefined && h.source !== from)) return this.drop()
    // One frame: the payload follows the header. Two: the payload is the second frame.
    const payload = frames.length === 2 ? frames[1] : frames[0].subarray(HEADER_BYTES)
    if (frames.length === 2 && frames[0].length !== HEADER_BYTES) return this.drop()
    if (this.d.linked[h.source] === 0) this.d.heard(h.source)
    switch (h.kind) {
      case KIND_DATA:
        if (h.coll !== 0 && h.tag < -1) this.d.control.handlers.onCollective(h.commId, h.tag, h.source, h)
        if (payload.length === h.bytes) return this.complete(h, payload, undefined)
        return this.assembled(this.reassembly.first(h, payload))
      case KIND_CONT:
        return this.assembled(this.reassembly.next(h, payload))
      case KIND_SHM: {
        const first = (h.flags & FLAG_FIRST) !== 0
        const shm = this.d.shm()
        const seg = shm?.segment(h, first)
        if (!seg || first === this.reassembly.busy(h.source)) return this.drop()
        if (first && h.coll !== 0 && h.tag < -1) this.d.control.handlers.onCollective(h.commId, h.tag, h.source, h)
        const done = first ? this.reassembly.first(h, seg) : this.reassembly.next(h, seg)
        // The segment has been copied (or reduced) out: the fragment goes back to its sender.
        shm!.release(h)
        return this.assembled(done)
      }
      case KIND_DOORBELL:
        return this.d.doorbell()
      case KIND_ACK:
        return this.d.acks.resolve(h.source, h.seq) ? undefined : this.drop()
      default:
        if (!this.d.control.onFrame(h, payload)) this.drop()
    }
  }

  private assembled(done: Assembled | null | false): void {
    if (done === false) return this.drop()
    if (!done) return
    if (done.sunk) {
      this.ack(done.header)
      const h = done.header
      return done.posted!.resolve({ commId: h.commId, source: h.source, tag: h.tag, dtype: h.dtype, payload: done.payload })
    }
    this.complete(done.header, done.payload, done.posted)
  }

  private complete(h: Header, payload: Uint8Array, posted: Posted | undefined): void {
    this.ack(h)
    const m: Message = { commId: h.commId, source: h.source, tag: h.tag, dtype: h.dtype, payload }
    if (posted) fulfil(posted, m)
    else this.d.matcher.deliver(m)
  }

  /** A sender waiting to reuse its buffer may now. */
  private ack(h: Header): void {
    // A peer that is faster through the rendezvous can send to us before we have connected back to it.
    if (h.flags & FLAG_WANT_ACK) this.d.pushTo(h.source, [encodeHeader({ ...h, source: this.d.rank, kind: KIND_ACK, flags: 0, bytes: 0 })])
  }

  private drop(): void {
    this.dropped++
  }
}
