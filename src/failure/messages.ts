/**
 * Every sentence tsrun says about how a job failed, in one place: the launcher's supervisor and root cause
 * (launcher/supervisor.ts, launcher/root-cause.ts), and a rank under a bare `srun` that reports its own loss
 * (failure/record.ts), so both say a lost rank the same way. Lines come without the `tsrun: ` prefix unless said.
 */
import type { FailureRecord, ProcessRef } from './format.ts'

/** "rank 2 (pid 4242, host node2)". */
export function who(p: ProcessRef): string {
  return `rank ${p.rank} (pid ${p.pid}, host ${p.host})`
}

/** How a process ended: "exited with code 3", "was killed by SIGKILL". */
export function howEnded(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`
}

/** "rank 2 (pid 4242, host node2) exited with code 3". */
export function endLine(p: ProcessRef, how: string): string {
  return `${who(p)} ${how}`
}

/** "ranks 0 and 2", "rank 0", "ranks 0, 2 and 5". */
export function rankList(ranks: number[]): string {
  const r = [...new Set(ranks)].sort((a, b) => a - b)
  if (r.length === 1) return `rank ${r[0]}`
  return `ranks ${r.slice(0, -1).join(', ')} and ${r[r.length - 1]}`
}

/** "ranks 0 and 2 lost it". */
export function lostBy(ranks: number[]): string {
  return `${rankList(ranks)} lost it`
}

/** A rank that others lost, as their records say. */
export interface LostRank {
  lost: ProcessRef
  /** It stopped answering (host down, network cut), rather than its connection closing. */
  silent: boolean
  /** HH:MM:SS it was last heard from, if known. */
  lastHeard?: string
  /** The ranks that lost it. */
  by: number[]
}

/** "rank 1 (pid 4242, host node2) stopped answering at about 14:02:11 (host down or network cut); rank 0 lost it". */
export function lostRankLine(l: LostRank): string {
  const what = l.silent
    ? `stopped answering${l.lastHeard ? ` at about ${l.lastHeard}` : ''} (host down or network cut)`
    : 'ended before it called finalize() (its connection closed)'
  return `${who(l.lost)} ${what}; ${lostBy(l.by)}`
}

/** Added when the rank the others lost was started over ssh and its connection dropped too. */
export const SSH_DROPPED_TOO = ' (its ssh connection dropped too)'

/** What a rank's own record adds to how it ended: " after an uncaught TimeoutError (TSRUN_TIMEOUT) in allreduce #3 on world". */
export function afterError(r: FailureRecord | undefined): string {
  if (!r?.error) return ''
  const code = r.error.code ? ` (${r.error.code})` : ''
  const doing = r.doing ? ` in ${r.doing.op}${r.doing.seq !== undefined ? ` #${r.doing.seq}` : ''}${r.doing.comm ? ` on ${r.doing.comm}` : ''}` : ''
  const what = r.kind === 'mismatch' && !r.uncaught ? `a collective mismatch, ${r.error.name}${code}` : `an uncaught ${r.error.name}${code}`
  return ` after ${what}${doing}`
}

/** The end of the root-cause line: what the launcher did about the others. */
export function othersStopped(others: number, single = false): string {
  if (single) return ''
  return others > 0 ? `; stopped the other ${others} rank${others > 1 ? 's' : ''}` : '; no other rank was running'
}

/** With TSRUN_SUPERVISE=0. */
export function supervisionOff(line: string): string {
  return `${line}; supervision is off (TSRUN_SUPERVISE=0): not stopping the others`
}

export function couldNotStart(rank: number, message: string): string {
  return `rank ${rank} could not start: ${message}`
}

export function jobTimedOut(seconds: number, running: number[]): string {
  return `job timed out after ${seconds} s; ranks [${running.join(', ')}] were still running; stopped them`
}

export function signalForwarded(signal: NodeJS.Signals, ranks: number): string {
  return `received ${signal}; forwarded it to ${ranks} ranks (again to kill at once)`
}

export function signalAgain(signal: NodeJS.Signals, ranks: number): string {
  return `received ${signal} again; killing ${ranks} ranks now`
}

/** How one rank ended after a forwarded signal, counted for the last line: "killed by SIGINT". */
export function endingOf(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exited with code ${code}`
}

/** After a forwarded signal: "stopped 3 ranks (2 killed by SIGINT, 1 exited with code 0)". */
export function stoppedAfterSignal(endings: Map<string, number>): string {
  const n = [...endings.values()].reduce((a, b) => a + b, 0)
  const how = [...endings].map(([h, k]) => `${k} ${h}`).join(', ')
  return `stopped ${n} rank${n === 1 ? '' : 's'} (${how})`
}

/** Inside an allocation, the job's own srun step: its timeout, a missing srun, how the step ended. */
export function srunTimedOut(seconds: number): string {
  return `job timed out after ${seconds} s; stopping the srun step`
}

export function srunMissing(message: string): string {
  return `cannot run srun inside this Slurm allocation: ${message}; is Slurm's srun on PATH?`
}

export function srunEnded(code: number | null, signal: NodeJS.Signals | null): string {
  return `the srun step ended with ${signal ? `signal ${signal}` : `code ${code}`}`
}

/** A launcher line as printed. */
export function tsrunLine(line: string): string {
  return `tsrun: ${line}\n`
}
