/**
 * Everything this rank sends to one rank of its host, in order, through shared memory: frames (small messages,
 * control frames) inline in cells of the peer's receive queue, large messages as fragments of this rank's own
 * pool with a notice per fragment in the peer's queue. A message or frame that finds no free cell or fragment
 * waits in the backlog, and everything after it waits behind it (MPI's non-overtaking rule; FIN comes last);
 * `pump` goes on when the peer's doorbell says a cell or fragment came free. A push that finds the peer asleep
 * rings its doorbell (the unix stream); one that finds it polling does not.
 */
import { FLAG_FIRST, HEADER_BYTES, KIND_SHM, writeHeader, type Header } from '../framing.ts'
import type { NativeModule } from '../../native/native.ts'
import type { Link } from '../peer-link.ts'
import { CELL_FRAME_BYTES, type ShmSegment } from './segment.ts'

interface Job {
  header: Header
  data: Uint8Array
  offset: number
  /** A fragment filled but whose notice found the queue full. */
  filled: number
  resolve: () => void
  reject: (e: Error) => void
}

type Item = Buffer[] | Job

const EMPTY = new Uint8Array(0)
/** Pushed: 1; pushed, and the peer sleeps: 2 (ring). */
const RING = 2

export class ShmLink implements Link {
  private readonly n: NativeModule
  private readonly mine: ShmSegment
  private readonly peer: ShmSegment
  private readonly rank: number
  private readonly ring: () => void
  /** Called when this link starts waiting for a cell or a fragment (the owner pumps it on doorbells). */
  private readonly blocked: (link: ShmLink) => void
  private readonly head = Buffer.allocUnsafe(HEADER_BYTES)
  private backlog: Item[] = []
  private at = 0
  private hint = 0
  private idle: (() => void)[] = []

  constructor(n: NativeModule, mine: ShmSegment, peer: ShmSegment, rank: number, ring: () => void, blocked: (link: ShmLink) => void) {
    this.n = n
    this.mine = mine
    this.peer = peer
    this.rank = rank
    this.ring = ring
    this.blocked = blocked
  }

  /** Queues one frame (one or two buffers, HEADER_BYTES first) after everything before it. */
  push(frames: Buffer[]): void {
    if (this.at < this.backlog.length || !this.frame(frames)) this.wait(frames)
  }

  /** A message: inline if it fits a cell, else in fragments. Resolves once the caller may reuse `data`. */
  send(header: Header, data: Uint8Array): Promise<void> | undefined {
    if (data.byteLength + HEADER_BYTES <= CELL_FRAME_BYTES) {
      if (this.at === this.backlog.length && this.cell(writeHeader(this.head, header), data)) return undefined
      const copy = Buffer.allocUnsafe(HEADER_BYTES + data.byteLength)
      writeHeader(copy, header)
      copy.set(data, HEADER_BYTES)
      this.wait([copy])
      return undefined
    }
    return new Promise((resolve, reject) => {
      const job: Job = { header, data, offset: 0, filled: -1, resolve, reject }
      if (this.at < this.backlog.length || !this.fragments(job)) this.wait(job)
    })
  }

  /** Goes on with the backlog; false while it still waits. */
  pump(): boolean {
    while (this.at < this.backlog.length) {
      const item = this.backlog[this.at]!
      if (Array.isArray(item) ? !this.frame(item) : !this.fragments(item)) return false
      this.backlog[this.at++] = undefined as unknown as Item
    }
    this.backlog = []
    this.at = 0
    this.wakeIdle()
    return true
  }

  /** Resolves once the backlog is out. */
  drained(): Promise<void> {
    if (!this.pending) return Promise.resolve()
    return new Promise((resolve) => this.idle.push(resolve))
  }

  private wakeIdle(): void {
    if (this.idle.length > 0) for (const w of this.idle.splice(0)) w()
  }

  /** True while something waits in the backlog. */
  get pending(): boolean {
    return this.at < this.backlog.length
  }

  /** Fails the waiting large sends; drops the backlog. */
  fail(err: Error): void {
    for (let i = this.at; i < this.backlog.length; i++) {
      const item = this.backlog[i]
      if (item && !Array.isArray(item)) item.reject(err)
    }
    this.backlog = []
    this.at = 0
    this.wakeIdle()
  }

  private wait(item: Item): void {
    this.backlog.push(item)
    this.blocked(this)
  }

  private frame(frames: Buffer[]): boolean {
    return this.cell(frames[0]!, frames.length > 1 ? frames[1]! : EMPTY)
  }

  /** One frame into a cell of the peer's queue (asking to be rung if it is full); rings a sleeping peer. */
  private cell(head: Uint8Array, body: Uint8Array): boolean {
    let r = this.n.shmPush(this.peer.memory, head, body)
    if (r === 0 && this.n.shmWantSpace(this.peer.memory, this.rank) === 1) r = this.n.shmPush(this.peer.memory, head, body)
    if (r === RING) this.ring()
    return r !== 0
  }

  /** Copies what it can of `job` into fragments and announces them; true once all of it is out. */
  private fragments(job: Job): boolean {
    const bytes = job.data.byteLength
    const fragBytes = this.mine.geometry.fragBytes
    const h = job.header
    while (job.offset < bytes) {
      let f = job.filled
      const len = Math.min(fragBytes, bytes - job.offset)
      if (f < 0) {
        f = this.n.shmTake(this.mine.memory, this.hint)
        if (f < 0) return false // the rest goes when a receiver frees a fragment (it rings)
        this.hint = f + 1
        this.mine.fragment(f, len).set(job.data.subarray(job.offset, job.offset + len))
      }
      h.kind = KIND_SHM
      h.flags = job.offset === 0 ? FLAG_FIRST : 0
      h.aux = f
      if (!this.cell(writeHeader(this.head, h), EMPTY)) {
        job.filled = f
        return false
      }
      job.filled = -1
      job.offset += len
    }
    job.resolve()
    return true
  }
}
