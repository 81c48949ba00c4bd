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
  recorder.start(plan.parts, `rank-${rank}`, setting('TSRUN_TIMELINE_P2P_BYTES'))
  // Every rank starts the timeline in init() (the plan is the job's), so every rank makes this dup first.
  const clock = world.dup()
  const { offsetUs, rttUs } = size > 1 ? await measureOffset(clock) : { offsetUs: 0, rttUs: 0 }
  clock.free()
  recorder.offsetUs = offsetUs
  recorder.record({ t: 'meta', rank, size, host, node, pid: process.pid, offsetUs, rttUs })
  recorder.flush()
}

/** Tags of the newcomers' flags and rank 0's offset (measureOffset's round trips use 0..7). */
const FLAG_TAG = 100
const BASE_TAG = 101

/** Where an elastic member is as it enters a generation. */
export interface GenerationPlace {
  member: string
  gen: number
  node: number
  host?: string
}

/**
 * An elastic member's timeline as it enters each generation (the file is per member, as its rank changes):
 * the first time, the file, the clock offset and the meta line; every time, a `g` line. Offsets chain: a member
 * measures only in its first generation, against that generation's rank 0, and adds rank 0's own offset, so
 * every member's times are on the clock of generation 0's rank 0 (a survivor keeps the offset it has).
 * Collective over `world`.
 */
export async function startTimelineGeneration(world: Communicator, plan: TimelinePlan, place: GenerationPlace): Promise<void> {
  const { rank, size } = world
  const first = !recorder.on
  if (first) recorder.start(plan.parts, `member-${place.member}`, setting('TSRUN_TIMELINE_P2P_BYTES'))
  recorder.generation = place.gen
  // Point to point (small messages are not recorded): who is new, rank 0's offset to them, their round trips.
  const clock = world.dup()
  try {
    const flag = Float64Array.of(first ? 1 : 0)
    let rttUs = 0
    if (rank === 0) {
      const newcomers: number[] = []
      for (let r = 1; r < size; r++) {
        await clock.recv(r, { tag: FLAG_TAG, into: flag })
        if (flag[0] === 1) newcomers.push(r)
      }
      for (const r of newcomers) await clock.send(Float64Array.of(recorder.offsetUs), r, { tag: BASE_TAG })
      if (newcomers.length) await measureOffset(clock, newcomers)
    } else {
      await clock.send(flag, 0, { tag: FLAG_TAG })
      if (first) {
        const base = new Float64Array(1)
        await clock.recv(0, { tag: BASE_TAG, into: base })
        const measured = await measureOffset(clock)
        recorder.offsetUs = measured.offsetUs + base[0]!
        rttUs = measured.rttUs
      }
    }
    if (first) {
      const host = place.host ?? hostname()
      recorder.record({ t: 'meta', rank, size, host, node: place.node, pid: process.pid, offsetUs: recorder.offsetUs, rttUs, member: place.member })
    }
  } finally {
    clock.free()
  }
  recorder.record({ t: 'g', gen: place.gen, rank, size, node: place.node, s: recorder.now() })
  recorder.flush()
}

/**
 * What an elastic job's session calls (init() hands it these): as the member enters each generation, and as
 * each change of world ends (a span from when the member learned of it to the state in place again).
 */
export const elasticTimeline = {
  entered(world: Communicator, place: GenerationPlace): Promise<void> {
    const plan = timelinePlan()
    return plan ? startTimelineGeneration(world, plan, place) : Promise.resolve()
  },
  changed(change: { name: string; sinceMs: number; args: Record<string, unknown> }): void {
    if (recorder.on)
      recorder.record({ t: 's', name: change.name, cat: 'elastic', s: (performance.timeOrigin + change.sinceMs) * 1000, e: recorder.now(), args: change.args })
  },
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
