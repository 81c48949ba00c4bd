/**
 * Collectives among the ranks of one host through shared memory, without messages: the flags-and-slots
 * idea of MPICH's release/gather collectives, with one flag per rank. The last 4 KiB of each rank's segment hold
 * its arrival counter and two slots, used in turn. In round n a rank writes its signature and data into slot
 * n & 1, then n into its counter (a sequentially consistent store); the round is complete once every rank's
 * counter has reached n, and the rank then reads what it needs of the others' slots. A slot is written again two
 * rounds later, which no rank reaches before every rank has finished reading it: a rank arrives at n + 1 only
 * after it has finished n, and at n + 2 only after everyone has arrived at n + 1. So the read is part of the
 * round (`read`, run as the round completes), and a rank runs its rounds one at a time, in the order called.
 * Waiting is the intra-host transport's (intra-host.ts): poll within the spin bound, then sleep armed, with the
 * queue's own armed flag, so a rank that arrives rings every sleeping rank.
 *
 * A broadcast of more than a slot holds (`bcast`, up to BCAST_AREA_BYTES) is a round that carries only
 * signatures; once everyone has arrived, its data moves as host-broadcast.ts describes (single copy, or pipelined
 * through the root's broadcast area), over as many polls as that takes.
 */
import type { NativeModule } from '../../native/native.ts'
import type { HostCollectives as HostCollectivesApi, HostRound } from '../transport.ts'
import { type Broadcast, BroadcastCopy, broadcastOf } from './host-broadcast.ts'
import { ARMED, CALL_WORDS, CALLS, HOST_ROUND_BYTES, LENGTH, SIG_WORDS, type SlotViews, slotViews, WRITTEN } from './host-slot.ts'
import { BCAST_AREA_BYTES, type ShmSegment } from './segment.ts'

export { HOST_ROUND_BYTES } from './host-slot.ts'

interface Round {
  n: number
  sig: ArrayLike<number>
  data: Uint8Array | undefined
  read: (r: HostRound) => unknown
  resolve: (v: unknown) => void
  reject: (e: Error) => void
  /** A broadcast through the root's area. */
  big?: Broadcast
  /** Told of a peer that runs this call (the same last signature word) by messages; throws to fail the round. */
  stray?: (r: number, theirs: number[]) => void
}

export class HostCollectives implements HostCollectivesApi, HostRound {
  readonly size: number
  readonly ranks: readonly number[]
  readonly maxBytes = HOST_ROUND_BYTES
  readonly maxBcastBytes = BCAST_AREA_BYTES
  /** Single copy from the host's other ranks, where this rank found it permitted (host-broadcast.ts says how). */
  readonly peerMemory: HostCollectivesApi['peerMemory']
  /** The communicator these rounds belong to (the world's), once one has taken them. */
  commId: number | undefined
  /** This rank's index in `ranks`. */
  private readonly rank: number
  private readonly ring: (index: number) => void
  /** Makes the rank poll for a round that did not complete at once. */
  private readonly wait: () => void
  /** How long a rank that arrives polls before it leaves that to the event loop (0 when oversubscribed). */
  private readonly spinUs: number
  /** Per host rank: its counter, its segment's first words (armed flag), and per slot its header and data. */
  private readonly views: SlotViews[]
  /** How broadcasts' data moves. */
  private readonly copy: BroadcastCopy
  private n = 0
  /** The round under way, and the rounds called after it. */
  private current: Round | undefined
  private readonly queued: Round[] = []
  private failure: Error | undefined
  /** A round's `read` runs (it may fail the communicator, which must not read the round again). */
  private reading = false

  /**
   * `segments[i]` is the segment of world rank `ranks[i]`, the host's ranks in ascending order (this rank, `rank`,
   * among them); `ring(r)` wakes world rank r; `cma` is the native module where single copy is possible here.
   */
  constructor(segments: ShmSegment[], ranks: number[], rank: number, ring: (peer: number) => void, wait: () => void, spinUs: number, cma?: NativeModule) {
    this.size = segments.length
    this.ranks = ranks
    this.rank = ranks.indexOf(rank)
    this.ring = (i) => ring(ranks[i]!)
    this.wait = wait
    this.spinUs = spinUs
    this.views = segments.map(slotViews)
    this.peerMemory = cma && { addressOf: (v) => cma.addressOf!(v), read: (pid, address, dst) => cma.cmaRead!(pid, address, dst) }
    this.copy = new BroadcastCopy(segments, this.views, this.rank, this.peerMemory, (i) => this.ringOne(i), spinUs)
    // A fresh segment's area is zero: round 1 is the first.
  }

