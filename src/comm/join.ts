/**
 * Uneven data (Horovod's `join`): a rank that has run out of data calls `join()`; the others' collectives go on
 * with it taking part as a "joined" rank that contributes the op's identity (zeros for a sum), and an average
 * divides by the ranks that still had data. `join()` returns on every rank once all have joined.
 *
 * Protocol, on the control plane (notices, beside the data):
 * 1. A joining rank J tells every member `join {at}`: it has started `at` collectives on this communicator.
 * 2. Each member records it, acknowledges, and from then on tells J the signature of each of its collectives
 *    numbered after `at` (those already started at once, later ones as they start).
 * 3. J waits for every acknowledgement before it sends any collective data. So every member has recorded J's
 *    join before any data of J reaches it, directly or through others: when an average is divided, after every
 *    rank's data has arrived, each rank knows exactly which ranks contributed (the same count on every rank).
 * 4. J runs each collective it is told of with identity data, until every member has joined and it has caught
 *    up with the last of them.
 * Notices carry an epoch (joins completed on the communicator) so that a fast rank's next join is not confused
 * with this one.
 */
import { fillIdentity, REDUCE_OPS, type BuiltinOp } from '../collectives/reduce-ops.ts'
import { viewAs, type TypedArray } from '../dtype.ts'
import { TimeoutError } from '../errors.ts'
import type { CommScope } from './scope.ts'
import { COLLECTIVES, type FullSignature } from './signature.ts'

/** Root value of the lengths exchange that opens a v-call without counts (tells it from the call itself). */
export const LENGTHS_ROOT = 0xfffe

/** A signature as told to a joined rank: `extra` carries the data's element type of a lengths exchange. */
export type ToldSignature = FullSignature & { extra?: number }

export type JoinNotice =
  | { kind: 'join'; epoch: number; at: number }
  | { kind: 'join-ack'; epoch: number }
  | { kind: 'join-sig'; epoch: number; seq: number; sig: ToldSignature }

export const isJoinNotice = (n: { kind?: unknown }): n is JoinNotice => typeof n.kind === 'string' && n.kind.startsWith('join')

/** What a join needs of its communicator. */
export interface JoinHost {
  scope: CommScope
  /** Collectives started so far. */
  started(): number
  /** Signature of this rank's collective number `seq` (1-based), if still kept. */
  told(seq: number): ToldSignature | undefined
}

export class Joins {
  /** Joins completed on this communicator. */
  epoch = 0
  /** Ranks (in the communicator) that have joined in this epoch, with the number of collectives they had started. */
  private readonly joined = new Map<number, number>()
  private readonly acks = new Set<number>()
  private readonly sigs = new Map<number, { sig: ToldSignature; from: number }>()
  private readonly later: [number, JoinNotice][] = []
  private wake: (() => void) | undefined
  /** True while this rank is inside join(). */
  active = false
  private readonly host: JoinHost

  constructor(host: JoinHost) {
    this.host = host
  }

  /** A peer's join notice (`source` is its world rank). */
  onNotice(source: number, n: JoinNotice): void {
    const from = this.host.scope.rankOf(source)
    if (n.epoch > this.epoch) return void this.later.push([source, n])
    if (n.epoch < this.epoch) return
    if (n.kind === 'join') {
      this.joined.set(from, n.at)
      this.send(from, { kind: 'join-ack', epoch: this.epoch })
      // Everything this rank has started since (as an active rank, or serving its own join) is news to it.
      for (let seq = n.at + 1; seq <= this.host.started(); seq++) this.tell(from, seq)
    } else if (n.kind === 'join-ack') {
      this.acks.add(from)
    } else if (!this.sigs.has(n.seq)) {
      this.sigs.set(n.seq, { sig: n.sig, from })
    }
    this.wake?.()
  }

  /** This rank starts collective `seq`: ranks that have joined must be told what it is. */
  began(seq: number): void {
    if (this.active || this.joined.size === 0) return
    for (const [r, at] of this.joined) if (at < seq) this.tell(r, seq)
  }

  /** How many ranks contribute data to collective `seq`: those that had not joined before it. */
  contributors(size: number, seq: number): number {
    let n = size
    for (const at of this.joined.values()) if (at < seq) n--
    return Math.max(1, n)
  }

  /** Announces this rank's join to every member (step 1). */
  announce(): void {
    const { scope } = this.host
    const at = this.host.started()
    this.joined.set(scope.rank, at)
    this.acks.add(scope.rank)
    scope.transport.notify([...scope.members], scope.commId, { kind: 'join', epoch: this.epoch, at } satisfies JoinNotice)
  }

  /** Every member has acknowledged this rank's join (step 3). */
  get acknowledged(): boolean {
    return this.acks.size === this.host.scope.members.length
  }

  /** The signature of collective `seq` and who told it, if a member has. */
  toldFor(seq: number): { sig: ToldSignature; from: number } | undefined {
    return this.sigs.get(seq)
  }

  /** When every member has joined: the number of collectives the last of them had started, and who that was. */
  get finished(): { at: number; last: number } | undefined {
    if (this.joined.size < this.host.scope.members.length) return undefined
    let last = 0
    let at = -1
    for (const [r, a] of this.joined) {
      if (a > at || (a === at && r > last)) {
        at = a
        last = r
      }
    }
    return { at, last }
  }

