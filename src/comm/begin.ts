/**
 * How every collective starts: check the communicator and the options, take a fresh tag, record the call's
 * signature for the mismatch detector, tell the joins, build the context the algorithm runs on, and give the
 * guard (stall inspector, timeline) the algorithm's promise runs under.
 */
import type { CollectiveContext } from '../collectives/context.ts'
import { recorder } from '../trace/recorder.ts'
import { collectiveContext } from './collective-context.ts'
import type { CollectiveOptions } from './options.ts'
import type { CollectiveName, FullSignature } from './signature.ts'
import { watchStall } from './stall-inspector.ts'
import type { CommState } from './state.ts'
import { checkSegmentBytes, checkTimeout } from './validate.ts'

/** A running collective: its context, its fresh tag, and the guard that watches it. */
export interface Running {
  ctx: CollectiveContext
  tag: number
  /** The collective's number on this communicator (1-based). */
  seq: number
  guard: <T>(p: Promise<T>) => Promise<T>
}

export function begin(c: CommState, what: CollectiveName, options: CollectiveOptions, sig: FullSignature, algo = '', bytes = 0): Running {
  c.checkUsable()
  const { segmentBytes, timeoutMs } = options
  checkSegmentBytes(segmentBytes)
  checkTimeout(timeoutMs)
  const tag = c.tags.next()
  const seq = c.tags.count
  c.mismatch.called(tag, sig)
  c.joins.began(seq)
  // A notice that arrived for this very call (a peer's mismatch) fails it before anything is sent.
  c.checkUsable()
  const { transport, stallWarningMs, opTimeoutMs } = c.world
  const { commId, name, rank, members, nodes } = c
  const contributors = () => c.contributors(seq)
  const trace = recorder.on ? c.tracer.start(tag, { comm: name, seq, op: what, bytes, algo }) : undefined
  const ctx = collectiveContext({
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
    contributors,
    trace,
    mismatch: c.mismatch,
  })
  const watch = { what, seq, stallWarningMs, opTimeoutMs: timeoutMs ?? opTimeoutMs }
  const done = c.world.failures.running({ op: what, comm: name, seq })
  const guard = <T>(p: Promise<T>) => {
    const watched = watchStall(p, c.scope, watch)
    // What the failure records say this rank was doing: this collective, until it settles.
    watched.then(done, done)
    return watched
  }
  return { ctx, tag, seq, guard: trace ? (p) => c.tracer.watch(tag, trace, guard(p)) : guard }
}
