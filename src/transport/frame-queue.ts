/** What a peer link sends frames through: a ZeroMQ socket's send queue, or a unix-domain stream. */
export interface FrameQueue {
  /** Queues one message of one or two frames; frames to one peer leave in the order they were pushed. */
  push(frames: Buffer[]): void
  /** True while pushed frames have not all been handed to the operating system. */
  readonly pending: boolean
  /** Resolves once every pushed frame has been handed over. */
  drained(): Promise<void>
}
