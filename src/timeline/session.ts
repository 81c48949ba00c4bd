/**
 * The timeline in a rank's life: started by init() when the job records one, stopped (and written out) by
 * finalize(). Where the per-rank files go:
 * - TSRUN_TRACE_PARTS=dir: the launcher's (`tsrun --timeline` / `--report`); it merges them when the job ends;
 * - TSRUN_TIMELINE=file.json alone (a job under `srun`): `file.json.parts/`, merged by rank 0 in finalize().
 * The directory must be reachable from every host (a shared file system), as the script itself is.
 */
import { hostname } from 'node:os'
import type { Communicator } from '../comm/communicator.ts'
import { setting, type Env } from '../settings.ts'
import { recorder } from '../trace/recorder.ts'
import { finishTrace } from '../trace-offline/finish.ts'
import { measureOffset } from './clock.ts'

export interface TimelinePlan {
  parts: string
  /** Rank 0 merges into this file at finalize (under srun); undefined: the launcher merges. */
  mergeInto?: string
}

export function timelinePlan(env: Env = process.env): TimelinePlan | undefined {
  const parts = setting('TSRUN_TRACE_PARTS', env)
  if (parts) return { parts }
  const timeline = setting('TSRUN_TIMELINE', env)
  if (timeline) return { parts: `${timeline}.parts`, mergeInto: timeline }
  return undefined
}

/** Starts recording on this rank: the file, the clock offset to rank 0, the metadata line. */
export async function startTimeline(world: Communicator, plan: TimelinePlan, rank: number, size: number, node: number, host = hostname()): Promise<void> {
  recorder.start(plan.parts, rank, setting('TSRUN_TIMELINE_P2P_BYTES'))
  // Every rank starts the timeline in init() (the plan is the job's), so every rank makes this dup first.
  const clock = world.dup()
  const { offsetUs, rttUs } = size > 1 ? await measureOffset(clock) : { offsetUs: 0, rttUs: 0 }
  clock.free()
  recorder.offsetUs = offsetUs
  recorder.record({ t: 'meta', rank, size, host, node, pid: process.pid, offsetUs, rttUs })
  recorder.flush()
}

/** Stops recording on this rank (before the transport's finalize: the files are complete once every FIN is in). */
export function stopTimeline(): void {
  recorder.stop()
}

/** After every rank's finalize: under srun, rank 0 merges the files and prints the report (TSRUN_REPORT=1). */
export function finishTimeline(plan: TimelinePlan | undefined, rank: number, env: Env = process.env): void {
  if (!plan?.mergeInto || rank !== 0) return
  try {
    const outputs = { timeline: plan.mergeInto, report: setting('TSRUN_REPORT', env), reportJson: setting('TSRUN_REPORT_JSON', env) }
    finishTrace(plan.parts, outputs, (t) => process.stderr.write(t))
  } catch (err) {
    process.stderr.write(`tsrun: rank 0: could not write the timeline ${plan.mergeInto}: ${(err as Error).message}\n`)
  }
}
