/**
 * The intra-host transport's shared-memory side for one rank (ARCHITECTURE.md says why it is built so): its
 * segment (a receive queue for every rank of the host, and its fragment pool), the segments of the host's other
 * ranks, mapped at connect, and how the rank waits for them:
 * - a receive from a rank of this host (or from any rank) posted while nothing has come schedules a poll
 *   (setImmediate: only once the script's own microtasks are done, so a rank never polls for a message it has not
 *   sent the request for yet) that spins on the queue for up to TSRUN_SPIN_US without a system call, and stops at
 *   the first frame. A receive from another host is never polled for: the spin holds the event loop, and the
 *   ZeroMQ message it waits for with it (measured: 2 netns hosts, 4 B allreduce 339 µs with the poll, 169 without);
 * - otherwise the rank sleeps "armed": the first producer that finds it so rings its doorbell, a frame on the
 *   unix stream (UCX's mm transport does the same with its "armed" flag and an eventfd). A rank that polls is
 *   not rung, so a message between two polling ranks costs no system call at all.
 * No polling where a host runs more ranks than it has cores (like Open MPI's yield when oversubscribed), and never
 * for longer than the spin bound, so timers, heartbeats and ZeroMQ traffic are late by at most that.
 */
import { availableParallelism } from 'node:os'
import { rmSync } from 'node:fs'
import type { NativeModule } from '../../native/native.ts'
import { segmentPath } from './files.ts'
import { HostCollectives } from './host-collectives.ts'
import { geometryFor, ShmSegment } from './segment.ts'
import { ShmInbox } from './shm-inbox.ts'
import { ShmLink } from './shm-link.ts'

/** The default poll bound, in µs, where a host has a core for each of its ranks. */
export const DEFAULT_SPIN_US = 200
/** Longest single native poll: the loop looks at the clock and at freed fragments between them. */
const SLICE_NS = 50_000
/** The same while a host collective's round is under way. */
const ROUND_SLICE_NS = 1_000
/** How long a rank that arrives in a round waits for the others in the call itself (bench/collectives.ts, 8 B). */
const ROUND_ARRIVE_SPIN_US = 20

export interface IntraHostOptions {
  rank: number
  size: number
  dir: string
  /** Ranks of the job on this host (the budget's divisor). */
  localSize: number
  /** TSRUN_SHM_BYTES, the host's budget; undefined: from the free space of /dev/shm. */
  budget?: number
  /** TSRUN_SPIN_US; undefined: DEFAULT_SPIN_US, or 0 when oversubscribed. */
  spinUs?: number
  /** TSRUN_SINGLE_COPY: broadcasts read the root's memory directly where the system permits it. */
  singleCopy?: boolean
  /** Hands a frame taken from the queue to the receive path. */
  onFrame: (frame: Buffer) => void
  /**
   * True while a receive or probe is posted that a rank of this host may answer (`isPeer`): the poll goes on
   * after the script has seen what came. A receive from another host is not polled for: the spin would hold
   * the event loop, and with it the ZeroMQ message it waits for.
   */
  waiting: () => boolean
}

export class IntraHost {
  readonly inbox: ShmInbox
  /** Collectives through shared memory, when every rank of the job is on this host and has a segment. */
  collectives: HostCollectives | undefined
  private readonly n: NativeModule
  private readonly mine: ShmSegment
  private readonly rank: number
  private readonly size: number
  private readonly dir: string
  private readonly onFrame: (frame: Buffer) => void
  private readonly stillWaiting: () => boolean
  private readonly spinOption: number | undefined
  private readonly singleCopy: boolean
  private spinNs = 0
  private readonly doorbells: ((() => void) | undefined)[] = []
  private readonly blocked = new Set<ShmLink>()
  private scheduled = false
  private closed = false
  /** Nothing is taken from the queue before connect: a notice may point into a segment not mapped yet. */
  private connected = false
  private readonly poll = () => this.progress(true)
  private soonQueued = false
  private readonly takeSoon = () => {
    this.soonQueued = false
    if (this.closed) return
    this.drain()
    if (this.stillWaiting()) this.waiting()
  }

  private constructor(n: NativeModule, mine: ShmSegment, opts: IntraHostOptions) {
    this.n = n
    this.mine = mine
    this.rank = opts.rank
    this.size = opts.size
    this.dir = opts.dir
    this.onFrame = opts.onFrame
    this.stillWaiting = opts.waiting
    this.spinOption = opts.spinUs
    this.singleCopy = opts.singleCopy ?? true
    this.inbox = new ShmInbox(n, mine, (peer) => this.doorbells[peer]?.())
  }

  /** Makes this rank's segment; a string says why it cannot (budget too small, /dev/shm full). */
  static create(n: NativeModule, opts: IntraHostOptions): IntraHost | string {
    const g = geometryFor(opts.dir, opts.localSize, opts.size, opts.budget)
    if (typeof g === 'string') return g
    try {
      return new IntraHost(n, ShmSegment.create(n, segmentPath(opts.dir, opts.rank), g), opts)
    } catch (err) {
      return (err as Error).message
    }
  }

