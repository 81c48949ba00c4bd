/**
 * Matches incoming messages with posted receives by (communicator, source, tag), MPI style: a message that
 * arrives before its receive waits in the unexpected queue; wildcards take the earliest matching message;
 * receives are served in the order they were posted, so two messages between the same pair with the same tag
 * are received in the order they were sent.
 */
import { TimeoutError } from '../errors.ts'

/** Receive from any source (MPI_ANY_SOURCE). */
export const ANY_SOURCE = -1
/** Receive with any tag >= 0 (MPI_ANY_TAG). Never matches the negative tags that collectives use. */
export const ANY_TAG = -1

/** A whole message as delivered by a transport. `source` is the sender's world rank. */
export interface Message {
  commId: number
  source: number
  tag: number
  dtype: number
  payload: Uint8Array
}

interface Posted {
  commId: number
  source: number
  tag: number
  resolve: (m: Message) => void
  reject: (e: Error) => void
  timer?: NodeJS.Timeout
}

function matches(commId: number, source: number, tag: number, m: Message): boolean {
  return (
    m.commId === commId &&
    (source === ANY_SOURCE || source === m.source) &&
    (tag === ANY_TAG ? m.tag >= 0 : tag === m.tag)
  )
}

export class Matcher {
  private readonly unexpected: Message[] = []
  private readonly posted: Posted[] = []
  private failure: Error | undefined

  /** Hands an arrived message to the oldest matching receive, or queues it. */
  deliver(m: Message): void {
    const i = this.posted.findIndex((p) => matches(p.commId, p.source, p.tag, m))
    if (i < 0) {
      this.unexpected.push(m)
      return
    }
    const p = this.posted[i]
    this.posted.splice(i, 1)
    if (p.timer) clearTimeout(p.timer)
    p.resolve(m)
  }

  /**
   * Resolves with the earliest matching message. `describeWait` builds the timeout message lazily, so the
   * hot path builds no strings.
   */
  receive(commId: number, source: number, tag: number, timeoutMs?: number, describeWait?: () => string): Promise<Message> {
    if (this.failure) return Promise.reject(this.failure)
    const i = this.unexpected.findIndex((m) => matches(commId, source, tag, m))
    if (i >= 0) return Promise.resolve(this.unexpected.splice(i, 1)[0])
    return new Promise((resolve, reject) => {
      const p: Posted = { commId, source, tag, resolve, reject }
      if (timeoutMs !== undefined && timeoutMs >= 0 && Number.isFinite(timeoutMs)) {
        p.timer = setTimeout(() => {
          const j = this.posted.indexOf(p)
          if (j >= 0) this.posted.splice(j, 1)
          reject(new TimeoutError(describeWait ? describeWait() : `receive timed out after ${timeoutMs} ms`))
        }, timeoutMs)
      }
      this.posted.push(p)
    })
  }

  /** Fails every pending and later receive with `err` (peer lost, transport closed). */
  fail(err: Error): void {
    if (this.failure) return
    this.failure = err
    for (const p of this.posted.splice(0)) {
      if (p.timer) clearTimeout(p.timer)
      p.reject(err)
    }
  }

  /** Number of queued unexpected messages and posted receives, for tests and diagnostics. */
  get depth(): { unexpected: number; posted: number } {
    return { unexpected: this.unexpected.length, posted: this.posted.length }
  }
}
