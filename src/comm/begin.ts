/**
 * How every collective starts: check the communicator and the options, take a fresh tag, record the call's
 * signature for the mismatch detector, tell the joins, build the context the algorithm runs on, and give the
 * guard (stall inspector, timeline) the algorithm's promise runs under.
 */
import type { CollectiveContext } from '../collectives/context.ts'
import { recorder } from '../trace/recorder.ts'
import { CommContext } from './collective-context.ts'
import type { CollectiveOptions } from './options.ts'
import { ROUND_ALGORITHMS } from './select.ts'
import type { CollectiveName, FullSignature } from './signature.ts'
import type { StallWatch } from './stall-inspector.ts'
import type { Activity, CommState } from './state.ts'
import { checkSegmentBytes, checkTimeout } from './validate.ts'

/** A running collective: its context, its fresh tag, and the guard its algorithm's promise runs under. */
export class Running {
  readonly ctx: CollectiveContext
  readonly tag: number
  /** The collective's number on this communicator (1-based). */
  readonly seq: number
  private readonly c: CommState
  private readonly watch: StallWatch
  private readonly activity: Activity
  private readonly trace: ReturnType<CommState['tracer']['start']> | undefined

  constructor(c: CommState, what: CollectiveName, options: CollectiveOptions, sig: FullSignature, algo: string, bytes: number) {
    c.checkUsable()
    const { segmentBytes, timeoutMs } = options
    checkSegmentBytes(segmentBytes)
    checkTimeout(timeoutMs)
    this.c = c
    const tag = (this.tag = c.tags.next())
    const seq = (this.seq = c.tags.count)
    c.mismatch.called(tag, sig)
    c.joins.began(seq)
    // A notice that arrived for this very call (a peer's mismatch) fails it before anything is sent.
    c.checkUsable()
    const { transport, stallWarningMs, opTimeoutMs } = c.world
    const { commId, name, rank, members, nodes } = c
    const trace = (this.trace = recorder.on ? c.tracer.start(tag, { comm: name, seq, op: what, bytes, algo }) : undefined)
    this.ctx = new CommContext({
      transport,
      commId,
      name,
      rank,
      members,
      nodes,
      what: `${what} #${seq}`,
      segmentBytes,
      timeoutMs,
      sig,
      contributors: this,
      trace,
      host: c.host,
      mismatch: c.mismatch,
    })
    // Where the communicator has host rounds, a call by messages says so there: a peer that runs the same call in
    // a round (their calls differ in size, on either side of the table's turn to rounds) fails it, not waits.
    if (c.host && !ROUND_ALGORITHMS.has(algo)) c.host.byMessages([sig.coll, sig.op, sig.root, sig.count, sig.dtype, tag])
    this.watch = { what, seq, stallWarningMs, opTimeoutMs: timeoutMs ?? opTimeoutMs }
    this.activity = { op: what, comm: name, seq }
  }

  /** How many ranks' data an average of this call holds (joins). */
  contributors(): number {
    return this.c.contributors(this.seq)
  }

  /** Runs `p` under the stall inspector (and the timeline, when recording); what the records say this rank does. */
  guard<T>(p: Promise<T>): Promise<T> {
    const watched = this.c.stalls.watch(p, this.watch, this.activity)
    return this.trace ? this.c.tracer.watch(this.tag, this.trace, watched) : watched
  }
}

/** Starts a collective on `c` (see Running). */
export function begin(c: CommState, what: CollectiveName, options: CollectiveOptions, sig: FullSignature, algo = '', bytes = 0): Running {
  return new Running(c, what, options, sig, algo, bytes)
}
