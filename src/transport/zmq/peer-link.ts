/**
 * Everything this rank sends to one peer, in order: ZeroMQ frames through the socket's send queue, and large
 * messages through the pair's shared-memory slots (transport/shm) as the slots come free. While a shared-memory
 * message waits for slots, later frames to the same peer wait behind it (the backlog), so that messages are
 * matched in the order they were sent (MPI's non-overtaking rule) and the FIN of finalize comes last. Slot
 * credits and status answers may pass (`pushNow`): nothing is matched against them.
 */
import { encodeHeader, FLAG_FIRST, KIND_SHM, type Header } from '../framing.ts'
import type { ShmOutbox } from '../shm/outbox.ts'
import type { FrameQueue } from '../frame-queue.ts'

interface ShmJob {
  header: Header
  data: Uint8Array
  offset: number
  resolve: () => void
  reject: (e: Error) => void
}

export class PeerLink {
  readonly queue: FrameQueue
  /** The pair's shared slots, once a large message has needed them. */
  outbox: ShmOutbox | undefined
  private backlog: (Buffer[] | ShmJob)[] = []
  private head = 0

  constructor(queue: FrameQueue) {
    this.queue = queue
  }

  /** Sends frames after everything pushed before them. */
  push(frames: Buffer[]): void {
    if (this.head === this.backlog.length) this.queue.push(frames)
    else this.backlog.push(frames)
  }

  /** Sends frames at once, ahead of a waiting backlog (credits, status answers). */
  pushNow(frames: Buffer[]): void {
    this.queue.push(frames)
  }

  /** Sends `data` through the shared slots (after `outbox` is set); resolves once it is all copied in. */
  sendShm(header: Header, data: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.backlog.push({ header, data, offset: 0, resolve, reject })
      if (this.backlog.length - this.head === 1) this.pump()
    })
  }

  /** The receiver gave slot `i` back. False for a bad slot number. */
  credit(i: number): boolean {
    if (!this.outbox?.release(i)) return false
    this.pump()
    return true
  }

  /** True while something pushed has not been handed to ZeroMQ. */
  get pending(): boolean {
    return this.head < this.backlog.length || this.queue.pending
  }

  /** Fails every waiting shared-memory send; drops the backlog. */
  fail(err: Error): void {
    for (let i = this.head; i < this.backlog.length; i++) {
      const job = this.backlog[i]
      if (!Array.isArray(job)) job.reject(err)
    }
    this.backlog = []
    this.head = 0
  }

  private pump(): void {
    const out = this.outbox
    while (this.head < this.backlog.length) {
      const job = this.backlog[this.head]
      if (Array.isArray(job)) {
        this.queue.push(job)
        this.head++
        continue
      }
      const bytes = job.data.byteLength
      while (job.offset < bytes) {
        const slot = out!.acquire()
        if (slot === undefined) return // the rest goes when the receiver gives a slot back
        const len = Math.min(out!.slotBytes, bytes - job.offset)
        out!.slot(slot).set(job.data.subarray(job.offset, job.offset + len))
        job.header.kind = KIND_SHM
        job.header.flags = job.offset === 0 ? FLAG_FIRST : 0
        job.header.aux = slot
        this.queue.push([encodeHeader(job.header)])
        job.offset += len
      }
      this.head++
      job.resolve()
    }
    this.backlog = []
    this.head = 0
  }
}
