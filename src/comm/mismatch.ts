/**
 * Mismatch detection (Horovod's ConstructResponse checks): every collective message carries the signature of
 * the call that sent it. A rank compares each arriving signature with its own call of the same tag, or keeps
 * it until it makes that call; on a difference it fails the communicator with a CollectiveMismatchError that
 * names both calls and tells every member, so that no rank waits for a collective that can never complete.
 */
import { CollectiveMismatchError } from '../errors.ts'
import type { CommScope } from './scope.ts'
import { compatible, describeSignature, type FullSignature } from './signature.ts'

/** How many recent collectives' signatures a communicator keeps to check late messages against. */
const SIGNATURES_KEPT = 4096

/** What a member reports when two calls do not match: both calls, with the ranks that made them. */
export interface MismatchInfo {
  tag: number
  first: { rank: number; sig: FullSignature }
  second: { rank: number; sig: FullSignature }
}

export class MismatchDetector {
  /** Set once calls did not match: every later call on the communicator throws it. */
  error: CollectiveMismatchError | undefined
  private readonly scope: CommScope
  /** Signatures of this rank's recent collectives by tag. */
  private readonly sigs = new Map<number, FullSignature>()
  /**
   * Signatures of messages that came before this rank's call of their tag: every different one, each with the
   * first rank that sent it. Not only the first message's: with three or more ranks, the first block to come
   * may match this rank's call while a later one does not (a gatherv root that is slower than both senders).
   */
  private readonly early = new Map<number, Arrival[]>()

  constructor(scope: CommScope) {
    this.scope = scope
  }

  /** This rank calls collective `tag` with `sig`: checks every message that came before the call. */
  called(tag: number, sig: FullSignature): void {
    this.sigs.set(tag, sig)
    this.sigs.delete(tag + SIGNATURES_KEPT) // tags count down: this one is SIGNATURES_KEPT calls old
    const early = this.early.get(tag)
    if (!early) return
    this.early.delete(tag)
    for (const a of early) if (!this.error) this.compare(tag, a.source, a.sig)
  }

  /** A collective message arrived from world rank `source`: does its call match ours? */
  arrived(tag: number, source: number, theirs: FullSignature): void {
    if (this.error) return
    if (this.sigs.has(tag)) return this.compare(tag, source, theirs)
    keepDistinct(this.early, tag, source, theirs, EARLY_SIGNATURES_PER_TAG)
  }

  /**
   * A collective of this rank found by itself that a peer's message does not fit its call (a block longer
   * than the counts say, a reducing receive of another element type): fails the communicator and tells every
   * member, as a signature that does not match does.
   */
  found(tag: number, source: number, theirs: FullSignature): void {
    if (this.error) return
    const mine = this.sigs.get(tag)
    if (mine) this.report(tag, source, theirs, mine)
  }

  /** The signature of this rank's call with `tag`, if still kept. */
  signatureAt(tag: number): FullSignature | undefined {
    return this.sigs.get(tag)
  }

  /** Number of tags with messages that came before this rank's call, for tests and diagnostics. */
  get waiting(): number {
    return this.early.size
  }

  /** A member found that calls do not match: fail this communicator with the facts. */
  poison(info: MismatchInfo): void {
    if (this.error) return
    const { rank, name, transport, commId } = this.scope
    const n = -2 - info.tag + 1
    this.error = new CollectiveMismatchError(
      `rank ${rank} of ${name}: collective #${n} does not match: rank ${info.first.rank} called ` +
        `${describeSignature(info.first.sig)} while rank ${info.second.rank} called ${describeSignature(info.second.sig)}; ` +
        `every rank must call the same collectives in the same order with the same root, op, element type and length`,
    )
    transport.failComm(commId, this.error)
  }

  private compare(tag: number, source: number, theirs: FullSignature): void {
    const mine = this.sigs.get(tag)!
    if (!compatible(mine, theirs)) this.report(tag, source, theirs, mine)
  }

  private report(tag: number, source: number, theirs: FullSignature, mine: FullSignature): void {
    const info = { tag, first: { rank: this.scope.rankOf(source), sig: { ...theirs } }, second: { rank: this.scope.rank, sig: mine } }
    this.poison(info)
    // Tell every member, so that no one waits for this collective any longer, and a rank that only sent fails
    // at its next call on this communicator at the latest.
    this.scope.transport.notify([...this.scope.members], this.scope.commId, { kind: 'mismatch', info })
  }
}

