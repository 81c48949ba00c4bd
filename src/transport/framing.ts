/**
 * The 48-byte header that precedes every payload frame on the wire. Little-endian:
 *
 * | offset | field  | type | meaning                                                          |
 * |--------|--------|------|------------------------------------------------------------------|
 * | 0      | magic  | u32  | 'TSR1': rejects frames that are not ours (or of another version) |
 * | 4      | commId | u32  | communicator the message belongs to                              |
 * | 8      | tag    | i32  | user tags are >= 0; collectives use negative tags                |
 * | 12     | source | u32  | sender's rank in the world                                       |
 * | 16     | dtype  | u8   | element type code (dtype.ts)                                     |
 * | 17     | kind   | u8   | DATA, CONT, ACK, FIN, QUERY, STATUS, NOTICE, DOORBELL, SHM       |
 * | 18     | flags  | u16  | WANT_ACK: sender waits for an ACK; FIRST: first shm segment      |
 * | 20     | seq    | u32  | per (sender, receiver) message number, echoed by ACK             |
 * | 24     | bytes  | f64  | total payload bytes of the message (all segments)                |
 * | 32     | coll   | u8   | collective that sent it (0: point to point) - the signature:     |
 * | 33     | op     | u8   |   reduction op (0: none)                                         |
 * | 34     | root   | u16  |   root rank (0xffff: none)                                       |
 * | 36     | count  | f64  |   elements the caller passed (-1: not known to every rank)       |
 * | 44     | aux    | u32  | the sender's shared-memory fragment of an SHM frame, else 0      |
 *
 * A message travels as one frame (header and payload together: small messages, and every shared-memory
 * notice) or as two (header, then the payload straight from the sender's memory: segments of large ones).
 */
import { isKnownDtype } from '../dtype.ts'
import type { Signature } from './transport.ts'

export const HEADER_BYTES = 48
export const MAGIC = 0x31525354 // "TSR1" read little-endian

export const KIND_DATA = 0
export const KIND_CONT = 1
export const KIND_ACK = 2
export const KIND_FIN = 3
/** "How many collectives have you started on communicator commId?" (seq: query id). */
export const KIND_QUERY = 4
/** The answer to a QUERY: bytes = the count. */
export const KIND_STATUS = 5
/** A fact about communicator commId, as JSON: a mismatch ("collective #n does not match"), a join, ... (comm/). */
export const KIND_NOTICE = 6
/** "Look at your shared-memory queue" (or "a fragment or cell you waited for is free"): the doorbell (transport/shm). */
export const KIND_DOORBELL = 7
/** A segment of a message waits in the sender's shared-memory fragment `aux`; bytes = the whole message's length. */
export const KIND_SHM = 8
const LAST_KIND = KIND_SHM

export const FLAG_WANT_ACK = 1
/** The first segment of a message sent through shared memory. */
export const FLAG_FIRST = 2

/** Largest message we accept from a peer; a header claiming more is rejected as garbage. */
export const MAX_MESSAGE_BYTES = 2 ** 40

export interface Header extends Signature {
  commId: number
  tag: number
  source: number
  dtype: number
  kind: number
  flags: number
  seq: number
  bytes: number
  /** The sender's shared-memory fragment (SHM); 0 otherwise. */
  aux?: number
}

/** Writes a header into a fresh HEADER_BYTES Buffer. */
export function encodeHeader(h: Header): Buffer {
  return writeHeader(Buffer.allocUnsafe(HEADER_BYTES), h)
}

/** Writes a header into the first HEADER_BYTES of `buf` (a one-frame message's payload follows it). */
export function writeHeader(buf: Buffer, h: Header): Buffer {
  buf.writeUInt32LE(MAGIC, 0)
  buf.writeUInt32LE(h.commId, 4)
  buf.writeInt32LE(h.tag, 8)
  buf.writeUInt32LE(h.source, 12)
  buf.writeUInt8(h.dtype, 16)
  buf.writeUInt8(h.kind, 17)
  buf.writeUInt16LE(h.flags, 18)
  buf.writeUInt32LE(h.seq, 20)
  buf.writeDoubleLE(h.bytes, 24)
  buf.writeUInt8(h.coll, 32)
  buf.writeUInt8(h.op, 33)
  buf.writeUInt16LE(h.root, 34)
  buf.writeDoubleLE(h.count, 36)
  buf.writeUInt32LE(h.aux ?? 0, 44)
  return buf
}

/**
 * Reads a header; returns a reason string instead of throwing for anything malformed, because malformed
 * input comes from outside (a stray or hostile connection) and must never crash a rank.
 */
export function decodeHeader(buf: Buffer, worldSize: number): Header | string {
  if (buf.length < HEADER_BYTES) return `header of ${buf.length} bytes, expected ${HEADER_BYTES}`
  if (buf.readUInt32LE(0) !== MAGIC) return 'bad magic'
  const h: Header = {
    commId: buf.readUInt32LE(4),
    tag: buf.readInt32LE(8),
    source: buf.readUInt32LE(12),
    dtype: buf.readUInt8(16),
    kind: buf.readUInt8(17),
    flags: buf.readUInt16LE(18),
    seq: buf.readUInt32LE(20),
    bytes: buf.readDoubleLE(24),
    coll: buf.readUInt8(32),
    op: buf.readUInt8(33),
    root: buf.readUInt16LE(34),
    count: buf.readDoubleLE(36),
    aux: buf.readUInt32LE(44),
  }
  if (h.source >= worldSize) return `source ${h.source} outside world of ${worldSize}`
  if (h.kind > LAST_KIND) return `unknown kind ${h.kind}`
  if (!isKnownDtype(h.dtype)) return `unknown dtype ${h.dtype}`
  if (!Number.isInteger(h.bytes) || h.bytes < 0 || h.bytes > MAX_MESSAGE_BYTES) return `bad length ${h.bytes}`
  return h
}
