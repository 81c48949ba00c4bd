/**
 * The timeline recorder (Horovod's HOROVOD_TIMELINE, per rank): when the job asks for a timeline or a report
 * (TSRUN_TRACE_PARTS names a directory), every rank appends one JSON line per event to its own file there:
 * each collective with its phases, large point-to-point messages, spans of tsrun/dl and of the user. Lines are
 * written every FLUSH_MS and at exit, so a rank that is killed leaves what it recorded until shortly before.
 * The launcher (or rank 0 under srun) merges the files into one Chrome trace (trace/merge.ts).
 *
 * Off (the default), every hook is one boolean test.
 *
 * Times are microseconds on this process's clock (performance.timeOrigin + now()); the `meta` line carries the
 * offset to rank 0's clock, measured at init by round trips (trace/clock.ts).
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'

/** What one rank records. Short keys: a busy rank writes many of these. */
export type TraceEvent =
  /** Once per file; `member` (and `rank`: its first one) in an elastic job, whose files are per member. */
  | { t: 'meta'; rank: number; size: number; host: string; node: number; pid: number; offsetUs: number; rttUs: number; member?: string }
  /** An elastic member entered generation `gen` as `rank` of `size`, at `s`. */
  | { t: 'g'; gen: number; rank: number; size: number; node: number; s: number }
  /**
   * A collective: comm, seq, op, bytes, algorithm; start, end, first peer message (w), reduction µs (r); its
   * generation (g) in an elastic job, where each generation's communicators count their calls from 0 again.
   */
  | { t: 'c'; comm: string; seq: number; op: string; bytes: number; algo: string; s: number; e: number; w?: number; r?: number; err?: string; g?: number }
  /** A point-to-point message at or over the size threshold. */
  | { t: 'p'; k: 'send' | 'recv'; peer: number; tag: number; bytes: number; s: number; e: number; comm: string }
  /** A span of tsrun/dl or of the user. */
  | { t: 's'; name: string; cat: string; s: number; e: number; args?: Record<string, unknown> }
  /** Totals at the end: bytes and messages sent and received. */
  | { t: 'totals'; sentBytes: number; recvBytes: number; sentMsgs: number; recvMsgs: number; e: number }

/** Lines are written at least this often. */
const FLUSH_MS = 200
/** Point-to-point messages from this size on get a span (TSRUN_TIMELINE_P2P_BYTES). */
const DEFAULT_P2P_BYTES = 64 * 1024

export class Recorder {
  /** True while recording: every hook tests this first. */
  on = false
  /** Bytes and messages this rank has sent and received (collectives and point to point). */
  readonly totals = { sentBytes: 0, recvBytes: 0, sentMsgs: 0, recvMsgs: 0 }
  p2pBytes = DEFAULT_P2P_BYTES
  /** This rank's clock offset to rank 0's, once measured (timeline on), in µs. */
  offsetUs = 0
  /** The elastic generation this process is in (its collectives' `g`); undefined outside an elastic job. */
  generation: number | undefined
  /** Events not yet written: kept as objects, turned into JSON when written (off the collective's path). */
  private lines: TraceEvent[] = []
  private fd: number | undefined
  private timer: NodeJS.Timeout | undefined

  /** Starts recording into `dir`/`name`.jsonl (`rank-3`; `member-s2.0` in an elastic job). */
  start(dir: string, name: string, p2pBytes?: number): void {
    mkdirSync(dir, { recursive: true })
    this.fd = openSync(join(dir, `${name}.jsonl`), 'w')
    this.on = true
    if (p2pBytes !== undefined && p2pBytes >= 0) this.p2pBytes = p2pBytes
    this.timer = setInterval(() => this.flush(), FLUSH_MS)
    this.timer.unref()
    process.once('exit', () => this.stop())
  }

  /** Microseconds on this process's clock. */
  now(): number {
    return (performance.timeOrigin + performance.now()) * 1000
  }

  record(e: TraceEvent): void {
    if (!this.on) return
    this.lines.push(e)
    if (this.lines.length >= 4096) this.flush()
  }

  /** Counts a message this rank sent or received. */
  count(dir: 'sent' | 'recv', bytes: number): void {
    if (dir === 'sent') {
      this.totals.sentBytes += bytes
      this.totals.sentMsgs++
    } else {
      this.totals.recvBytes += bytes
      this.totals.recvMsgs++
    }
  }

  /** Writes what is buffered. */
  flush(): void {
    if (this.fd === undefined || this.lines.length === 0) return
    let text = ''
    for (const e of this.lines) text += JSON.stringify(e) + '\n'
    this.lines = []
    try {
      writeSync(this.fd, text)
    } catch {
      // A full disk must not take the job down: the timeline is a diagnostic.
    }
  }

  /** Writes the totals and what is buffered, and stops. */
  stop(): void {
    if (!this.on) return
    this.record({ t: 'totals', ...this.totals, e: this.now() })
    this.flush()
    this.on = false
    clearInterval(this.timer)
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }
}

/** This process's recorder (one per process, as there is one world). */
export const recorder = new Recorder()

/**
 * Spans of your own on the timeline (and tsrun/dl's): shown on this rank's track, nested in time with the
 * collectives. Costs nothing when no timeline is being recorded.
 *
 * @example
 * ```ts
 * import { timeline } from 'tsrun'
 * const batch = await timeline.span('load batch', () => loader.next())
 * ```
 */
export const timeline = {
  /** True when this job records a timeline or a report (`tsrun --timeline` / `--report`, TSRUN_TIMELINE). */
  get enabled(): boolean {
    return recorder.on
  },
  /**
   * Microseconds since the epoch on rank 0's clock when the timeline is on (offset measured at init), else on
   * this process's clock: arrival times that compare across ranks.
   */
  now(): number {
    return recorder.now() + recorder.offsetUs
  },
  /** Runs `fn` and records a span `name` around it (also when it throws). */
  span<T>(name: string, fn: () => T, cat = 'user', args?: Record<string, unknown>): T {
    if (!recorder.on) return fn()
    const s = recorder.now()
    const end = () => recorder.record({ t: 's', name, cat, s, e: recorder.now(), args })
    let out: T
    try {
      out = fn()
    } catch (err) {
      end()
      throw err
    }
    if (out instanceof Promise) return out.finally(end) as T
    end()
    return out
  },
}