  /** True where this host's ranks poll for rounds (TSRUN_SPIN_US > 0); false when they sleep (oversubscribed). */
  get polls(): boolean {
    return this.spinUs > 0
  }

  /** Rounds this rank has started (init()'s warm-up among them). */
  get rounds(): number {
    return this.n
  }

  get pending(): boolean {
    return this.current !== undefined
  }

  round<T>(sig: ArrayLike<number>, data: Uint8Array | undefined, read: (r: HostRound) => T, stray?: Round['stray']): Promise<T> {
    if (this.failure) return Promise.reject(this.failure)
    if (data && data.byteLength > HOST_ROUND_BYTES) return Promise.reject(new Error(`internal: a host round carries at most ${HOST_ROUND_BYTES} bytes`))
    return new Promise<T>((resolve, reject) => this.enqueue({ n: 0, sig, data, read, resolve: resolve as (v: unknown) => void, reject, stray }))
  }

  /**
   * This rank runs a call by messages (`sig` as a round's, its last word the call's tag): recorded where a peer
   * waiting in a round for the same call finds it. Rings the peers that sleep.
   */
  byMessages(sig: ArrayLike<number>): void {
    const calls = this.views[this.rank]!.calls
    const k = calls[0]! & (CALLS - 1)
    const at = 1 + k * CALL_WORDS
    for (let i = 0; i < CALL_WORDS - 1; i++) calls[at + i] = sig[i] ?? 0
    Atomics.store(calls, at + CALL_WORDS - 1, sig[CALL_WORDS - 1] ?? 0)
    Atomics.store(calls, 0, (calls[0]! + 1) | 0)
    this.ringSleepers()
  }

  bcast(sig: ArrayLike<number>, root: number, bytes: Uint8Array, check: (r: HostRound) => void, stray?: Round['stray']): Promise<void> {
    if (this.failure) return Promise.reject(this.failure)
    if (bytes.byteLength > BCAST_AREA_BYTES) return Promise.reject(new Error(`internal: a host broadcast carries at most ${BCAST_AREA_BYTES} bytes`))
    if (root < 0 || root >= this.size) return Promise.reject(new Error(`internal: no host rank number ${root}`))
    return new Promise<void>((resolve, reject) => {
      const big = broadcastOf(root, bytes)
      this.enqueue({ n: 0, sig, data: undefined, read: check, resolve: resolve as (v: unknown) => void, reject, big, stray })
    })
  }

  private enqueue(r: Round): void {
    if (this.current) this.queued.push(r)
    else this.start(r)
  }

  /** The data of the host's rank number r (index in `ranks`) in the round being read (a view of its slot). */
  data(r: number): Uint8Array {
    const k = this.current!.n & 1
    const len = this.views[r]!.heads[k]![LENGTH]! >>> 0
    return this.views[r]!.slots[k]!.subarray(0, Math.min(len, HOST_ROUND_BYTES))
  }

  /** Signature word i of the host's rank number r in the round being read. */
  signature(r: number, i: number): number {
    return this.views[r]!.heads[this.current!.n & 1]![i]!
  }

  /** Completes the round under way if every rank has arrived; true if it did. Cheap: the poll calls it. */
  poll(): boolean {
    const r = this.current
    if (!r) return false
    if (!this.arrived(r.n)) return r.stray !== undefined && this.strayed(r)
    if (r.big) return this.broadcast(r, r.big)
    this.finish(r)
    return true
  }

