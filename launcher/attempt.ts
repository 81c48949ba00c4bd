/** What every kind of launch shares: where the timeline goes, the restart count the ranks see, rank 0's stdin. */
import { resolve } from 'node:path'
import { setting } from '../src/settings.ts'
import { finishTrace } from '../src/trace-offline/finish.ts'
import type { LaunchOptions } from './options.ts'
import type { RankProcess } from './spawn-local.ts'

export const say = (line: string) => process.stderr.write(`tsrun: ${line}\n`)

/** Where the ranks write their timeline files (beside the timeline, or in the working directory), or undefined. */
export function traceParts(options: LaunchOptions, jobId: string): string | undefined {
  const { timeline, report, reportJson } = options.trace
  if (timeline) return `${timeline}.parts`
  if (report || reportJson) return resolve(`.tsrun-report-${jobId}`)
  return undefined
}

/** Merges the ranks' files into the timeline and the report (also after a failure: what was recorded). */
export function finishJobTrace(parts: string | undefined, options: LaunchOptions): void {
  if (!parts) return
  try {
    finishTrace(parts, options.trace, (t) => process.stderr.write(t))
  } catch (err) {
    process.stderr.write(`tsrun: could not write the timeline or report: ${(err as Error).message}\n`)
  }
}

/** The restart count the ranks see: this launcher's restarts, after Slurm's requeues of the batch job. */
export function restartCount(attempt: number): string {
  return String(attempt + setting('SLURM_RESTART_COUNT'))
}

/** stdin goes to rank 0 only, as with mpirun. */
export function connectStdin(rank0: RankProcess | undefined): void {
  const sink = rank0?.stdin
  if (!sink || rank0!.slot.rank !== 0) return
  sink.on('error', () => {}) // rank 0 may exit without reading its input (EPIPE)
  process.stdin.on('error', () => {})
  process.stdin.pipe(sink)
}
