/**
 * Reassembly of messages that arrive in segments: ZeroMQ frames (CONT) or shared-memory fragments (SHM). The
 * first segment is matched with a posted receive at once (`claim`), so every segment goes straight where that
 * receive wants it: into its buffer, or through its sink (a reduction); an unexpected message gets a fresh
 * buffer. Segments of one message arrive in order and unmixed with other segmented messages from the same peer
 * (one FIFO pipe per pair, one ordered send queue per peer), so one assembly per source is enough.
 */
import { TransportError } from '../errors.ts'
import type { Header } from './framing.ts'
import { sinkFits, type Matcher, type Posted } from './matcher.ts'

/** A message whose last segment has arrived. */
export interface Assembled {
  header: Header
  /** The message (a view of the receive's buffer or a fresh one); empty when a sink took it. */
  payload: Uint8Array
  /** The receive it was matched with on its first segment, if one was posted. */
  posted: Posted | undefined
  /** True when a sink took the bytes: the receive only needs to be resolved. */
  sunk: boolean
}

interface Assembly extends Assembled {
  offset: number
}

const EMPTY = new Uint8Array(0)

export class Reassembly {
  private readonly matcher: Matcher
  private readonly rank: number
  private readonly bySource: (Assembly | undefined)[] = []

  constructor(matcher: Matcher, rank: number) {
    this.matcher = matcher
    this.rank = rank
  }

  /** True while a message from `source` is partly here. */
  busy(source: number): boolean {
    return this.bySource[source] !== undefined
  }

  /**
   * The first segment of a message of `h.bytes` bytes. Its memory may be reused after the call (a fragment), so
   * it is always copied or sunk. The whole message if this was all of it, null if more is to come, false if
   * malformed (the caller drops it).
   */
  first(h: Header, segment: Uint8Array): Assembled | null | false {
    if (segment.length > h.bytes || this.bySource[h.source]) return false
    const posted = this.matcher.claim(h.commId, h.source, h.tag)
    let a: Assembly
    if (sinkFits(posted, h.bytes, h.dtype)) {
      a = { header: h, payload: EMPTY, offset: 0, posted, sunk: true }
    } else {
      let payload: Uint8Array
      try {
        payload = posted?.into && posted.into.byteLength >= h.bytes ? posted.into.subarray(0, h.bytes) : Buffer.allocUnsafe(h.bytes)
      } catch {
        posted?.reject(new TransportError(`rank ${this.rank}: no memory for a message of ${h.bytes} bytes from rank ${h.source}`))
        return false
      }
      a = { header: h, payload, offset: 0, posted, sunk: false }
    }
    this.bySource[h.source] = a
    return this.take(a, segment)
  }

  /** A later segment: the whole message once it is complete, null while it is not, false if malformed. */
  next(h: Header, segment: Uint8Array): Assembled | null | false {
    const a = this.bySource[h.source]
    if (!a || a.header.seq !== h.seq || a.offset + segment.length > a.header.bytes) return false
    return this.take(a, segment)
  }

  private take(a: Assembly, segment: Uint8Array): Assembled | null {
    if (a.sunk) a.posted!.sink!.write(segment, a.offset)
    else a.payload.set(segment, a.offset)
    a.offset += segment.length
    if (a.offset < a.header.bytes) return null
    this.bySource[a.header.source] = undefined
    return a
  }
}
