/**
 * One send queue per ZeroMQ socket: zeromq.js allows a single pending `send()` per socket and rejects the
 * next with EBUSY ("Socket is busy writing"), see zeromq.js examples/queue. Frames are sent strictly in the
 * order they were pushed, which gives per-peer FIFO order and keeps the segments of one message together.
 */
import type * as zmq from 'zeromq'
import type { FrameQueue } from '../frame-queue.ts'

export class SendQueue implements FrameQueue {
  private readonly socket: zmq.Writable
  private readonly onError: (err: Error) => void
  private items: Buffer[][] = []
  private head = 0
  private busy = false
  private idleWaiters: (() => void)[] = []
  private readonly next = () => this.pump()
  private readonly failed = (err: Error) => {
    this.items = []
    this.head = 0
    this.busy = false
    this.onError(err)
    this.wakeIdle()
  }

  constructor(socket: zmq.Writable, onError: (err: Error) => void) {
    this.socket = socket
    this.onError = onError
  }

  /** Queues one multipart message; an idle queue hands it to ZeroMQ synchronously. */
  push(frames: Buffer[]): void {
    this.items.push(frames)
    if (!this.busy) this.pump()
  }

  /** True while pushed messages have not all been handed to ZeroMQ. */
  get pending(): boolean {
    return this.busy
  }

  /** Resolves once every pushed message has been handed to ZeroMQ. */
  drained(): Promise<void> {
    if (!this.busy) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  private pump(): void {
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
      this.busy = false
      return this.wakeIdle()
    }
    this.busy = true
    const frames = this.items[this.head]
    this.items[this.head++] = undefined as unknown as Buffer[]
    this.socket.send(frames).then(this.next, this.failed)
  }

  private wakeIdle(): void {
    if (this.idleWaiters.length > 0) for (const w of this.idleWaiters.splice(0)) w()
  }
}
