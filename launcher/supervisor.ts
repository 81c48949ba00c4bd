/**
 * Watches the ranks of a job (mpi4py run.py, vitest forksWorker.stop()):
 * - forwards each rank's output line by line, tagged when asked;
 * - on the first rank that exits non-zero or dies by a signal, prints one line naming the root cause (the rank
 *   the others lost, from their failure records, else that rank: root-cause.ts), sends SIGTERM to every other
 *   rank and SIGKILL after SIGKILL_GRACE_MS, and exits with that rank's code (128+signal);
 * - takes the ranks' failure-record lines out of their stderr (failure-records.ts);
 * - forwards SIGINT/SIGTERM to all ranks, SIGKILL after SIGNAL_GRACE_MS; a second Ctrl-C kills at once;
 * - with a timeout, ends the job and names the ranks still running;
 * - at the end SIGKILLs every rank's process group, so nothing a rank started outlives the job.
 */
import { constants } from 'node:os'
import {
  couldNotStart,
  endingOf,
  endLine,
  howEnded,
  jobTimedOut,
  othersStopped,
  signalAgain,
  signalForwarded,
  stoppedAfterSignal,
  supervisionOff,
  tsrunLine,
} from '../src/failure/messages.ts'
import { FailureRecords, withoutRecords } from './failure-records.ts'
import { endOpenLine, forwardLines, tagFor } from './rank-output.ts'
import { decide, silentLoss, stillWaiting, type RankEnd } from './root-cause.ts'
import type { RankProcess } from './spawn-local.ts'

/** Failure to everything stopped: SIGTERM, then SIGKILL after this (the job must end within 2 s). */
export const SIGKILL_GRACE_MS = 1000
/** After a forwarded Ctrl-C/SIGTERM, ranks get this long to clean up. */
export const SIGNAL_GRACE_MS = 3000
/** How long to wait for the last output after every rank exited. */
const OUTPUT_DRAIN_MS = 2000
/** A record line of a failed rank (or of a rank that lost it) may still be in a pipe when its exit is seen. */
const LAST_WORDS_MS = 250
/** When a rank that failed had lost another, not seen to fail yet, wait this long for that one's end. */
const FOLLOWERS_MS = 1000
/**
 * A remote rank whose ssh connection dropped (exit 255) may be a host that went down: the ranks that lose it say
 * so within about the same heartbeat bound; wait this long for them.
 */
const SSH_LOST_MS = 2500
/**
 * The survivors of a silent host (down, or its network cut) find it each on its own connection's heartbeat
 * schedule, up to one heartbeat interval apart (at most 1 s: transport/zmq/peer-watch.ts): once one has said so,
 * the others' records are waited for that much longer.
 */
const SILENT_SPREAD_MS = 1000
/** Exit code for --timeout, as coreutils timeout(1). */
export const TIMEOUT_EXIT_CODE = 124

export interface SupervisorOptions {
  tagOutput: boolean
  /** Under srun each tsrun supervises one rank; srun ends the others, so do not claim to. */
  single?: boolean
  /** false: report a failed rank but leave the others running (TSRUN_SUPERVISE=0; for testing the runtime's
   *  own failure detection). */
  stopOnFailure?: boolean
  timeoutSec?: number
  /** The job's private directory: the ranks of this host write their failure records to its failures/. */
  jobDir?: string
  /** Where the launcher's own messages go. */
  log?: (line: string) => void
  /** An elastic job: its coordinator absorbs lost members and starts ranks later (launcher/elastic.ts). */
  elastic?: ElasticHooks
  /** Filled in at the end: the failure's root cause line, and whether the user or --timeout ended the job. */
  outcome?: { cause?: string; final?: boolean }
}

/** What an elastic job's coordinator does with the supervisor. */
export interface ElasticHooks {
  /** A rank ended non-zero: true if the job goes on without it ('quietly': one stopped as the job ended, not worth a line). */
  absorb(rank: RankProcess, how: { signal: NodeJS.Signals | null; sshLost?: boolean }): boolean | 'quietly'
  /** A rank exited 0. */
  exited(rank: RankProcess): void
  /** Hands the coordinator the supervisor's ways to watch a rank started later and to fail the job. */
  bind(add: (rank: RankProcess) => void, fail: (line: string, code: number) => void): void
}

interface State {
  rank: RankProcess
  running: boolean
}

export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return 128 + (constants.signals[signal] ?? 0)
  return code ?? 1
}

