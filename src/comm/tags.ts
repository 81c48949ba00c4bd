/**
 * Per-communicator sequence numbers: each collective call takes one fresh tag (gloo's nextSlot), so repeated
 * or overlapping collectives never mix messages. Collective tags are negative (user tags are >= 0, and -1 is
 * ANY_TAG), so they can never match a user's receive.
 */
const TAG_SPACE = 2 ** 30

export class TagSequence {
  private seq = 0

  /** The next collective tag: -2, -3, ... wrapping after 2^30 calls. */
  next(): number {
    const tag = -2 - this.seq
    this.seq = (this.seq + 1) % TAG_SPACE
    return tag
  }

  /** How many collectives this communicator has started (for messages: "allreduce #42"). */
  get count(): number {
    return this.seq
  }
}

/** Wire id of a child communicator: a 32-bit FNV-1a hash of (parent id, creation number, color). Never 0 (world). */
export function childCommId(parentId: number, creation: number, color: number | string): number {
  let h = 0x811c9dc5
  for (const ch of `${parentId}/${creation}/${color}`) {
    h ^= ch.charCodeAt(0)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h === 0 ? 1 : h
}