/** A collective message's signature, and the world rank that sent it. */
interface Arrival {
  source: number
  sig: FullSignature
}

/** How many different signatures of one early tag a detector keeps (one per member at most, in practice). */
const EARLY_SIGNATURES_PER_TAG = 64

/** The fields a signature is compared by (a caller's richer object may carry more). */
function sameSignature(a: FullSignature, b: FullSignature): boolean {
  return a.coll === b.coll && a.op === b.op && a.root === b.root && a.count === b.count && a.dtype === b.dtype
}

/**
 * Adds `sig` from `source` to the arrivals kept for `tag` unless one with the same signature is there: a
 * second message of the same signature can show nothing the first did not, one with another signature can.
 * True when it added one (false: known already, or `tag` holds `max` different ones).
 */
function keepDistinct(byTag: Map<number, Arrival[]>, tag: number, source: number, sig: FullSignature, max: number): boolean {
  let list = byTag.get(tag)
  if (!list) byTag.set(tag, (list = []))
  if (list.length >= max || list.some((a) => sameSignature(a.sig, sig))) return false
  list.push({ source, sig: copySignature(sig) })
  return true
}

/** Only a signature's fields (the transport hands over its frame header). */
function copySignature(s: FullSignature): FullSignature {
  return { coll: s.coll, op: s.op, root: s.root, count: s.count, dtype: s.dtype }
}

/** What a peer said about a communicator this rank has not created yet: a collective message, or a notice. */
export type EarlyNotice = { kind: 'arrival'; tag: number; source: number; sig: FullSignature } | { kind: 'notice'; source: number; notice: unknown }

/** How many communicators' early notices a rank keeps (the oldest go first: freed or never created here). */
const EARLY_COMMS_KEPT = 256
/**
 * How many collective arrivals (different signatures of a tag) per communicator: as many as the detector keeps
 * signatures of its own calls. A peer that only sends (the non-roots of a gatherv, a broadcast root) can run
 * many collectives ahead on a communicator before this rank makes it; every one of them must still be checked.
 */
const EARLY_ARRIVALS_PER_COMM = SIGNATURES_KEPT
/** How many notices (mismatches, joins) per communicator. */
const EARLY_NOTICES_PER_COMM = 256

interface HeldComm {
  /** Collective arrivals by tag, every different signature once (replayed before the notices). */
  arrivals: Map<number, Arrival[]>
  arrivalCount: number
  notices: { source: number; notice: unknown }[]
}

/**
 * Notices for communicators this rank has not created yet. A faster peer can create a `dup()` or `split()`,
 * call a collective on it and find a mismatch before this rank has made the same communicator; dropping its
 * notice would leave this rank waiting for a collective that can never complete. Its collective messages are
 * kept the same way, every different signature of a tag (not only the first message's), so that the
 * communicator checks them all once it is made and this rank calls the collective (CommRegistry.add).
 */
export class EarlyNotices {
  private readonly byComm = new Map<number, HeldComm>()

  hold(commId: number, notice: EarlyNotice): void {
    let held = this.byComm.get(commId)
    if (!held) {
      if (this.byComm.size >= EARLY_COMMS_KEPT) this.byComm.delete(this.byComm.keys().next().value!)
      this.byComm.set(commId, (held = { arrivals: new Map(), arrivalCount: 0, notices: [] }))
    }
    if (notice.kind === 'notice') {
      if (held.notices.length < EARLY_NOTICES_PER_COMM) held.notices.push({ source: notice.source, notice: notice.notice })
      return
    }
    if (held.arrivalCount >= EARLY_ARRIVALS_PER_COMM && !held.arrivals.has(notice.tag)) return
    if (keepDistinct(held.arrivals, notice.tag, notice.source, notice.sig, EARLY_SIGNATURES_PER_TAG)) held.arrivalCount++
  }

  /** What is held for `commId`: the collective arrivals (tag by tag), then the notices in arrival order; forgets them. */
  take(commId: number): EarlyNotice[] {
    const held = this.byComm.get(commId)
    if (!held) return []
    this.byComm.delete(commId)
    const out: EarlyNotice[] = []
    for (const [tag, list] of held.arrivals) for (const a of list) out.push({ kind: 'arrival', tag, source: a.source, sig: a.sig })
    for (const n of held.notices) out.push({ kind: 'notice', source: n.source, notice: n.notice })
    return out
  }
}
