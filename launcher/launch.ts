/**
 * Runs a job in one of four ways, decided from the options and the environment:
 * - local: N ranks on this machine;
 * - hosts: ranks placed on the hosts of --hostfile / -H, started over ssh (those on this machine locally);
 * - slurm-task: this tsrun is one task of `srun -n N`: it runs exactly one rank (SLURM_PROCID), which meets
 *   the others through the store that rank 0 serves;
 * - slurm-allocation: inside `sbatch`/`salloc` (SLURM_JOB_ID, no step), tsrun starts the ranks with
 *   `srun --kill-on-bad-exit`, each task a tsrun in slurm-task mode (Open MPI's Slurm support does the same).
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { addressForIface, addressToward, isLocalHost } from '../src/bootstrap/iface.ts'
import { slurmTaskOf } from '../src/bootstrap/slurm-env.ts'
import { UsageError } from '../src/errors.ts'
import { prepareNative } from '../src/native/native.ts'
import { setting } from '../src/settings.ts'
import { finishTrace } from '../src/trace-offline/finish.ts'
import { srunEnded, srunMissing, srunTimedOut, tsrunLine } from '../src/failure/messages.ts'
import { createJob, type Job } from './job.ts'
import { BIN } from './paths.ts'
import { defaultNp, type LaunchOptions } from './options.ts'
import { place, placeLocal, type Slot } from './placement.ts'
import { spawnLocal, type RankProcess } from './spawn-local.ts'
import { spawnSsh } from './spawn-ssh.ts'
import { withRestarts, type Outcome } from './restart.ts'
import { supervise } from './supervisor.ts'

type Env = Record<string, string | undefined>

export type Mode = 'local' | 'hosts' | 'slurm-task' | 'slurm-allocation'

export function modeOf(options: LaunchOptions, env: Env = process.env): Mode {
  if (setting('TSRUN_RANK', env) === undefined && slurmTaskOf(env)) return 'slurm-task'
  if (options.hosts) return 'hosts'
  const inAllocation = setting('SLURM_JOB_ID', env) !== undefined && setting('SLURM_STEP_ID', env) === undefined && setting('SLURM_STEPID', env) === undefined
  if (inAllocation && !setting('TSRUN_NO_SLURM', env)) return 'slurm-allocation'
  return 'local'
}

export async function launch(options: LaunchOptions): Promise<number> {
  switch (modeOf(options)) {
    case 'slurm-task':
      return runSlurmTask(options)
    case 'slurm-allocation':
      return runInAllocation(options)
    default:
      return runJob(options)
  }
}

/** TSRUN_* variables of one rank (the secret goes separately: never on a command line). */
export function rankVars(slot: Slot, size: number, job: Job, store: string, extra: { multiHost: boolean; routeTarget?: string; iface?: string }): Record<string, string> {
  const vars: Record<string, string> = {
    TSRUN_RANK: String(slot.rank),
    TSRUN_SIZE: String(size),
    TSRUN_LOCAL_RANK: String(slot.localRank),
    TSRUN_LOCAL_SIZE: String(slot.localSize),
    TSRUN_NODE_RANK: String(slot.nodeRank),
    TSRUN_HOST: slot.host,
    TSRUN_STORE: store,
    TSRUN_JOB_ID: job.id,
    TSRUN_JOB_DIR: job.dir,
  }
  if (job.shmDir) vars.TSRUN_SHM_DIR = job.shmDir
  // Ranks write into pipes; tell them whether the user sees a terminal (progress bars redraw in place then).
  if (process.stderr.isTTY) vars.TSRUN_TTY = '1'
  if (extra.multiHost) vars.TSRUN_MULTI_HOST = '1'
  if (extra.routeTarget) vars.TSRUN_ROUTE_TARGET = extra.routeTarget
  if (extra.iface) vars.TSRUN_IFACE = extra.iface
  return vars
}

/** Where the ranks write their timeline files (beside the timeline, or in the working directory), or undefined. */
function traceParts(options: LaunchOptions, jobId: string): string | undefined {
  const { timeline, report, reportJson } = options.trace
  if (timeline) return `${timeline}.parts`
  if (report || reportJson) return resolve(`.tsrun-report-${jobId}`)
  return undefined
}

/** Merges the ranks' files into the timeline and the report (also after a failure: what was recorded). */
function finishJobTrace(parts: string | undefined, options: LaunchOptions): void {
  if (!parts) return
  try {
    finishTrace(parts, options.trace, (t) => process.stderr.write(t))
  } catch (err) {
    process.stderr.write(`tsrun: could not write the timeline or report: ${(err as Error).message}\n`)
  }
}

/** The bound on finding a silent host, in seconds: --heartbeat-timeout, TSRUN_HEARTBEAT_TIMEOUT, or 10. */
function heartbeatSeconds(options: LaunchOptions): number {
  return setting('TSRUN_HEARTBEAT_TIMEOUT', { ...process.env, ...options.env }) / 1000
}

