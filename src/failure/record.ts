/**
 * The rank's side of failure records (format.ts): written at the moment the runtime detects a failure, whatever
 * the script does with the error afterwards.
 * - the transport declares a peer lost (transport.ts onPeerLost, from transport/zmq/peer-watch.ts): peer-lost or
 *   peer-silent, naming the lost rank's rank, pid and host;
 * - a collective mismatch is detected (recordMismatch, for comm/ to call where it makes the error): mismatch;
 * - a tsrun error reaches the top of the script uncaught (process 'uncaughtExceptionMonitor', which runs before
 *   the launcher's one-line report and its exit): timeout, mismatch or uncaught-error.
 * Each is written synchronously (a temporary file, then a rename) to the launcher's job directory, and as one
 * line on stderr when a tsrun launcher reads it. Under a bare `srun` (no tsrun reading the rank's output) a rank
 * that exits non-zero after losing a peer prints the root-cause line itself, in the launcher's words.
 */
import { mkdirSync, renameSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { WRAPPED } from '../bootstrap/protocol.ts'
import { onPeerLost, type PeerLoss } from '../transport/transport.ts'
import {
  isLoss,
  momentOf,
  RECORD_LINE_PREFIX,
  RECORD_VERSION,
  recordFileName,
  RECORDS_SUBDIR,
  type Activity,
  type FailureKind,
  type FailureRecord,
  type ProcessRef,
} from './format.ts'
import { lostRankLine, tsrunLine } from './messages.ts'

/** Where this rank is and where its records go (from the job's environment). */
export interface RecordPlace {
  rank: number
  size: number
  host: string
  /** The job directory; records go to its `failures/` unless the ranks made it themselves (ownJobDir: srun). */
  jobDir?: string
  ownJobDir?: boolean
}

/** How a recorder writes: to a directory, to stderr (fd 2) as record lines, or both. */
export interface RecorderOptions {
  me: ProcessRef
  dir?: string
  /** Write each record to stderr too (a tsrun launcher reads it). */
  stderr: boolean
}

const MESSAGE_MAX = 1000

/** Writes one rank's records; numbered in order. */
export class FailureRecorder {
  readonly records: FailureRecord[] = []
  private readonly opts: RecorderOptions
  private dirMade = false
  /** Errors already recorded (a mismatch made, then uncaught). */
  private readonly seen = new WeakSet<object>()
  /** What the rank is doing now, if the communicators say (noteActivity). */
  doing: Activity | undefined

  constructor(opts: RecorderOptions) {
    this.opts = opts
  }

  /** Records a failure; returns the record. Never throws (a full disk must not change how the rank fails). */
  write(kind: FailureKind, details: Pick<FailureRecord, 'lost' | 'lastHeard' | 'uncaught'> & { error?: unknown; at?: number }): FailureRecord {
    const { me } = this.opts
    const err = details.error as (Error & { code?: unknown }) | undefined
    if (err && typeof err === 'object') this.seen.add(err)
    const rec: FailureRecord = {
      v: RECORD_VERSION,
      kind,
      rank: me.rank,
      pid: me.pid,
      host: me.host,
      n: this.records.length,
      at: momentOf(details.at ?? Date.now()),
      ...(details.lost ? { lost: details.lost } : {}),
      ...(details.lastHeard ? { lastHeard: details.lastHeard } : {}),
      ...(this.doing ? { doing: { ...this.doing } } : {}),
      ...(err
        ? {
            error: {
              name: String(err.name ?? 'Error'),
              ...(typeof err.code === 'string' ? { code: err.code } : {}),
              message: String(err.message ?? err)
                .split('\n')[0]!
                .slice(0, MESSAGE_MAX),
            },
          }
        : {}),
      ...(details.uncaught ? { uncaught: true } : {}),
    }
    this.records.push(rec)
    const json = JSON.stringify(rec)
    if (this.opts.dir) this.toFile(this.opts.dir, recordFileName(rec.rank, rec.n), json)
    if (this.opts.stderr) {
      try {
        writeSync(2, `${RECORD_LINE_PREFIX}${json}\n`)
      } catch {}
    }
    return rec
  }

  /** True if `err` was recorded already. */
  recorded(err: unknown): boolean {
    return typeof err === 'object' && err !== null && this.seen.has(err)
  }

  /** A transport declared a peer lost. */
  peerLost(loss: PeerLoss): FailureRecord {
    const { rank, pid, host } = loss.peer
    const lastHeard = loss.lastHeard !== undefined ? momentOf(loss.lastHeard) : undefined
    return this.write(loss.kind === 'silent' ? 'peer-silent' : 'peer-lost', { lost: { rank, pid, host }, lastHeard, error: loss.error, at: loss.at })
  }

  /** The first record of a loss this rank detected. */
  firstLoss(): (FailureRecord & { lost: ProcessRef }) | undefined {
    return this.records.find(isLoss)
  }

  private toFile(dir: string, name: string, json: string): void {
    try {
      if (!this.dirMade) mkdirSync(dir, { recursive: true, mode: 0o700 })
      this.dirMade = true
      const tmp = join(dir, `.${name}.${process.pid}.tmp`)
      writeFileSync(tmp, json, { mode: 0o600 })
      renameSync(tmp, join(dir, name))
    } catch {
      // best effort: the stderr line, if any, still tells the launcher
    }
  }
}

/** The root-cause line a rank prints for itself (bare srun): the rank it lost, in the launcher's words. */
export function ownRootCauseLine(rec: FailureRecord & { lost: ProcessRef }): string {
  return lostRankLine({ lost: rec.lost, silent: rec.kind === 'peer-silent', lastHeard: rec.lastHeard?.time, by: [rec.rank] })
}

const isTsrunError = (err: unknown): err is Error & { code: string } =>
  typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('TSRUN_')

let recorder: FailureRecorder | undefined

/**
 * Starts recording this rank's failures (init calls it once, with the job's environment). Nothing for a world of
 * one that no launcher started.
 */
export function armFailureRecords(place: RecordPlace): void {
  if (recorder || (place.size <= 1 && !place.jobDir)) return
  const wrapped = (globalThis as Record<symbol, unknown>)[WRAPPED] === true
  const me = { rank: place.rank, pid: process.pid, host: place.host }
  const dir = place.jobDir && !place.ownJobDir ? join(place.jobDir, RECORDS_SUBDIR) : undefined
  const r = (recorder = new FailureRecorder({ me, dir, stderr: wrapped }))
  onPeerLost((loss) => {
    if (loss.rank === me.rank) r.peerLost(loss)
  })
  process.on('uncaughtExceptionMonitor', (err) => {
    if (!isTsrunError(err) || r.recorded(err)) return
    const kind = err.code === 'TSRUN_TIMEOUT' ? 'timeout' : err.code === 'TSRUN_COLLECTIVE_MISMATCH' ? 'mismatch' : 'uncaught-error'
    r.write(kind, { error: err, uncaught: true })
  })
  // Nobody reads this rank's records when it runs outside tsrun's wrapper (srun node script.ts): say it here.
  if (!wrapped && place.size > 1) {
    process.on('exit', (code) => {
      const loss = code !== 0 ? r.firstLoss() : undefined
      if (!loss) return
      try {
        writeSync(2, tsrunLine(ownRootCauseLine(loss)))
      } catch {}
    })
  }
}

/** A collective mismatch was detected here (`err` is the CollectiveMismatchError every rank's calls fail with). */
export function recordMismatch(err: Error): void {
  if (recorder && !recorder.recorded(err)) recorder.write('mismatch', { error: err })
}

/**
 * What this rank is doing now (a collective and its number), for the records written while it does; undefined
 * when it is done. For the communicators to call; cheap (an assignment).
 */
export function noteActivity(doing: Activity | undefined): void {
  if (recorder) recorder.doing = doing
}

/** This process's records so far (for tests and for init's diagnostics). */
export function failureRecords(): readonly FailureRecord[] {
  return recorder?.records ?? []
}

/**
 * What the communicators tell the records (init.ts hands it to them): each collective while it runs, so a
 * record names the latest one still under way; and each mismatch seen, recorded even if the script catches it.
 */
export function failureWitness(): { running(activity: Activity): void; ended(activity: Activity): void; mismatch(err: Error): void } {
  // In start order; usually one. The records name the latest still under way.
  const running: Activity[] = []
  return {
    running(activity) {
      running.push(activity)
      noteActivity(activity)
    },
    ended(activity) {
      const i = running.lastIndexOf(activity)
      if (i < 0) return
      if (i === running.length - 1) running.pop()
      else running.splice(i, 1)
      noteActivity(running[running.length - 1])
    },
    mismatch: recordMismatch,
  }
}
