/**
 * Watches the ranks of a job (mpi4py run.py, vitest forksWorker.stop()):
 * - forwards each rank's output line by line, tagged when asked;
 * - on the first rank that exits non-zero or dies by a signal, prints one line naming it, sends SIGTERM to
 *   every other rank and SIGKILL after SIGKILL_GRACE_MS, and exits with that rank's code (128+signal);
 * - forwards SIGINT/SIGTERM to all ranks, SIGKILL after SIGNAL_GRACE_MS; a second Ctrl-C kills at once;
 * - with a timeout, ends the job and names the ranks still running;
 * - at the end SIGKILLs every rank's process group, so nothing a rank started outlives the job.
 */
import { constants } from 'node:os'
import { endOpenLine, forwardLines, tagFor } from './rank-output.ts'
import { followerOf, lostRankLine, type Follower } from './root-cause.ts'
import type { RankProcess } from './spawn-local.ts'

/** Failure to everything stopped: SIGTERM, then SIGKILL after this (the job must end within 2 s). */
export const SIGKILL_GRACE_MS = 1000
/** After a forwarded Ctrl-C/SIGTERM, ranks get this long to clean up. */
export const SIGNAL_GRACE_MS = 3000
/** How long to wait for the last output after every rank exited. */
const OUTPUT_DRAIN_MS = 2000
/** A failed rank's last line may still be in the pipe when its exit is seen: wait this long for it. */
const LAST_WORDS_MS = 250
/** When ranks report losing another that was not seen to fail, wait this long for the others' reports. */
const FOLLOWERS_MS = 1000
/**
 * A remote rank whose ssh connection dropped (exit 255) may be a host that went down: the ranks that lose it say
 * so within about the same heartbeat bound; wait this long for them.
 */
const SSH_LOST_MS = 2500
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
  /** Where the launcher's own messages go. */
  log?: (line: string) => void
  /** Filled in at the end: the failure's root cause line, and whether the user or --timeout ended the job. */
  outcome?: { cause?: string; final?: boolean }
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
      process.stderr.write(`tsrun: ${line}\n`)
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
      log(`received ${signal} again; killing ${running().length} ranks now`)
      killAll('SIGKILL')
      exitCode ??= exitCodeOf(null, signal)
      return
    }
    log(`received ${signal}; forwarded it to ${running().length} ranks (again to kill at once)`)
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
          log(`job timed out after ${opts.timeoutSec} s; ranks [${left.join(', ')}] were still running; stopped them`)
          if (opts.outcome) opts.outcome.final = true
          stop(TIMEOUT_EXIT_CODE, SIGKILL_GRACE_MS)
        }, opts.timeoutSec * 1000)

  /** Ranks that said they ended because they lost another rank, and how the ranks that failed ended. */
  const followers = new Map<number, Follower>()
  const failed = new Map<number, { line: string; code: number }>()
  const outputs = states.flatMap(({ rank: { stdout, stderr, slot } }) => [
    forwardLines(stdout, process.stdout, opts.tagOutput ? tagFor(slot.rank, 'stdout') + ' ' : ''),
    forwardLines(stderr, process.stderr, opts.tagOutput ? tagFor(slot.rank, 'stderr') + ' ' : '', (line) => {
      const f = followerOf(line)
      if (f && f.rank === slot.rank) followers.set(slot.rank, f)
    }),
  ])
  // Not unref'd: with every rank gone, these timers are what keeps the launcher alive until it has decided.
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
  /** The root cause of the first failure: the rank a follower lost, if that is what happened. */
  const rootCause = async (rank: number, line: string, code: number, sshLost: boolean): Promise<{ line: string; code: number }> => {
    await sleep(LAST_WORDS_MS)
    const f = followers.get(rank)
    if (!f && sshLost) {
      for (let waited = 0; waited < SSH_LOST_MS && ![...followers.values()].some((x) => x.lost === rank); waited += 50) await sleep(50)
      await sleep(LAST_WORDS_MS) // the other survivors' lines
      const all = [...followers.values()].filter((x) => x.lost === rank)
      if (all.some((x) => x.kind === 'silent')) return { line: `${lostRankLine(all)} (its ssh connection dropped too)`, code }
      return all.length ? { line: `${line}; ${lostRankLine(all).replace(/^.*; /, '')}`, code } : { line, code }
    }
    if (!f) return { line, code }
    // It lost another rank: that one's own failure, if it is seen soon, else what the survivors said.
    for (let waited = 0; waited < FOLLOWERS_MS && !failed.has(f.lost); waited += 50) await sleep(50)
    const lost = failed.get(f.lost)
    const all = [...followers.values()].filter((x) => x.lost === f.lost)
    // A silent host: what the survivors saw says more than the ssh connection that dropped with it.
    if (all.some((x) => x.kind === 'silent')) return { line: lostRankLine(all), code }
    if (lost) return { line: `${lost.line}; ${lostRankLine(all).replace(/^.*; /, '')}`, code: lost.code }
    return { line: lostRankLine(all), code }
  }
  await Promise.all(
    states.map(async (s) => {
      const { child, slot, pid } = s.rank
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
        child.once('exit', (c, sig) => resolve([c, sig]))
        child.once('error', (err) => {
          log(`rank ${slot.rank} could not start: ${err.message}`)
          resolve([127, null])
        })
      })
      s.running = false
      if (interruptedBy) {
        const how = signal ? `killed by ${signal}` : `exited with code ${code}`
        endings.set(how, (endings.get(how) ?? 0) + 1)
      }
      if (code !== 0 || signal) {
        const how = s.rank.describeExit?.(code, signal) ?? (signal ? `was killed by ${signal}` : `exited with code ${code}`)
        failed.set(slot.rank, { line: `rank ${slot.rank} (pid ${pid}, host ${slot.host}) ${how}`, code: exitCodeOf(code, signal) })
      }
      if ((code !== 0 || signal) && !stopping && !deciding && (exitCode === undefined || opts.stopOnFailure !== false)) {
        const first = failed.get(slot.rank)!
        if (opts.stopOnFailure === false) {
          log(`${first.line}; supervision is off (TSRUN_SUPERVISE=0): not stopping the others`)
          exitCode ??= first.code
          return
        }
        deciding = true
        const root = await rootCause(slot.rank, first.line, first.code, code === 255 && s.rank.describeExit !== undefined)
        if (stopping) return
        const others = running().length
        const what = opts.single ? '' : others > 0 ? `; stopped the other ${others} rank${others > 1 ? 's' : ''}` : '; no other rank was running'
        log(`${root.line}${what}`)
        if (opts.outcome) opts.outcome.cause ??= root.line
        stop(root.code, SIGKILL_GRACE_MS)
      }
    }),
  )

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
    s.rank.child.stdout?.destroy()
    s.rank.child.stderr?.destroy()
  }
  // After the ranks' last output, so that it is the last line the user sees.
  if (interruptedBy) {
    const n = [...endings.values()].reduce((a, b) => a + b, 0)
    const how = [...endings].map(([h, k]) => `${k} ${h}`).join(', ')
    log(`stopped ${n} rank${n === 1 ? '' : 's'} (${how})`)
  }
  return exitCode ?? 0
}