  /** Who has not joined yet, for a timeout message. */
  describeWait(size: number): string {
    const missing = Array.from({ length: size }, (_, r) => r).filter((r) => !this.joined.has(r))
    if (!this.acknowledged) return `waiting for rank(s) ${[...Array(size).keys()].filter((r) => !this.acks.has(r)).join(', ')} to acknowledge the join`
    return missing.length ? `rank(s) ${missing.join(', ')} have not called join()` : 'waiting for the last collectives of the other ranks'
  }

  /** Resolves at the next notice (or after `ms`, for progress checks). */
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(), ms)
      const done = () => {
        this.wake = undefined
        clearTimeout(timer)
        resolve()
      }
      this.wake = done
    })
  }

  /** The join is over: a new epoch, and the notices already received for it. */
  finish(): void {
    this.epoch++
    this.joined.clear()
    this.acks.clear()
    this.sigs.clear()
    this.active = false
    const later = this.later.splice(0)
    for (const [source, n] of later) this.onNotice(source, n)
  }

  private tell(r: number, seq: number): void {
    const sig = this.host.told(seq)
    if (sig) this.send(r, { kind: 'join-sig', epoch: this.epoch, seq, sig })
  }

  private send(r: number, n: JoinNotice): void {
    const { scope } = this.host
    if (r !== scope.rank) scope.transport.notify([scope.members[r]!], scope.commId, n)
  }
}

/** Identity data for a collective a joined rank takes part in: `count` elements of `dtype`, neutral for `op`. */
export function identityData(dtype: number, count: number, opCode: number): TypedArray {
  const data = viewAs(dtype, new Uint8Array(0)).constructor as new (n: number) => TypedArray
  const out = new data(Math.max(0, count))
  const op = REDUCE_OPS[opCode - 1]
  return op ? fillIdentity(out, op) : out
}

/** What a joined rank calls on its communicator to take part in the others' collectives. */
export interface Servable {
  readonly rank: number
  readonly size: number
  readonly started: number
  barrier(): Promise<void>
  allreduce(data: TypedArray, op: BuiltinOp): Promise<unknown>
  reduce(data: TypedArray, op: BuiltinOp, root: number): Promise<unknown>
  broadcast(data: TypedArray, root: number): Promise<unknown>
  allgatherv(data: TypedArray): Promise<unknown>
  /** Throws the communicator's failure, if it has one (a mismatch, a lost peer). */
  checkUsable(): void
  /** Fails the communicator on every rank: this joined rank cannot take part in `sig` (told by `from`). */
  refuse(seq: number, sig: ToldSignature, from: number): void
  /** A promise that rejects when the transport or the communicator fails; `stop` ends the watch. */
  watchFailure(): { failed: Promise<never>; stop(): void }
}

/** How often a waiting joined rank looks again even without a notice (a failure ends the wait at once). */
const POLL_MS = 200

/**
 * Joins on `c`: announces, waits for every acknowledgement, then takes part in every collective the others run
 * until all have joined. Resolves to the rank that joined last (the one that had started the most collectives).
 */
export async function runJoin(c: Servable, joins: Joins, timeoutMs?: number): Promise<number> {
  c.checkUsable()
  if (c.size === 1) return 0
  joins.active = true
  const watch = c.watchFailure()
  const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs
  try {
    joins.announce()
    for (;;) {
      c.checkUsable()
      const seq = c.started + 1
      if (joins.acknowledged) {
        const told = joins.toldFor(seq)
        if (told) {
          await Promise.race([serve(c, seq, told.sig, told.from), watch.failed])
          continue
        }
        const done = joins.finished
        if (done && c.started >= done.at) return done.last
      }
      if (Date.now() >= deadline) {
        throw new TimeoutError(`rank ${c.rank}: join() timed out after ${timeoutMs} ms; ${joins.describeWait(c.size)}`)
      }
      await Promise.race([joins.next(Math.min(POLL_MS, Math.max(1, deadline - Date.now()))), watch.failed])
    }
  } finally {
    watch.stop()
    joins.finish()
  }
}

async function serve(c: Servable, seq: number, sig: ToldSignature, from: number): Promise<unknown> {
  const coll = COLLECTIVES[sig.coll]
  const op = REDUCE_OPS[sig.op - 1]
  const root = sig.root
  const Ctor = () => identityData(sig.dtype, 0, 0).constructor as new (n: number) => TypedArray
  switch (coll) {
    case 'barrier':
      return c.barrier()
    case 'allreduce':
      if (op) return c.allreduce(identityData(sig.dtype, sig.count, sig.op), op)
      break
    case 'reduce':
      if (op && root !== c.rank) return c.reduce(identityData(sig.dtype, sig.count, sig.op), op, root)
      break
    case 'broadcast':
      if (root !== c.rank) return c.broadcast(new (Ctor())(sig.count), root)
      break
    case 'allgatherv':
      // The lengths exchange that opens an allgatherv without counts: take part in the whole call with nothing.
      if (root === LENGTHS_ROOT && sig.extra !== undefined) return c.allgatherv(identityData(sig.extra, 0, 0))
      break
  }
  c.refuse(seq, sig, from)
  c.checkUsable()
}