  /** A failure of the transport (a lost peer) or of the communicator (a mismatch): no round completes. */
  fail(err: Error): void {
    if (this.failure) return
    this.failure = err
    // A round every rank has reached is complete, though not polled yet: it ends as it would have (a barrier
    // passed before a later call failed the communicator).
    const done = this.current && !this.current.big && !this.reading && this.arrived(this.current.n) ? this.current : undefined
    const all = [...(this.current && !done ? [this.current] : []), ...this.queued.splice(0)]
    this.current = undefined
    if (done) this.read(done)
    for (const r of all) r.reject(err)
  }

  private start(r: Round): void {
    this.current = r
    r.n = ++this.n
    const k = r.n & 1
    const mine = this.views[this.rank]!
    const head = mine.heads[k]
    for (let i = 0; i < SIG_WORDS; i++) head[i] = r.sig[i] ?? 0
    head[LENGTH] = r.big ? r.big.bytes.byteLength : (r.data?.byteLength ?? 0)
    head[WRITTEN] = 0
    if (r.data) mine.slots[k].set(r.data)
    if (r.big && r.big.root === this.rank) this.copy.offer(r.big, k)
    Atomics.store(mine.counter, 0, r.n)
    this.ringSleepers()
    if (this.poll()) return
    // The others are often a few µs behind: wait for them here first, before the event loop's poll.
    const end = performance.now() + this.spinUs / 1000
    while (performance.now() < end) if (this.poll()) return
    this.wait()
  }

  /** Rings every rank that sleeps (the queue's Dekker pair: the store before this, their arm and re-check). */
  private ringSleepers(): void {
    for (let p = 0; p < this.size; p++) if (p !== this.rank) this.ringOne(p)
  }

  /** A broadcast round everyone has arrived at: the signatures are checked, then the data moves. True once done. */
  private broadcast(r: Round, big: Broadcast): boolean {
    if (!big.checked) {
      big.checked = true
      try {
        r.read(this)
      } catch (e) {
        this.settle(r, undefined, e as Error)
        return true
      }
    }
    if (!this.copy.move(big, r.n & 1)) return false
    this.settle(r, undefined, undefined)
    return true
  }

  private ringOne(p: number): void {
    const w = this.views[p]!.words
    if (Atomics.load(w, ARMED) === 1 && Atomics.exchange(w, ARMED, 0) === 1) this.ring(p)
  }

  /** A peer not arrived that runs this round's call by messages: the round fails (true) with what `stray` throws. */
  private strayed(r: Round): boolean {
    const tag = r.sig[CALL_WORDS - 1] ?? 0
    for (let p = 0; p < this.size; p++) {
      if (p === this.rank || ((Atomics.load(this.views[p]!.counter, 0) - r.n) | 0) >= 0) continue
      const calls = this.views[p]!.calls
      for (let k = 0; k < CALLS; k++) {
        const at = 1 + k * CALL_WORDS
        if (Atomics.load(calls, at + CALL_WORDS - 1) !== tag) continue
        const theirs = Array.from(calls.subarray(at, at + CALL_WORDS))
        if (theirs[CALL_WORDS - 1] !== tag) continue // overwritten meanwhile
        try {
          r.stray!(p, theirs)
        } catch (e) {
          this.settle(r, undefined, e as Error)
          return true
        }
      }
    }
    return false
  }

  private arrived(n: number): boolean {
    for (let p = 0; p < this.size; p++) if (((Atomics.load(this.views[p]!.counter, 0) - n) | 0) < 0) return false
    return true
  }

  private finish(r: Round): void {
    this.read(r)
    this.startNext()
  }

  /** Runs a complete round's `read` (on what the ranks wrote, still there: no rank writes the slot again yet). */
  private read(r: Round): void {
    this.current = r
    this.reading = true
    let out: unknown
    let err: Error | undefined
    try {
      out = r.read(this)
    } catch (e) {
      err = e as Error
    }
    this.reading = false
    this.current = undefined
    if (err) r.reject(err)
    else r.resolve(out)
  }

  /** Ends the round under way and starts the next one called. */
  private settle(r: Round, out: unknown, err: Error | undefined): void {
    this.current = undefined
    this.startNext()
    if (err) r.reject(err)
    else r.resolve(out)
  }

  private startNext(): void {
    const next = this.queued.shift()
    if (next) this.start(next)
  }
}