  /**
   * Maps the segments of `peers` (the ranks of this host that have one, this rank among them, ascending) and
   * returns a link to each. `ring(peer)` rings a peer's doorbell. The last rank to map a segment unlinks its file.
   * `everyone`: every rank of the job has a segment, so every host can run host collectives among its ranks.
   */
  connect(peers: number[], ring: (peer: number) => () => void, everyone = false): Map<number, ShmLink> {
    const links = new Map<number, ShmLink>()
    const ranks = peers.length
    // Alone on its host a rank has nothing to poll for.
    const spin = ranks === 1 ? 0 : (this.spinOption ?? (ranks > availableParallelism() ? 0 : DEFAULT_SPIN_US))
    this.spinNs = spin * 1000
    if (ranks === 1) rmSync(this.mine.path, { force: true })
    const segments: ShmSegment[] = []
    segments[this.rank] = this.mine
    for (const peer of peers) {
      if (peer === this.rank) continue
      const seg = ShmSegment.open(this.n, segmentPath(this.dir, peer))
      segments[peer] = seg
      if (this.n.shmMapped(seg.memory) === ranks) rmSync(seg.path, { force: true })
      this.inbox.attach(peer, seg)
      const bell = ring(peer)
      this.doorbells[peer] = bell
      links.set(peer, new ShmLink(this.n, this.mine, seg, this.rank, bell, (l) => this.blocked.add(l)))
    }
    if (everyone && this.size > 1) {
      const bell = (p: number) => this.doorbells[p]?.()
      const group = peers.map((p) => segments[p]!)
      // Single copy where this process can be read by its peers and can read them (native/tsrun.c says when).
      const cma = this.singleCopy && this.n.singleCopyProbe?.() === 1 ? this.n : undefined
      this.collectives = new HostCollectives(group, peers, this.rank, bell, () => this.waiting(), Math.min(ROUND_ARRIVE_SPIN_US, spin), cma)
    }
    this.connected = true
    this.progress(false) // what faster peers wrote before we were here
    return links
  }

  /** True when world rank `rank` is another rank of this host, with a queue here. */
  isPeer(rank: number): boolean {
    return this.doorbells[rank] !== undefined
  }

  /** A receive is waiting: poll for it once the script's microtasks are done. */
  waiting(): void {
    if (this.spinNs === 0 || this.scheduled || this.closed || !this.connected) return
    this.scheduled = true
    setImmediate(this.poll)
  }

  /** A receive or probe was posted: once the script's synchronous code is done, take what came, then poll. */
  soon(): void {
    if (this.soonQueued || this.closed || !this.connected) return
    this.soonQueued = true
    queueMicrotask(this.takeSoon)
  }

  /** Takes what has arrived, without waiting (iprobe; a receive being posted). */
  drain(): number {
    if (!this.connected) return 0
    const k = this.inbox.drain(this.onFrame)
    if (this.blocked.size > 0) this.pump()
    return k
  }

  /** A doorbell: take what came, go on with waiting sends, sleep armed again. */
  doorbell(): void {
    this.progress(false)
  }

  /** The host collectives for communicator `commId`: the first communicator to ask takes them. */
  hostCollectives(commId: number): HostCollectives | undefined {
    const c = this.collectives
    if (c && c.commId === undefined) c.commId = commId
    return c?.commId === commId ? c : undefined
  }

  /** The transport failed (`commId` undefined) or one communicator did: its rounds fail with `err`. */
  fail(err: Error, commId?: number): void {
    if (commId === undefined || this.collectives?.commId === commId) this.collectives?.fail(err)
  }

  /** Removes this rank's file if some peer never mapped it. */
  close(): void {
    this.closed = true
    rmSync(this.mine.path, { force: true })
  }

  private progress(spin: boolean): void {
    this.scheduled = false
    if (this.closed) return
    const came = this.drain() > 0 || this.roundDone() || (spin && this.busy() && this.spin())
    if (came) {
      // Something came: the script runs on it first (it may send and post the next receive), and the rank stays
      // unarmed until the poll after it, so a peer's reply in between needs no doorbell.
      this.linger()
      return
    }
    // Armed again: from now on the first producer rings. A frame that came in between is taken now.
    while (this.n.shmArm(this.mine.memory, true) === 1 && this.drain() > 0) {}
    // A round the last rank completed before we armed: it found us unarmed and rang nothing.
    if (this.roundDone()) this.linger()
  }

  private roundDone(): boolean {
    return this.collectives?.poll() ?? false
  }

  private busy(): boolean {
    return this.stillWaiting() || (this.collectives?.pending ?? false)
  }

  /** One more poll once the script has run on what came: it spins if a receive waits, else arms. */
  private linger(): void {
    if (this.scheduled || this.closed) return
    this.scheduled = true
    setImmediate(this.poll)
  }

  /** Polls the queue without system calls until a frame comes (true) or the bound is spent. */
  private spin(): boolean {
    const mem = this.mine.memory
    this.n.shmArm(mem, false)
    const end = performance.now() + this.spinNs / 1e6
    // A round under way is polled between short native waits; its flags are not in the queue.
    const slice = this.collectives?.pending ? ROUND_SLICE_NS : SLICE_NS
    for (;;) {
      const left = Math.round((end - performance.now()) * 1e6)
      if (left <= 0) return false
      const r = this.n.shmWait(mem, Math.min(left, slice))
      if (r === 1 && this.drain() > 0) return true
      if (r === 2) this.pump()
      if (this.roundDone()) return true
    }
  }

  private pump(): void {
    for (const l of this.blocked) if (l.pump()) this.blocked.delete(l)
  }
}
