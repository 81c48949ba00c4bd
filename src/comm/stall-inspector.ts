/**
 * The stall inspector (Horovod's stall_inspector): watches a running collective and, every `stallWarningMs`,
 * prints which ranks hold it up: those that have not called it yet, and those that do not answer at all
 * (stopped, hung, or busy without yielding). After the op timeout the collective fails with a TimeoutError
 * carrying the same facts. The facts come from the control plane's queries, answered by the peers' transports.
 */
import { TimeoutError } from '../errors.ts'
import type { CommScope } from './scope.ts'

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

/** Resolves or rejects as `p` does, with warnings while it waits and a TimeoutError after the op timeout. */
export function watchStall<T>(p: Promise<T>, scope: CommScope, w: StallWatch): Promise<T> {
  const started = Date.now()
  return new Promise<T>((resolve, reject) => {
    let settled = false
    const timers: NodeJS.Timeout[] = []
    const finish = () => {
      settled = true
      for (const t of timers) clearTimeout(t)
    }
    p.then(
      (v) => {
        finish()
        resolve(v)
      },
      (e) => {
        finish()
        reject(e)
      },
    )
    const report = async (fatal: boolean) => {
      const waited = Math.round((Date.now() - started) / 1000)
      const facts = await stallFacts(scope, w.seq)
      if (settled) return
      const line = `${w.what} #${w.seq} on ${scope.name} waiting ${waited} s for ${facts}`
      if (!fatal) return void process.stderr.write(`tsrun: rank ${scope.rank}: ${line}\n`)
      finish()
      reject(new TimeoutError(`rank ${scope.rank}: ${line}; gave up after the op timeout of ${w.opTimeoutMs! / 1000} s (--op-timeout / TSRUN_OP_TIMEOUT)`))
    }
    const warn = () => {
      if (settled) return
      void report(false)
      timers.push(setTimeout(warn, w.stallWarningMs).unref())
    }
    timers.push(setTimeout(warn, w.stallWarningMs).unref())
    if (w.opTimeoutMs !== undefined && Number.isFinite(w.opTimeoutMs)) timers.push(setTimeout(() => void report(true), w.opTimeoutMs).unref())
  })
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
