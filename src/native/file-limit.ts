/**
 * The limit on open files. A rank holds about two descriptors per rank of its host (a unix stream each way) and
 * about five per rank of another host it talks to (transport/peer-links.ts); the launcher three per rank it
 * starts. Like Open MPI's launcher, tsrun raises the soft limit to the hard one at start (children inherit
 * it), and says before anything starts when even that is too few.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { native } from './native.ts'

export interface FileLimit {
  soft: number
  hard: number
}

/** This process's limit on open files (Infinity for "unlimited"), or undefined where /proc does not say. */
export function fileLimit(): FileLimit | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'))
    const [soft, hard] = (line ?? '')
      .slice('Max open files'.length)
      .trim()
      .split(/\s+/)
      .map((v) => (v === 'unlimited' ? Number.POSITIVE_INFINITY : Number(v)))
    return soft !== undefined && hard !== undefined && !Number.isNaN(soft) && !Number.isNaN(hard) ? { soft, hard } : undefined
  } catch {
    return undefined
  }
}

/**
 * Raises the soft limit on open files to the hard limit: through the native helpers (setrlimit), else with
 * util-linux's prlimit(1). Returns the limit afterwards; never throws.
 */
export function raiseFileLimit(): FileLimit | undefined {
  const before = fileLimit()
  if (!before || before.soft >= before.hard) return before
  const mod = native()
  if (mod?.raiseFileLimit) mod.raiseFileLimit()
  else {
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${before.hard}:${before.hard}`], { stdio: 'ignore', timeout: 5000 })
    } catch {
      // no prlimit here: the limit stays as it was, and the check below says what is needed
    }
  }
  return fileLimit()
}

/** Descriptors a rank holds with nothing linked: Node, its loader, ZeroMQ's threads, the store's socket. */
const RANK_BASE = 40
/** The launcher's own, and what it holds for each rank: stdout and stderr (and stdin for one). */
const LAUNCHER_BASE = 40
const LAUNCHER_PER_RANK = 3
/** A rank of another host a rank talks to (tcp in and out, ZeroMQ's mailbox and monitor); ring and tree peers. */
const PER_REMOTE_PEER = 5
const USUAL_REMOTE_PEERS = 8

/** What one rank of a host with `localSize` ranks needs, linked to its host and to a few ranks elsewhere. */
export function rankFileNeed(localSize: number, multiHost: boolean): number {
  return RANK_BASE + 2 * (localSize - 1) + (multiHost ? PER_REMOTE_PEER * USUAL_REMOTE_PEERS : 0)
}

/** What the launcher needs to start and watch `ranks` ranks (local or over ssh). */
export function launcherFileNeed(ranks: number): number {
  return LAUNCHER_BASE + LAUNCHER_PER_RANK * ranks
}

/** The one line for a limit that is too low even raised, or undefined when it is enough. */
export function fileLimitShortfall(limit: FileLimit | undefined, need: number, what: string): string | undefined {
  if (!limit || limit.soft >= need) return undefined
  const root = limit.hard < need ? ' (raising the hard limit needs root, or an entry in /etc/security/limits.conf)' : ''
  return `${what} needs about ${need} open files, but the limit is ${limit.soft}; run 'ulimit -n ${need}' before tsrun${root}`
}

/** True for the errors of a process (or the system) out of file descriptors. */
export function isOutOfFiles(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined
  return e?.code === 'EMFILE' || e?.code === 'ENFILE' || /too many open files/i.test(e?.message ?? '')
}

/** The one line for a rank that ran out of descriptors while linking to `peer`. */
export function outOfFilesLine(rank: number, peer: number): string {
  const limit = fileLimit()
  const open = limit ? ` (the limit is ${limit.soft})` : ''
  return `rank ${rank}: out of open files while linking to rank ${peer}${open}; each rank holds about 2 per rank of its host and 5 per rank elsewhere it talks to: raise 'ulimit -n' before tsrun`
}
