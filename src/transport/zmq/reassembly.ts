/**
 * Reassembly of large messages. The first segment (DATA) is matched with a posted receive at once (`claim`),
 * so every later segment (CONT) is written straight into that receive's buffer; an unexpected message gets a
 * fresh buffer. Segments of one message arrive in order and unmixed with other messages from the same peer
 * (one FIFO pipe per pair, one send queue per socket), so one assembly per source is enough.
 */
import { TransportError } from '../../errors.ts'
import type { Header } from '../framing.ts'
import type { Matcher, Posted } from '../matcher.ts'

/** A message whose last segment has arrived. */
export interface Assembled {
  header: Header
  payload: Uint8Array
  /** The receive it was matched with on its first segment, if one was posted. */
  posted: Posted | undefined
}

interface Assembly extends Assembled {
  offset: number
}

export class Reassembly {
  private readonly matcher: Matcher
  private readonly rank: number
  private readonly bySource: (Assembly | undefined)[] = []

  constructor(matcher: Matcher, rank: number) {
    this.matcher = matcher
    this.rank = rank
  }

  /** The first segment of a message of `h.bytes` bytes. False: malformed (the caller drops it). */
  first(h: Header, segment: Uint8Array): boolean {
    if (segment.length >= h.bytes || this.bySource[h.source]) return false
    const posted = this.matcher.claim(h.commId, h.source, h.tag)
    let payload: Uint8Array
    try {
      payload = posted?.into && posted.into.byteLength >= h.bytes ? posted.into.subarray(0, h.bytes) : Buffer.allocUnsafe(h.bytes)
    } catch {
      posted?.reject(new TransportError(`rank ${this.rank}: no memory for a message of ${h.bytes} bytes from rank ${h.source}`))
      return false
    }
    payload.set(segment, 0)
    this.bySource[h.source] = { header: h, payload, offset: segment.length, posted }
    return true
  }

  /** A later segment: the whole message once it is complete, null while it is not, false if malformed. */
  next(h: Header, segment: Uint8Array): Assembled | null | false {
    const a = this.bySource[h.source]
    if (!a || a.header.seq !== h.seq || a.offset + segment.length > a.payload.byteLength) return false
    a.payload.set(segment, a.offset)
    a.offset += segment.length
    if (a.offset < a.payload.byteLength) return null
    this.bySource[h.source] = undefined
    return a
  }
}
