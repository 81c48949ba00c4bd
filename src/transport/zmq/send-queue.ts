/**
 * One send queue per ZeroMQ socket: zeromq.js allows a single pending `send()` per socket and rejects the
 * next with EBUSY ("Socket is busy writing"), see zeromq.js examples/queue. Frames are sent strictly in the
 * order they were pushed, which gives per-peer FIFO order and keeps the segments of one message together.
 */
import type * as zmq from 'zeromq'

export class SendQueue {
  private readonly socket: zmq.Writable
  private readonly onError: (err: Error) => void
  private items: Buffer[][] = []
  private head = 0
  private running = false
  private idleWaiters: (() => void)[] = []

  constructor(socket: zmq.Writable, onError: (err: Error) => void) {
    this.socket = socket
    this.onError = onError
  }

  /** Queues one multipart message. */
  push(frames: Buffer[]): void {
    this.items.push(frames)
    if (!this.running) void this.run()
  }

  /** Resolves once every pushed message has been handed to ZeroMQ. */
  drained(): Promise<void> {
    if (!this.running) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  private async run(): Promise<void> {
    this.running = true
    try {
      while (this.head < this.items.length) {
        const frames = this.items[this.head]
        this.items[this.head++] = undefined as unknown as Buffer[]
        await this.socket.send(frames)
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items = this.items.slice(this.head)
          this.head = 0
        }
      }
    } catch (err) {
      this.onError(err as Error)
    } finally {
      this.items = []
      this.head = 0
      this.running = false
      for (const w of this.idleWaiters.splice(0)) w()
    }
  }
}
