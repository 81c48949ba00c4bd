/**
 * What the transport sends to one peer through: a pipe (a ZeroMQ socket's send queue, or a unix stream) or the
 * peer's shared-memory queue (shm/shm-link.ts). Frames to one peer leave in the order they were pushed.
 */
import type { FrameQueue } from './frame-queue.ts'

export interface Link {
  /** Queues one message of one or two frames after everything pushed before it. */
  push(frames: Buffer[]): void
  /** True while something pushed has not been handed over. */
  readonly pending: boolean
  /** Resolves once everything pushed has been handed over. */
  drained(): Promise<void>
  /** Fails what waits; drops the backlog. */
  fail(err: Error): void
}

/** A link over a pipe, which takes every frame at once. */
export class PipeLink implements Link {
  readonly queue: FrameQueue

  constructor(queue: FrameQueue) {
    this.queue = queue
  }

  push(frames: Buffer[]): void {
    this.queue.push(frames)
  }

  get pending(): boolean {
    return this.queue.pending
  }

  drained(): Promise<void> {
    return this.queue.drained()
  }

  fail(): void {}
}
