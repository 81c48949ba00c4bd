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
 */
import type { HostCollectives as HostCollectivesApi, HostRound } from '../transport.ts'
import { COLL_AREA_BYTES, type ShmSegment } from './segment.ts'

/** A slot: 32 bytes of header (signature words, data length), then the data. */
const SLOT_BYTES = (COLL_AREA_BYTES - 64) / 2
const SLOT_HEADER = 32
/** Data bytes a round can carry per rank. */
export const HOST_ROUND_BYTES = SLOT_BYTES - SLOT_HEADER
/** Signature words per slot. */
const SIG_WORDS = 6
/** The armed flag of a segment (native/shm.h: offset 192), as an Int32Array index. */
const ARMED = 192 / 4

interface Round {
  n: number
  sig: ArrayLike<number>
  data: Uint8Array | undefined
  read: (r: HostRound) => unknown
  resolve: (v: unknown) => void
  reject: (e: Error) => void
}

export class HostCollectives implements HostCollectivesApi, HostRound {
  readonly size: number
  readonly ranks: readonly number[]
  readonly maxBytes = HOST_ROUND_BYTES
  /** The communicator these rounds belong to (the world's), once one has taken them. */
  commId: number | undefined
  /** This rank's index in `ranks`. */
  private readonly rank: number
  private readonly ring: (index: number) => void
  /** Makes the rank poll for a round that did not complete at once. */
  private readonly wait: () => void
  /** How long a rank that arrives polls before it leaves that to the event loop (0 when oversubscribed). */
  private readonly spinUs: number
  /** Per rank: its counter's word, its segment's words (armed flag), and per slot its header and data. */
  private readonly counters: Int32Array[]
  private readonly segWords: Int32Array[]
  private readonly heads: Int32Array[][]
  private readonly slots: Uint8Array[][]
  private n = 0
  /** The round under way, and the rounds called after it. */
  private current: Round | undefined
  private readonly queued: Round[] = []
  private failure: Error | undefined

  /**
   * `segments[i]` is the segment of world rank `ranks[i]`, the host's ranks in ascending order (this rank, `rank`,
   * among them); `ring(r)` wakes world rank r.
   */
  constructor(segments: ShmSegment[], ranks: number[], rank: number, ring: (peer: number) => void, wait: () => void, spinUs: number) {
    this.size = segments.length
    this.ranks = ranks
    this.rank = ranks.indexOf(rank)
    this.ring = (i) => ring(ranks[i]!)
    this.wait = wait
    this.spinUs = spinUs
    this.counters = segments.map((s) => new Int32Array(s.memory, s.collOffset, 1))
    this.segWords = segments.map((s) => new Int32Array(s.memory, 0, 64))
    const slot = (s: ShmSegment, k: number) => s.collOffset + 64 + k * SLOT_BYTES
    this.heads = segments.map((s) => [0, 1].map((k) => new Int32Array(s.memory, slot(s, k), SLOT_HEADER / 4)))
    this.slots = segments.map((s) => [0, 1].map((k) => new Uint8Array(s.memory, slot(s, k) + SLOT_HEADER, HOST_ROUND_BYTES)))
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

  round<T>(sig: ArrayLike<number>, data: Uint8Array | undefined, read: (r: HostRound) => T): Promise<T> {
    if (this.failure) return Promise.reject(this.failure)
    if (data && data.byteLength > HOST_ROUND_BYTES) return Promise.reject(new Error(`internal: a host round carries at most ${HOST_ROUND_BYTES} bytes`))
    return new Promise<T>((resolve, reject) => {
      const r: Round = { n: 0, sig, data, read, resolve: resolve as (v: unknown) => void, reject }
      if (this.current) this.queued.push(r)
      else this.start(r)
    })
  }

  /** The data of the host's rank number r (index in `ranks`) in the round being read (a view of its slot). */
  data(r: number): Uint8Array {
    const k = this.current!.n & 1
    const len = this.heads[r]![k]![SIG_WORDS]! >>> 0
    return this.slots[r]![k]!.subarray(0, Math.min(len, HOST_ROUND_BYTES))
  }

  /** Signature word i of the host's rank number r in the round being read. */
  signature(r: number, i: number): number {
    return this.heads[r]![this.current!.n & 1]![i]!
  }

  /** Completes the round under way if every rank has arrived; true if it did. Cheap: the poll calls it. */
  poll(): boolean {
    const r = this.current
    if (!r || !this.arrived(r.n)) return false
    this.finish(r)
    return true
  }

  /** A failure of the transport (a lost peer) or of the communicator (a mismatch): no round completes. */
  fail(err: Error): void {
    if (this.failure) return
    this.failure = err
    const all = [...(this.current ? [this.current] : []), ...this.queued.splice(0)]
    this.current = undefined
    for (const r of all) r.reject(err)
  }

  private start(r: Round): void {
    this.current = r
    r.n = ++this.n
    const k = r.n & 1
    const head = this.heads[this.rank]![k]!
    for (let i = 0; i < SIG_WORDS; i++) head[i] = r.sig[i] ?? 0
    head[SIG_WORDS] = r.data?.byteLength ?? 0
    if (r.data) this.slots[this.rank]![k]!.set(r.data)
    Atomics.store(this.counters[this.rank]!, 0, r.n)
    // Every sleeping rank is rung (the queue's Dekker pair: our store above, their arm and re-check).
    for (let p = 0; p < this.size; p++) {
      if (p === this.rank) continue
      const w = this.segWords[p]!
      if (Atomics.load(w, ARMED) === 1 && Atomics.exchange(w, ARMED, 0) === 1) this.ring(p)
    }
    if (this.poll()) return
    // The others are often a few µs behind: wait for them here first, before the event loop's poll.
    const end = performance.now() + this.spinUs / 1000
    while (performance.now() < end) if (this.poll()) return
    this.wait()
  }

  private arrived(n: number): boolean {
    for (let p = 0; p < this.size; p++) if (((Atomics.load(this.counters[p]!, 0) - n) | 0) < 0) return false
    return true
  }

  private finish(r: Round): void {
    let out: unknown
    let err: Error | undefined
    try {
      out = r.read(this)
    } catch (e) {
      err = e as Error
    }
    this.current = undefined
    const next = this.queued.shift()
    if (next) this.start(next)
    if (err) r.reject(err)
    else r.resolve(out)
  }
}
