/**
 * The control plane's frames, beside the data on the same pipes (so they keep per-pair FIFO order with it):
 * - QUERY / STATUS: "how many collectives have you started on this communicator?", answered from `statusOf`
 *   by the receive loop, even while the peer's collective waits (the stall inspector's facts);
 * - MISMATCH: "collective #n on this communicator does not match between us" (JSON facts);
 * - FIN: this rank has called finalize(); after it nothing more comes from that peer.
 */
import { TimeoutError } from '../errors.ts'
import { encodeHeader, KIND_FIN, KIND_NOTICE, KIND_QUERY, KIND_STATUS, type Header } from './framing.ts'
import { NO_SIGNATURE, type ControlHandlers } from './transport.ts'

const EMPTY = Buffer.alloc(0)

interface Query {
  answers: Map<number, number | undefined>
  waiting: Set<number>
  done: () => void
}

export class ControlChannel {
  handlers: ControlHandlers = { statusOf: () => undefined, onCollective: () => {}, onNotice: () => {} }

  private readonly rank: number
  private readonly size: number
  /** Hands frames to the pipe toward a peer (held until we are connected to it). */
  private readonly pushTo: (peer: number, frames: Buffer[]) => void
  private readonly queries = new Map<number, Query>()
  private nextQuery = 1
  private readonly finsFrom = new Set<number>()
  /** The peers whose FIN finalize waits for: the ones this rank is linked to (peer-links.ts). */
  private readonly expected = new Set<number>()
  private finWaiter: ((err?: Error) => void) | undefined

  constructor(rank: number, size: number, pushTo: (peer: number, frames: Buffer[]) => void) {
    this.rank = rank
    this.size = size
    this.pushTo = pushTo
  }

  /** Queries still waiting for answers. */
  get pendingQueries(): number {
    return this.queries.size
  }

  query(peers: number[], reachable: (peer: number) => boolean, commId: number, timeoutMs: number): Promise<Map<number, number | undefined>> {
    const id = this.nextQuery++ >>> 0
    const answers = new Map<number, number | undefined>(peers.map((p) => [p, undefined]))
    const waiting = new Set(peers.filter((p) => p !== this.rank && reachable(p)))
    for (const p of peers) if (p === this.rank) answers.set(p, this.handlers.statusOf(commId))
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.queries.delete(id)
        resolve(answers)
      }
      const timer = setTimeout(done, timeoutMs)
      if (waiting.size === 0) return done()
      this.queries.set(id, { answers, waiting, done })
      const q = this.header(KIND_QUERY, commId, id, 0)
      for (const p of waiting) this.pushTo(p, [q, EMPTY])
    })
  }

  notify(peers: number[], commId: number, info: unknown): void {
    const body = Buffer.from(JSON.stringify(info))
    const h = this.header(KIND_NOTICE, commId, 0, body.length)
    for (const p of peers) if (p !== this.rank) this.pushTo(p, [h, body])
  }

  /** The FIN frame this rank sends to every peer when it finalizes. */
  fin(): Buffer[] {
    return [this.header(KIND_FIN, 0, 0, 0), EMPTY]
  }

  /** Finalize must wait for `peer`'s FIN: we are linked to it (it may send to us, or wait on us). */
  expectFin(peer: number): void {
    this.expected.add(peer)
  }

  /** True once every expected peer's FIN has come. */
  private allFins(): boolean {
    for (const p of this.expected) if (!this.finsFrom.has(p)) return false
    return true
  }

  /** Waits for the FIN of every peer we are linked to (even ones linked while it waits); `fail` ends the wait early. */
  waitForFins(timeoutMs: number | undefined): Promise<void> {
    if (this.allFins()) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.finWaiter = undefined
              reject(
                new TimeoutError(
                  `rank ${this.rank}: finalize waited ${timeoutMs} ms for ranks [${this.finalizeMissing().join(', ')}], which have ` +
                    `not called finalize(); every rank must call it (TSRUN_FINALIZE_TIMEOUT / --op-timeout set this limit)`,
                ),
              )
            }, timeoutMs)
      this.finWaiter = (err?: Error) => {
        clearTimeout(timer)
        this.finWaiter = undefined
        if (err) reject(err)
        else resolve()
      }
    })
  }

  /** Ends a finalize that waits for FINs with the transport's failure. */
  fail(err: Error): void {
    this.finWaiter?.(err)
  }

  hasFin(peer: number): boolean {
    return this.finsFrom.has(peer)
  }

  /** Linked peers whose FIN has not come. */
  finalizeMissing(): number[] {
    return [...this.expected].filter((r) => !this.finsFrom.has(r)).sort((a, b) => a - b)
  }

  /** Handles one control frame; false if it is malformed or unasked for (the caller counts it as dropped). */
  onFrame(h: Header, payload: Buffer): boolean {
    switch (h.kind) {
      case KIND_QUERY: {
        const count = this.handlers.statusOf(h.commId)
        // bytes carries count + 1; 0 means "I do not know this communicator (yet)".
        this.pushTo(h.source, [encodeHeader({ ...h, source: this.rank, kind: KIND_STATUS, bytes: count === undefined ? 0 : count + 1 }), EMPTY])
        return true
      }
      case KIND_STATUS: {
        const q = this.queries.get(h.seq)
        if (!q?.waiting.has(h.source)) return false
        q.waiting.delete(h.source)
        q.answers.set(h.source, h.bytes === 0 ? -1 : h.bytes - 1)
        if (q.waiting.size === 0) q.done()
        return true
      }
      case KIND_NOTICE: {
        try {
          this.handlers.onNotice(h.commId, h.source, JSON.parse(payload.toString()))
          return true
        } catch {
          return false // a malformed report must not take the rank down
        }
      }
      case KIND_FIN:
        this.finsFrom.add(h.source)
        if (this.finWaiter && this.allFins()) this.finWaiter()
        return true
    }
    return false
  }

  private header(kind: number, commId: number, seq: number, bytes: number): Buffer {
    return encodeHeader({ commId, tag: 0, source: this.rank, dtype: 0, kind, flags: 0, seq, bytes, ...NO_SIGNATURE })
  }
}
