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
  /** Signatures of this rank's recent collectives by tag, and of messages that came before this rank's call. */
  private readonly sigs = new Map<number, FullSignature>()
  private readonly early = new Map<number, { source: number; sig: FullSignature }>()

  constructor(scope: CommScope) {
    this.scope = scope
  }

  /** This rank calls collective `tag` with `sig`: checks a message that came before the call. */
  called(tag: number, sig: FullSignature): void {
    this.sigs.set(tag, sig)
    this.sigs.delete(tag + SIGNATURES_KEPT) // tags count down: this one is SIGNATURES_KEPT calls old
    const early = this.early.get(tag)
    if (!early) return
    this.early.delete(tag)
    this.compare(tag, early.source, early.sig)
  }

  /** A collective message arrived from world rank `source`: does its call match ours? */
  arrived(tag: number, source: number, theirs: FullSignature): void {
    if (this.error) return
    if (this.sigs.has(tag)) this.compare(tag, source, theirs)
    else if (!this.early.has(tag)) this.early.set(tag, { source, sig: { ...theirs } })
  }

  /** The signature of this rank's call with `tag`, if still kept. */
  signatureAt(tag: number): FullSignature | undefined {
    return this.sigs.get(tag)
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
    if (compatible(mine, theirs)) return
    const info = { tag, first: { rank: this.scope.rankOf(source), sig: theirs }, second: { rank: this.scope.rank, sig: mine } }
    this.poison(info)
    // Tell every member, so that no one waits for this collective any longer.
    this.scope.transport.notify([...this.scope.members], this.scope.commId, { kind: 'mismatch', info })
  }
}

/** What a peer said about a communicator this rank has not created yet: a collective message, or a notice. */
export type EarlyNotice = { kind: 'arrival'; tag: number; source: number; sig: FullSignature } | { kind: 'notice'; source: number; notice: unknown }

/** How many communicators' early notices a rank keeps (the oldest go first: freed or never created here). */
const EARLY_COMMS_KEPT = 256
/** How many notices per communicator. */
const EARLY_PER_COMM = 64

/**
 * Notices for communicators this rank has not created yet. A faster peer can create a `dup()` or `split()`,
 * call a collective on it and find a mismatch before this rank has made the same communicator; dropping its
 * notice would leave this rank waiting for a collective that can never complete. They are replayed when the
 * communicator is made (MismatchDetector.replay).
 */
export class EarlyNotices {
  private readonly byComm = new Map<number, EarlyNotice[]>()

  hold(commId: number, notice: EarlyNotice): void {
    let list = this.byComm.get(commId)
    if (!list) {
      if (this.byComm.size >= EARLY_COMMS_KEPT) this.byComm.delete(this.byComm.keys().next().value!)
      this.byComm.set(commId, (list = []))
    }
    // Mismatch and join notices are few and each matters; collective arrivals beyond the first few add nothing.
    if (notice.kind === 'notice' || list.length < EARLY_PER_COMM) list.push(notice.kind === 'arrival' ? { ...notice, sig: { ...notice.sig } } : notice)
  }

  /** The notices held for `commId`, in arrival order; forgets them. */
  take(commId: number): EarlyNotice[] {
    const list = this.byComm.get(commId) ?? []
    this.byComm.delete(commId)
    return list
  }
}
