/**
 * Failure records: what a rank writes, at the moment the runtime detects a failure, for whoever reports the job's
 * root cause (the launcher, or the rank itself under a bare `srun`). Facts, not sentences: the launcher decides
 * from these fields, never from text a rank printed. This module is plain data (no I/O); the rank writes records
 * with failure/record.ts, the launcher reads them with launcher/failure-records.ts.
 *
 * Where they go:
 * - a file `rank-<rank>-<n>.json` in `<TSRUN_JOB_DIR>/failures/` (the launcher's private 0700 job directory),
 *   written synchronously to a temporary name and renamed, so it is whole and on disk even if the script calls
 *   process.exit() right after;
 * - one line on stderr, RECORD_LINE_PREFIX + JSON, when a tsrun launcher reads the rank's stderr (the rank runs
 *   under launcher/rank-main.mjs): the launcher takes these lines out of the output. It is how records of ranks on
 *   other hosts (ssh) and of srun tasks reach it, whose disks it cannot see.
 */

/** Version of the format below. */
export const RECORD_VERSION = 1

/** Subdirectory of the job directory that holds the records. */
export const RECORDS_SUBDIR = 'failures'

/** Starts a record line on stderr (ASCII record separator, then a word no one prints by chance). */
export const RECORD_LINE_PREFIX = '\u001etsrun-failure-record '

/**
 * - peer-lost: a peer's connection closed before its finalize (it crashed, was killed or exited);
 * - peer-silent: a peer stopped answering (host down, network cut) or could never be reached;
 * - mismatch: ranks called different collectives (recorded when the error is made);
 * - timeout: an uncaught TimeoutError ended this rank;
 * - uncaught-error: another uncaught tsrun error ended this rank.
 */
export type FailureKind = 'peer-lost' | 'peer-silent' | 'uncaught-error' | 'mismatch' | 'timeout'

const KINDS: readonly FailureKind[] = ['peer-lost', 'peer-silent', 'uncaught-error', 'mismatch', 'timeout']

/** A rank's process: its rank, pid and host. */
export interface ProcessRef {
  rank: number
  pid: number
  host: string
}

/** A moment: epoch milliseconds, and HH:MM:SS on the writing rank's clock (for messages). */
export interface Moment {
  ms: number
  time: string
}

/** What the rank was doing: a collective, its number on its communicator, when known. */
export interface Activity {
  op: string
  comm?: string
  seq?: number
}

export interface FailureRecord extends ProcessRef {
  v: typeof RECORD_VERSION
  kind: FailureKind
  /** This rank's n-th record (0, 1, ...): with `rank`, the record's identity and file name. */
  n: number
  /** When this rank detected it. */
  at: Moment
  /** peer-lost / peer-silent: the rank that was lost. */
  lost?: ProcessRef
  /** peer-silent: about when the lost rank was last heard from (a heartbeat timeout before `at`). */
  lastHeard?: Moment
  /** What this rank was doing, when known. */
  doing?: Activity
  /** The error this rank's operations fail with: its class, code and the first line of its message. */
  error?: { name: string; code?: string; message: string }
  /** The error reached the top of the script uncaught (written as the rank exits). */
  uncaught?: boolean
}

/** True for the kinds that say this rank lost another. */
export function isLoss(r: FailureRecord): r is FailureRecord & { lost: ProcessRef } {
  return (r.kind === 'peer-lost' || r.kind === 'peer-silent') && r.lost !== undefined
}

/** HH:MM:SS of a time on this machine's clock. */
export function clockOf(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 8)
}

export function momentOf(ms: number): Moment {
  return { ms, time: clockOf(ms) }
}

/** The file name of a record. */
export function recordFileName(rank: number, n: number): string {
  return `rank-${rank}-${n}.json`
}

/** Matches record file names (not the temporary ones being written). */
export const RECORD_FILE = /^rank-\d+-\d+\.json$/

const isInt = (x: unknown): x is number => Number.isInteger(x)
const isStr = (x: unknown): x is string => typeof x === 'string'
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)
const isRef = (x: unknown): x is ProcessRef => isObj(x) && isInt(x.rank) && isInt(x.pid) && isStr(x.host)
const isMoment = (x: unknown): x is Moment => isObj(x) && typeof x.ms === 'number' && isStr(x.time)

/** `value` as a record if it is a well-formed one of this version, else undefined (never throws). */
export function parseRecord(value: unknown): FailureRecord | undefined {
  if (!isRef(value) || !isObj(value)) return undefined
  const v = value as Record<string, unknown>
  if (v.v !== RECORD_VERSION || !KINDS.includes(v.kind as FailureKind) || !isInt(v.n) || !isMoment(v.at)) return undefined
  if (v.lost !== undefined && !isRef(v.lost)) return undefined
  if ((v.kind === 'peer-lost' || v.kind === 'peer-silent') && v.lost === undefined) return undefined
  if (v.lastHeard !== undefined && !isMoment(v.lastHeard)) return undefined
  if (v.doing !== undefined && !(isObj(v.doing) && isStr(v.doing.op))) return undefined
  if (v.error !== undefined && !(isObj(v.error) && isStr(v.error.name) && isStr(v.error.message))) return undefined
  return value as unknown as FailureRecord
}

/** Parses a record's JSON text; undefined if it is not one. */
export function parseRecordText(text: string): FailureRecord | undefined {
  try {
    return parseRecord(JSON.parse(text))
  } catch {
    return undefined
  }
}