export async function supervise(ranks: RankProcess[], opts: SupervisorOptions): Promise<number> {
  const log =
    opts.log ??
    ((line: string) => {
      endOpenLine() // a live progress bar's line ends before tsrun speaks
      process.stderr.write(tsrunLine(line))
    })
  const states: State[] = ranks.map((rank) => ({ rank, running: true }))
  let exitCode: number | undefined
  let stopping = false
  /** A failure is being looked into (its root cause); later exits are part of it. */
  let deciding = false
  let killTimer: NodeJS.Timeout | undefined
  let interrupts = 0
  /** The signal the user sent, and how each rank ended after it (for the last line). */
  let interruptedBy: NodeJS.Signals | undefined
  const endings = new Map<string, number>()

  const running = () => states.filter((s) => s.running)
  const killAll = (signal: NodeJS.Signals) => {
    for (const s of running()) s.rank.kill(signal)
  }
  const stop = (code: number, graceMs: number, signal: NodeJS.Signals = 'SIGTERM') => {
    if (stopping) return
    stopping = true
    exitCode ??= code
    killAll(signal)
    killTimer = setTimeout(() => killAll('SIGKILL'), graceMs)
  }

  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++
    if (interrupts > 1 || stopping) {
      log(signalAgain(signal, running().length))
      killAll('SIGKILL')
      exitCode ??= exitCodeOf(null, signal)
      return
    }
    log(signalForwarded(signal, running().length))
    interruptedBy = signal
    if (opts.outcome) opts.outcome.final = true
    stop(exitCodeOf(null, signal), SIGNAL_GRACE_MS, signal)
  }
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  for (const s of signals) process.on(s, onSignal)

  const timeout =
    opts.timeoutSec === undefined
      ? undefined
      : setTimeout(() => {
          const left = running().map((s) => s.rank.slot.rank)
          log(jobTimedOut(opts.timeoutSec!, left))
          if (opts.outcome) opts.outcome.final = true
          stop(TIMEOUT_EXIT_CODE, SIGKILL_GRACE_MS)
        }, opts.timeoutSec * 1000)

  /** What the ranks recorded (failures/ of the job directory, record lines in their stderr), how the failed ones ended. */
  const records = new FailureRecords(opts.jobDir)
  const failed = new Map<number, RankEnd>()
  const outputs: Promise<void>[] = []
  const forward = ({ stdout, stderr, slot }: RankProcess) =>
    outputs.push(
      forwardLines(stdout, process.stdout, opts.tagOutput ? tagFor(slot.rank, 'stdout') + ' ' : ''),
      forwardLines(
        withoutRecords(stderr, (rec) => rec.rank === slot.rank && records.add(rec)),
        process.stderr,
        opts.tagOutput ? tagFor(slot.rank, 'stderr') + ' ' : '',
      ),
    )
  for (const s of states) forward(s.rank)
  // Not unref'd: with every rank gone, these timers are what keeps the launcher alive until it has decided.
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
  /** The root cause of the failure `first` began (root-cause.ts), once what is worth waiting for has come. */
  const rootCause = async (first: RankEnd): Promise<{ line: string; code: number }> => {
    await sleep(LAST_WORDS_MS)
    const waiting = stillWaiting(first, failed, records.all(), opts.single)
    if (waiting) {
      const bound = waiting === 'root-end' ? FOLLOWERS_MS : SSH_LOST_MS
      for (let waited = 0; waited < bound && stillWaiting(first, failed, records.all(), opts.single) === waiting; waited += 50) await sleep(50)
      // The other survivors' records; those of a silent host come up to one heartbeat interval apart.
      if (waiting === 'losers') await sleep(LAST_WORDS_MS + (silentLoss(records.all(), first.rank) ? SILENT_SPREAD_MS : 0))
    }
    return decide(first, failed, records.all())
  }
  const watch = async (s: State) => {
    const { code, signal, startError } = await s.rank.exit
    const { slot, pid } = s.rank // a remote rank's pid is known once it has started
    if (startError !== undefined) log(couldNotStart(slot.rank, startError))
    s.running = false
    if (interruptedBy) {
      const how = endingOf(code, signal)
      endings.set(how, (endings.get(how) ?? 0) + 1)
    }
    const sshLost = code === 255 && s.rank.describeExit !== undefined
    let absorbed: boolean | 'quietly' = false
    if (code === 0 && !signal) opts.elastic?.exited(s.rank)
    else if (!stopping && (absorbed = opts.elastic?.absorb(s.rank, { signal, sshLost }) ?? false)) {
      if (absorbed === 'quietly') return
      log(
        `${endLine({ rank: slot.rank, pid, host: slot.host }, s.rank.describeExit?.(code, signal) ?? howEnded(code, signal))}; the elastic job goes on without it`,
      )
      return
    }
    if (code !== 0 || signal) {
      const how = s.rank.describeExit?.(code, signal) ?? howEnded(code, signal)
      failed.set(slot.rank, { rank: slot.rank, pid, host: slot.host, how, code: exitCodeOf(code, signal), ...(sshLost ? { sshLost } : {}) })
    }
    if ((code !== 0 || signal) && !stopping && !deciding && (exitCode === undefined || opts.stopOnFailure !== false)) {
      const first = failed.get(slot.rank)!
      if (opts.stopOnFailure === false) {
        log(supervisionOff(endLine(first, first.how)))
        exitCode ??= first.code
        return
      }
      deciding = true
      const root = await rootCause(first)
      if (stopping) return
      log(`${root.line}${othersStopped(running().length, opts.single)}`)
      if (opts.outcome) opts.outcome.cause ??= root.line
      stop(root.code, SIGKILL_GRACE_MS)
    }
  }
  const watches = states.map(watch)
  opts.elastic?.bind(
    (rank) => {
      const s = { rank, running: true }
      states.push(s)
      forward(rank)
      watches.push(watch(s))
    },
    (line, code) => {
      log(line)
      if (opts.outcome) opts.outcome.cause ??= line
      stop(code, SIGKILL_GRACE_MS)
    },
  )
  // Ranks an elastic job starts later join `watches` before the watch that made them ends.
  for (let i = 0; i < watches.length; i++) await watches[i]

  if (killTimer) clearTimeout(killTimer)
  if (timeout) clearTimeout(timeout)
  for (const s of signals) process.off(s, onSignal)
  // Whatever the ranks started dies with the job; then the last output arrives (a stray grandchild
  // holding a pipe open cannot keep us waiting for more than OUTPUT_DRAIN_MS).
  for (const s of states) s.rank.kill('SIGKILL')
  await Promise.race([Promise.all(outputs), new Promise((r) => setTimeout(r, OUTPUT_DRAIN_MS).unref())])
  for (const s of states) {
    s.rank.stdout.destroy()
    s.rank.stderr.destroy()
  }
  // After the ranks' last output, so that it is the last line the user sees.
  if (interruptedBy) log(stoppedAfterSignal(endings))
  return exitCode ?? 0
}