/**
 * ssh watches its own connection to each host with the same bound (ServerAlive: a probe every third of it, three
 * unanswered end ssh with 255), so the launcher learns of a lost host too, unless the agent already says how.
 */
export function withKeepAlive(agent: string[], seconds: number): string[] {
  if (!/(^|\/)ssh$/.test(agent[0] ?? '') || agent.some((a) => /ServerAlive/i.test(a))) return agent
  const interval = Math.max(1, Math.round(seconds / 3))
  return [...agent, '-o', `ServerAliveInterval=${interval}`, '-o', 'ServerAliveCountMax=3']
}

const say = (line: string) => process.stderr.write(`tsrun: ${line}\n`)

/** Local and hostfile jobs, restarted after a failure up to --max-restarts times. */
function runJob(options: LaunchOptions): Promise<number> {
  return withRestarts(options.maxRestarts, (n, outcome) => runJobOnce(options, n, outcome), say)
}

/** The restart count the ranks see: this launcher's restarts, after Slurm's requeues of the batch job. */
function restartCount(attempt: number): string {
  return String(attempt + setting('SLURM_RESTART_COUNT'))
}

/** One attempt of a local or hostfile job: this process serves the store and supervises every rank. */
async function runJobOnce(options: LaunchOptions, attempt: number, outcome: Outcome): Promise<number> {
  const me = hostname()
  const slots = options.hosts ? place(options.np ?? options.hosts.reduce((a, h) => a + h.slots, 0), options.hosts, options.mapBy, options.oversubscribe) : placeLocal(options.np ?? defaultNp(), me)
  const local = new Map<string, boolean>()
  for (const host of new Set(slots.map((s) => s.host))) local.set(host, options.hosts ? await isLocalHost(host, me) : true)
  const remote = [...local].filter(([, isLocal]) => !isLocal).map(([h]) => h)
  const multiHost = remote.length > 0
  // Across hosts the store listens everywhere (requests need the job secret) and is advertised at the
  // address the first remote host is reached by, or at --iface's.
  const advertised = multiHost ? (options.iface ? addressForIface(options.iface) : await addressToward(remote[0]).catch(() => addressToward('127.0.0.1'))) : '127.0.0.1'
  const job = await createJob(multiHost ? 'tcp://0.0.0.0:*' : 'tcp://127.0.0.1:*')
  // Build the native helpers once here, not in every rank at the same moment (a no-op once cached).
  prepareNative()
  const port = job.store.endpoint.split(':').at(-1)
  const store = `tcp://${advertised}:${port}`
  const parts = traceParts(options, job.id)
  let ranks: RankProcess[] = []
  try {
    const size = slots.length
    ranks = slots.map((slot) => {
      const vars = {
        ...options.env,
        ...rankVars(slot, size, job, store, { multiHost, routeTarget: multiHost ? advertised : undefined, iface: options.iface }),
        ...(parts ? { TSRUN_TRACE_PARTS: parts } : {}),
        TSRUN_RESTART_COUNT: restartCount(attempt),
      }
      if (local.get(slot.host)) {
        return spawnLocal(slot, options.script, options.args, { ...process.env, ...vars, TSRUN_JOB_SECRET: job.secret, TSRUN_LAUNCHER_PID: String(process.pid) }, slot.rank === 0)
      }
      return spawnSsh(slot, options.script, options.args, { ...vars, TSRUN_WATCH_PARENT: '1' }, job.secret, withKeepAlive(options.launchAgent, heartbeatSeconds(options)), process.cwd())
    })
    connectStdin(ranks[0])
    return await supervise(ranks, { tagOutput: options.tagOutput, timeoutSec: options.timeoutSec, stopOnFailure: setting('TSRUN_SUPERVISE'), outcome, jobDir: job.dir })
  } finally {
    for (const r of ranks) r.kill('SIGKILL')
    process.stdin.unpipe()
    process.stdin.destroy()
    job.cleanup()
    finishJobTrace(parts, options)
  }
}

/** One task of `srun -n N`: run this task's rank; the runtime meets the others from Slurm's variables. */
async function runSlurmTask(options: LaunchOptions): Promise<number> {
  const task = slurmTaskOf(process.env)!
  if (options.np !== undefined && options.np !== task.size) {
    throw new UsageError(`under srun every task is one rank: -np ${options.np} does not match the ${task.size} tasks of this step; leave out -np`)
  }
  if (options.hosts) throw new UsageError('under srun, Slurm places the ranks: leave out --hostfile / -H')
  if (options.maxRestarts > 0) {
    throw new UsageError('under srun every task is one rank, and one task cannot restart the step: run tsrun --max-restarts from the batch script (it starts srun itself), or requeue the batch job (sbatch --requeue)')
  }
  const slot: Slot = { rank: task.rank, host: hostname(), nodeRank: task.nodeRank, localRank: task.localRank, localSize: task.localSize }
  const env = { ...process.env, ...options.env, TSRUN_LAUNCHER_PID: String(process.pid), ...(options.iface ? { TSRUN_IFACE: options.iface } : {}), ...slurmTraceVars(options), TSRUN_RESTART_COUNT: String(setting('TSRUN_RESTART_COUNT') ?? restartCount(0)) }
  const rank = spawnLocal(slot, options.script, options.args, env, task.rank === 0)
  connectStdin(rank)
  try {
    return await supervise([rank], { tagOutput: options.tagOutput, timeoutSec: options.timeoutSec, single: true })
  } finally {
    rank.kill('SIGKILL')
    process.stdin.unpipe()
    process.stdin.destroy()
  }
}

