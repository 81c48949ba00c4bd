/**
 * How a host broadcast's data moves once every rank has arrived at its round (host-collectives.ts runs the
 * rounds). Through the root's broadcast area (segment.ts: BCAST_AREA_BYTES): the root copies its data in piece by
 * piece, storing after each piece how far it got in its slot header's WRITTEN word, and the others copy each
 * piece out as soon as that word says it is there (NCCL's and MPICH's pipelined copies through a shared buffer),
 * so the two copies overlap and no message, frame or wake-up is spent on the data.
 *
 * Where the system lets ranks read each other's memory (process_vm_readv; native/tsrun.c's singleCopyProbe),
 * a broadcast of SINGLE_COPY_MIN_BYTES or more is one copy instead of two (Open MPI's CMA, MPICH's and UCX's
 * the same): the root puts its pid and its data's address in its slot and waits until every receiver has
 * counted itself done there; each receiver reads the data straight into its own buffer. A receiver that cannot
 * (not permitted after all, or the root gone) asks for the area instead, and the root copies into it.
 */
import type { HostCollectives } from '../transport.ts'
import { WRITTEN, type SlotViews } from './host-slot.ts'
import { BCAST_AREA_BYTES, type ShmSegment } from './segment.ts'

/** Bytes a broadcast's root copies between two stores of how far it got. */
const PIECE_BYTES = 16 * 1024
/** How long a broadcast's receiver waits for the root's next piece inside the call, where ranks poll. */
const PULL_SPIN_MS = 0.1
/**
 * The smallest broadcast read by single copy, where it is possible: below it the kernel's cost per call (page
 * walk and pinning) outweighs the copy it saves (np=2, `TSRUN_SINGLE_COPY=1` against 0: 16 KiB 9.1–9.2 µs
 * against 7.5–8.1, 64 KiB 12.0–13.0 against 13.1–15.8; docs/benchmarks.md).
 */
export const SINGLE_COPY_MIN_BYTES = 64 * 1024
/** A broadcast's words in the root's slot (the slot carries no data then): whether it offers single copy, its
 * pid, how many receivers are done, whether one wants the area after all; its data's address (a double). */
const OFFER = 0
const PID = 1
const DONE = 2
const WANT_AREA = 3
const ADDRESS_BYTE = 16

/** One broadcast, as one rank sees it. */
export interface Broadcast {
  /** The root's host rank number; the root's data, or where the others' goes. */
  root: number
  bytes: Uint8Array
  /** Signatures checked (the copying may take several polls). */
  checked: boolean
  /** Bytes copied out so far (receivers). */
  done: number
  /** The root offered single copy; the area has been written (root) or asked for (receiver). */
  offered: boolean
  area: boolean
}

export function broadcastOf(root: number, bytes: Uint8Array): Broadcast {
  return { root, bytes, checked: false, done: 0, offered: false, area: false }
}

/** The data moves of one rank's host broadcasts. */
export class BroadcastCopy {
  private readonly size: number
  private readonly views: SlotViews[]
  private readonly rank: number
  /** Single copy, where this rank can read its peers and be read (undefined: not here, or a read failed). */
  private memory: HostCollectives['peerMemory']
  private readonly ring: (i: number) => void
  private readonly spinUs: number
  /** Per rank, its broadcast area, and per slot its broadcast words and address. */
  private readonly areas: Uint8Array[]
  private readonly words: Int32Array[][]
  private readonly addresses: Float64Array[][]

  /**
   * `views[i]` and `segments[i]` are host rank i's; `rank` is this rank's host rank number; `memory` reads peers'
   * memory where single copy is possible here; `ring(i)` wakes host rank i if it sleeps.
   */
  constructor(segments: ShmSegment[], views: SlotViews[], rank: number, memory: HostCollectives['peerMemory'], ring: (i: number) => void, spinUs: number) {
    this.size = segments.length
    this.views = views
    this.rank = rank
    this.memory = memory
    this.ring = ring
    this.spinUs = spinUs
    this.areas = segments.map((s) => new Uint8Array(s.memory, s.bcastOffset, BCAST_AREA_BYTES))
    this.words = views.map((v) => v.slots.map((d) => new Int32Array(d.buffer, d.byteOffset, 4)))
    this.addresses = views.map((v) => v.slots.map((d) => new Float64Array(d.buffer, d.byteOffset + ADDRESS_BYTE, 1)))
  }

  /** The root, before it arrives at round slot k: its offer of single copy (or not) in its slot. */
  offer(big: Broadcast, k: number): void {
    const words = this.words[this.rank]![k]!
    big.offered = this.memory !== undefined && big.bytes.byteLength >= SINGLE_COPY_MIN_BYTES
    words[OFFER] = big.offered ? 1 : 0
    words[PID] = process.pid
    words[DONE] = 0
    words[WANT_AREA] = 0
    if (big.offered) this.addresses[this.rank]![k]![0] = this.memory!.addressOf(big.bytes)
  }

  /** Moves what it can of a broadcast everyone has arrived at; true once this rank is done with it. */
  move(big: Broadcast, k: number): boolean {
    return big.root === this.rank ? this.give(big, k) : this.take(big, k)
  }

  /** The root: copies into the area (unless single copy is offered and no receiver wants it), waits for them. */
  private give(big: Broadcast, k: number): boolean {
    const words = this.words[this.rank]![k]!
    if (!big.area && (!big.offered || Atomics.load(words, WANT_AREA) !== 0)) {
      big.area = true
      const area = this.areas[this.rank]!
      const head = this.views[this.rank]!.heads[k]!
      const src = big.bytes
      for (let at = 0; at < src.byteLength; ) {
        const end = Math.min(src.byteLength, at + PIECE_BYTES)
        area.set(src.subarray(at, end), at)
        Atomics.store(head, WRITTEN, end)
        at = end
      }
      for (let p = 0; p < this.size; p++) if (p !== this.rank) this.ring(p) // receivers asleep for a piece
    }
    // Single copy reads this rank's own buffer: the call ends once every receiver has (they ring when done).
    return !big.offered || Atomics.load(words, DONE) >= this.size - 1
  }

  /** A receiver: reads the root's buffer (single copy) or copies out what the root has written into its area. */
  private take(big: Broadcast, k: number): boolean {
    const words = this.words[big.root]![k]!
    const dst = big.bytes
    if (!big.area && Atomics.load(words, OFFER) === 1) {
      const got = this.memory ? this.memory.read(Atomics.load(words, PID), this.addresses[big.root]![k]![0]!, dst) : -1
      if (got === dst.byteLength) return this.taken(words, big.root)
      // Not permitted here after all (or the root is gone): this rank stops trying, and asks for the area.
      this.memory = undefined
      big.area = true
      Atomics.store(words, WANT_AREA, 1)
      this.ring(big.root)
    }
    const area = this.areas[big.root]!
    const head = this.views[big.root]!.heads[k]!
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
    return Atomics.load(words, OFFER) === 1 ? this.taken(words, big.root) : true
  }

  /** A receiver of an offered broadcast is done: counted in the root's words (the root is rung if it sleeps). */
  private taken(words: Int32Array, root: number): boolean {
    Atomics.add(words, DONE, 1)
    this.ring(root)
    return true
  }
}
