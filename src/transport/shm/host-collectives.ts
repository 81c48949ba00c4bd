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
 * A broadcast of more than a slot holds (`bcast`, up to BCAST_AREA_BYTES) uses the root's broadcast area: the
 * root writes only its signature and arrives; once everyone has (so every rank has finished reading the last
 * broadcast), it copies its data into the area piece by piece, storing after each piece how far it got in its
 * slot's header, and the others copy each piece out as soon as that word says it is there (NCCL's and MPICH's
 * pipelined copies through a shared buffer): the two copies overlap, and no message, frame or wake-up is spent
 * on the data. A receiver polls for the root's pieces only briefly inside the call; a root that stalls or dies
 * leaves it waiting in the event loop, where the transport's failure detection ends the round.
 */
import type { HostCollectives as HostCollectivesApi, HostRound } from '../transport.ts'
import { BCAST_AREA_BYTES, COLL_AREA_BYTES, type ShmSegment } from './segment.ts'

/** A slot: 32 bytes of header (signature words, data length), then the data. */
const SLOT_BYTES = (COLL_AREA_BYTES - 64) / 2
const SLOT_HEADER = 32
/** Data bytes a round can carry per rank. */
export const HOST_ROUND_BYTES = SLOT_BYTES - SLOT_HEADER
/** Signature words per slot. */
const SIG_WORDS = 6
/** The slot header's words: data length, then (a broadcast's root) how many bytes of its area are written. */
const LENGTH = SIG_WORDS
const WRITTEN = SIG_WORDS + 1
/** The armed flag of a segment (native/shm.h: offset 192), as an Int32Array index. */
const ARMED = 192 / 4
/** Bytes a broadcast's root copies between two stores of how far it got. */
const PIECE_BYTES = 16 * 1024
/** How long a broadcast's receiver waits for the root's next piece inside the call, where ranks poll. */
const PULL_SPIN_MS = 0.1

interface Round {
  n: number
  sig: ArrayLike<number>
  data: Uint8Array | undefined
  read: (r: HostRound) => unknown
  resolve: (v: unknown) => void
  reject: (e: Error) => void
  /** A broadcast through the root's area. */
  big?: Broadcast
}

interface Broadcast {
  /** The root's rank number; the root's data, or where the others' goes. */
  root: number
  bytes: Uint8Array
  /** Signatures checked (the copying may take several polls). */
  checked: boolean
  /** Bytes copied out so far (receivers). */
  done: number
}

export class HostCollectives implements HostCollectivesApi, HostRound {
  readonly size: number
  readonly ranks: readonly number[]
  readonly maxBytes = HOST_ROUND_BYTES
  readonly maxBcastBytes = BCAST_AREA_BYTES
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
  /** Per rank, its broadcast area. */
  private readonly areas: Uint8Array[]
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
    this.areas = segments.map((s) => new Uint8Array(s.memory, s.bcastOffset, BCAST_AREA_BYTES))
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
    return new Promise<T>((resolve, reject) => this.enqueue({ n: 0, sig, data, read, resolve: resolve as (v: unknown) => void, reject }))
  }

  bcast(sig: ArrayLike<number>, root: number, bytes: Uint8Array, check: (r: HostRound) => void): Promise<void> {
    if (this.failure) return Promise.reject(this.failure)
    if (bytes.byteLength > BCAST_AREA_BYTES) return Promise.reject(new Error(`internal: a host broadcast carries at most ${BCAST_AREA_BYTES} bytes`))
    if (root < 0 || root >= this.size) return Promise.reject(new Error(`internal: no host rank number ${root}`))
    return new Promise<void>((resolve, reject) => {
      const big: Broadcast = { root, bytes, checked: false, done: 0 }
      this.enqueue({ n: 0, sig, data: undefined, read: check, resolve: resolve as (v: unknown) => void, reject, big })
    })
  }

  private enqueue(r: Round): void {
    if (this.current) this.queued.push(r)
    else this.start(r)
  }

  /** The data of the host's rank number r (index in `ranks`) in the round being read (a view of its slot). */
  data(r: number): Uint8Array {
    const k = this.current!.n & 1
    const len = this.heads[r]![k]![LENGTH]! >>> 0
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
    if (r.big) return this.broadcast(r, r.big)
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
    head[LENGTH] = r.big ? r.big.bytes.byteLength : (r.data?.byteLength ?? 0)
    head[WRITTEN] = 0
    if (r.data) this.slots[this.rank]![k]!.set(r.data)
    Atomics.store(this.counters[this.rank]!, 0, r.n)
    this.ringSleepers()
    if (this.poll()) return
    // The others are often a few µs behind: wait for them here first, before the event loop's poll.
    const end = performance.now() + this.spinUs / 1000
    while (performance.now() < end) if (this.poll()) return
    this.wait()
  }

  /** Rings every rank that sleeps (the queue's Dekker pair: the store before this, their arm and re-check). */
  private ringSleepers(): void {
    for (let p = 0; p < this.size; p++) {
      if (p === this.rank) continue
      const w = this.segWords[p]!
      if (Atomics.load(w, ARMED) === 1 && Atomics.exchange(w, ARMED, 0) === 1) this.ring(p)
    }
  }

  /**
   * A broadcast round everyone has arrived at: the signatures are checked, then the root copies its data in and
   * the others copy out what it has written. True once this rank is done (the round is finished).
   */
  private broadcast(r: Round, big: Broadcast): boolean {
    const k = r.n & 1
    if (!big.checked) {
      big.checked = true
      try {
        r.read(this)
      } catch (e) {
        this.settle(r, undefined, e as Error)
        return true
      }
      if (big.root === this.rank) {
        const area = this.areas[this.rank]!
        const head = this.heads[this.rank]![k]!
        const src = big.bytes
        for (let at = 0; at < src.byteLength; ) {
          const end = Math.min(src.byteLength, at + PIECE_BYTES)
          area.set(src.subarray(at, end), at)
          Atomics.store(head, WRITTEN, end)
          at = end
        }
        this.ringSleepers() // receivers that slept while they waited for a piece
        this.settle(r, undefined, undefined)
        return true
      }
    }
    const area = this.areas[big.root]!
    const head = this.heads[big.root]![k]!
    const dst = big.bytes
    const until = this.spinUs > 0 ? performance.now() + PULL_SPIN_MS : 0
    for (let i = 1; ; i++) {
      const written = Math.min(Atomics.load(head, WRITTEN), dst.byteLength)
      if (written > big.done) {
        dst.set(area.subarray(big.done, written), big.done)
        big.done = written
      }
      if (big.done === dst.byteLength) break
      // The clock costs more than a look at the word: every 64th time. Then polled again, or rung by the root.
      if ((i & 63) === 0 && performance.now() >= until) return false
    }
    this.settle(r, undefined, undefined)
    return true
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
    this.settle(r, out, err)
  }

  /** Ends the round under way and starts the next one called. */
  private settle(r: Round, out: unknown, err: Error | undefined): void {
    this.current = undefined
    const next = this.queued.shift()
    if (next) this.start(next)
    if (err) r.reject(err)
    else r.resolve(out)
  }
}