/**
 * Under srun nobody sees every rank end: rank 0 merges the timeline in its finalize (TSRUN_TIMELINE) and prints
 * the report (TSRUN_REPORT); without --timeline the files go beside the report, or to the working directory.
 */
function slurmTraceVars(options: LaunchOptions): Record<string, string> {
  const { timeline, report, reportJson } = options.trace
  if (!timeline && !report && !reportJson) return {}
  return {
    TSRUN_TIMELINE: timeline ?? resolve(`.tsrun-report-${setting('SLURM_JOB_ID') ?? 'job'}.${setting('SLURM_STEP_ID') ?? setting('SLURM_STEPID') ?? '0'}.json`),
    ...(report ? { TSRUN_REPORT: '1' } : {}),
    ...(reportJson ? { TSRUN_REPORT_JSON: reportJson } : {}),
  }
}

/** Inside an allocation: srun starts one tsrun per task; srun's --kill-on-bad-exit ends the step on a failure. */
function runInAllocation(options: LaunchOptions): Promise<number> {
  if (options.hosts) throw new UsageError('inside a Slurm allocation, Slurm places the ranks: leave out --hostfile / -H')
  return withRestarts(options.maxRestarts, (n, outcome) => srunStep(options, n, outcome), say)
}

/** One srun step of the job (one attempt). */
async function srunStep(options: LaunchOptions, attempt: number, outcome: Outcome): Promise<number> {
  const bin = BIN
  const { timeline, report, reportJson } = options.trace
  const traceFlags = [...(timeline ? ['--timeline', timeline] : []), ...(report ? ['--report'] : []), ...(reportJson ? ['--report-json', reportJson] : [])]
  const passOn = [...(options.tagOutput ? ['--tag-output'] : []), ...Object.entries(options.env).flatMap(([k, v]) => ['-x', `${k}=${v}`]), ...(options.iface ? ['--iface', options.iface] : []), ...traceFlags]
  const srunArgs = ['--kill-on-bad-exit=1', ...(options.np !== undefined ? ['-n', String(options.np)] : []), process.execPath, bin, ...passOn, options.script, ...options.args]
  // A fresh secret for the step's store, passed in the environment (srun exports it to every task).
  const env = { ...process.env, TSRUN_JOB_SECRET: setting('TSRUN_JOB_SECRET') ?? randomBytes(32).toString('hex'), TSRUN_RESTART_COUNT: restartCount(attempt) }
  const srun = spawn(setting('TSRUN_SRUN'), srunArgs, { stdio: 'inherit', env })
  const forward = (signal: NodeJS.Signals) => ((outcome.final = true), srun.kill(signal))
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, forward)
  const timer = options.timeoutSec === undefined ? undefined : setTimeout(() => {
    process.stderr.write(tsrunLine(srunTimedOut(options.timeoutSec as number)))
    outcome.final = true
    srun.kill('SIGTERM')
    setTimeout(() => srun.kill('SIGKILL'), 3000).unref()
  }, options.timeoutSec * 1000)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    srun.once('exit', (c, s) => resolve([c, s]))
    srun.once('error', (err) => {
      process.stderr.write(tsrunLine(srunMissing(err.message)))
      resolve([127, null])
    })
  })
  if (timer) clearTimeout(timer)
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.off(s, forward)
  if (code !== 0 && code !== 127) process.stderr.write(tsrunLine(srunEnded(code, signal)))
  if (code === 127) outcome.final = true
  outcome.cause = `${srunEnded(code, signal)} (the failing task's tsrun named it above)`
  // Rank 0 merges in its finalize; after a failure it did not, and what the ranks recorded is merged here.
  if (timeline && existsSync(`${timeline}.parts`)) finishJobTrace(`${timeline}.parts`, options)
  return code ?? 1
}

/** stdin goes to rank 0 only, as with mpirun. */
function connectStdin(rank0: RankProcess | undefined): void {
  const sink = rank0?.child.stdin
  if (!sink || rank0!.slot.rank !== 0) return
  sink.on('error', () => {}) // rank 0 may exit without reading its input (EPIPE)
  process.stdin.on('error', () => {})
  process.stdin.pipe(sink)
}
