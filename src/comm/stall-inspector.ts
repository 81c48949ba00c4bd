/**
 * The stall inspector (Horovod's stall_inspector): watches a running collective and, every `stallWarningMs`,
 * prints which ranks hold it up: those that have not called it yet, and those that do not answer at all
 * (stopped, hung, or busy without yielding). After the op timeout the collective fails with a TimeoutError
 * carrying the same facts. The facts come from the control plane's queries, answered by the peers' transports.
 */
import { TimeoutError } from '../errors.ts'
import type { CommScope } from './scope.ts'
import type { Activity, FailureWitness } from './failure-witness.ts'

/** How long a stalled rank waits for peers to say how far they are. */
const STATUS_QUERY_MS = 1000

/** One watched call. */
export interface StallWatch {
  /** The collective ("allreduce") and its sequence number on the communicator. */
  what: string
  seq: number
  stallWarningMs: number
  opTimeoutMs: number | undefined
}

/** A call under watch: when it warns next, when it fails, and how. */
interface Watched {
  w: StallWatch
  started: number
  warnAt: number
  failAt: number
  settled: boolean
  reject: (e: Error) => void
  /** What the failure records say this rank is doing while the call runs. */
  activity: Activity
}

/**
 * Watches the running collectives of one communicator with a single timer, armed for the earliest time a call
 * must warn or fail. A call that ends before its time costs no timer at all: a job's small collectives run at tens
 * of thousands a second, and a timer set and cleared for each was a measurable part of every call.
 */
export class StallInspector {
  private readonly scope: CommScope
  private readonly failures: FailureWitness
  private readonly calls = new Set<Watched>()
  private timer: NodeJS.Timeout | undefined
  private due = Infinity
  private readonly tick = () => this.fire()

  constructor(scope: CommScope, failures: FailureWitness) {
    this.scope = scope
    this.failures = failures
  }

  /**
   * Resolves or rejects as `p` does, with warnings while it waits and a TimeoutError after the op timeout. The
   * failure records name `activity` as what this rank does until the call has settled.
   */
  watch<T>(p: Promise<T>, w: StallWatch, activity: Activity): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const started = Date.now()
      const fail = w.opTimeoutMs !== undefined && Number.isFinite(w.opTimeoutMs) ? started + w.opTimeoutMs : Infinity
      const call: Watched = { w, started, warnAt: started + w.stallWarningMs, failAt: fail, settled: false, reject, activity }
      this.calls.add(call)
      this.failures.running(activity)
      this.arm(Math.min(call.warnAt, call.failAt))
      p.then(
        (v) => {
          this.settle(call)
          resolve(v)
        },
        (e) => {
          this.settle(call)
          reject(e)
        },
      )
    })
  }

  private settle(call: Watched): void {
    if (call.settled) return
    call.settled = true
    this.calls.delete(call)
    this.failures.ended(call.activity)
  }

  /** Makes sure the timer goes off by `at`. */
  private arm(at: number): void {
    if (at >= this.due || at === Infinity) return
    if (this.timer) clearTimeout(this.timer)
    this.due = at
    this.timer = setTimeout(this.tick, Math.max(0, at - Date.now())).unref()
  }

  private fire(): void {
    this.timer = undefined
    this.due = Infinity
    const now = Date.now()
    let next = Infinity
    for (const call of this.calls) {
      if (now >= call.failAt) {
        this.calls.delete(call)
        void this.report(call, true)
        continue
      }
      if (now >= call.warnAt) {
        void this.report(call, false)
        call.warnAt = now + call.w.stallWarningMs
      }
      next = Math.min(next, call.warnAt, call.failAt)
    }
    this.arm(next)
  }

  private async report(call: Watched, fatal: boolean): Promise<void> {
    const { w } = call
    const { scope } = this
    const waited = Math.round((Date.now() - call.started) / 1000)
    const facts = await stallFacts(scope, w.seq)
    if (call.settled) return
    const line = `${w.what} #${w.seq} on ${scope.name} waiting ${waited} s for ${facts}`
    if (!fatal) return void process.stderr.write(`tsrun: rank ${scope.rank}: ${line}\n`)
    call.reject(new TimeoutError(`rank ${scope.rank}: ${line}; gave up after the op timeout of ${w.opTimeoutMs! / 1000} s (--op-timeout / TSRUN_OP_TIMEOUT)`))
    this.settle(call)
  }
}

/** Which ranks hold up collective #seq: those that have not called it, and those that do not answer. */
async function stallFacts(w: CommScope, seq: number): Promise<string> {
  const answers = await w.transport.query([...w.members], w.commId, STATUS_QUERY_MS)
  const notCalled: number[] = []
  const silent: number[] = []
  for (const [worldRank, count] of answers) {
    const r = w.rankOf(worldRank)
    if (r === w.rank) continue
    if (count === undefined) silent.push(r)
    else if (count < seq) notCalled.push(r)
  }
  const parts: string[] = []
  if (notCalled.length) parts.push(`ranks [${notCalled.sort((a, b) => a - b).join(', ')}]; they have not called it`)
  if (silent.length) parts.push(`ranks [${silent.sort((a, b) => a - b).join(', ')}], which do not answer (stopped, hung, or busy without yielding)`)
  return parts.length ? parts.join('; and ') : 'data from the other ranks; every rank has called it'
}
