/**
 * A communicator's collectives on the timeline: the record of each running collective, the moment the first
 * peer message of it arrived (the end of its "waiting for peers" phase; zero if a peer's message came before
 * this rank's call), and the record written when it settles.
 */
import { recorder, type TraceEvent } from './recorder.ts'

export type CollectiveTrace = Extract<TraceEvent, { t: 'c' }>

/** How many first arrivals of collectives not started here yet are kept (a peer far ahead). */
const EARLY_KEPT = 1024

export class CollectiveTracer {
  private readonly running = new Map<number, CollectiveTrace>()
  private readonly early = new Map<number, number>()

  /** Starts the record of collective `tag`. */
  start(tag: number, t: Omit<CollectiveTrace, 't' | 's' | 'e' | 'r'>): CollectiveTrace {
    const rec: CollectiveTrace = { t: 'c', ...t, s: recorder.now(), e: 0, r: 0 }
    if (recorder.generation !== undefined) rec.g = recorder.generation
    if (this.early.has(tag)) {
      rec.w = rec.s
      this.early.delete(tag)
    }
    this.running.set(tag, rec)
    return rec
  }

  /** A collective message for `tag` arrived. */
  arrived(tag: number): void {
    const t = this.running.get(tag)
    if (t) t.w ??= recorder.now()
    else if (!this.early.has(tag)) {
      if (this.early.size >= EARLY_KEPT) this.early.clear()
      this.early.set(tag, recorder.now())
    }
  }

  /** `p`, with the record of `tag` written when it settles. */
  watch<T>(tag: number, rec: CollectiveTrace, p: Promise<T>): Promise<T> {
    const end = (err?: unknown) => {
      rec.e = recorder.now()
      if (err) rec.err = (err as Error).name
      this.running.delete(tag)
      recorder.record(rec)
    }
    return p.then(
      (v) => {
        end()
        return v
      },
      (e) => {
        end(e)
        return Promise.reject(e)
      },
    )
  }
}
