/**
 * The layout of the host collectives' area in each rank's segment (segment.ts: COLL_AREA_BYTES at collOffset):
 * a 64-byte line whose first word is the rank's arrival counter, then two slots used in turn, each a 32-byte
 * header (signature words, data length, how much of a broadcast is written) and the data.
 */
import { COLL_AREA_BYTES, type ShmSegment } from './segment.ts'

const SLOT_BYTES = (COLL_AREA_BYTES - 64) / 2
const SLOT_HEADER = 32
/** Data bytes a round can carry per rank. */
export const HOST_ROUND_BYTES = SLOT_BYTES - SLOT_HEADER
/** Signature words per slot. */
export const SIG_WORDS = 6
/** The slot header's words: data length, then (a broadcast's root) how many bytes of its area are written. */
export const LENGTH = SIG_WORDS
export const WRITTEN = SIG_WORDS + 1
/** The armed flag of a segment (native/shm.h: offset 192), as an Int32Array index. */
export const ARMED = 192 / 4

/**
 * After the counter, the rank's last CALLS calls on the communicator that it runs by messages, not in rounds: per
 * call CALL_WORDS words (signature words, then the call's tag, stored last), after a word counting them. A rank
 * waiting in a round for a peer finds there that the peer runs the same call another way (calls that do not
 * match, on either side of the size where the table turns to rounds), instead of waiting for it for ever.
 */
export const CALLS = 2
export const CALL_WORDS = SIG_WORDS

/** A segment's collective words: its counter, its first 64 words (armed flag), per slot its header and data. */
export interface SlotViews {
  counter: Int32Array
  /** The calls by messages: a count, then CALLS entries. */
  calls: Int32Array
  words: Int32Array
  heads: [Int32Array, Int32Array]
  slots: [Uint8Array, Uint8Array]
}

export function slotViews(s: ShmSegment): SlotViews {
  const at = (k: number) => s.collOffset + 64 + k * SLOT_BYTES
  const head = (k: number) => new Int32Array(s.memory, at(k), SLOT_HEADER / 4)
  const slot = (k: number) => new Uint8Array(s.memory, at(k) + SLOT_HEADER, HOST_ROUND_BYTES)
  const calls = new Int32Array(s.memory, s.collOffset + 4, 1 + CALLS * CALL_WORDS)
  return {
    counter: new Int32Array(s.memory, s.collOffset, 1),
    calls,
    words: new Int32Array(s.memory, 0, 64),
    heads: [head(0), head(1)],
    slots: [slot(0), slot(1)],
  }
}
