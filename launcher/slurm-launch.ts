/**
 * tsrun and Slurm: a task started by `srun` runs its one rank (the step is the job), and tsrun inside an
 * allocation starts the step itself (`srun … tsrun script`), restarting it after a failure up to --max-restarts.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { slurmTaskOf } from '../src/bootstrap/slurm-env.ts'
import { UsageError } from '../src/errors.ts'
import { srunEnded, srunMissing, srunTimedOut, tsrunLine } from '../src/failure/messages.ts'
import { setting } from '../src/settings.ts'
import { compiledScriptVars } from './compile.ts'
import { connectStdin, finishJobTrace, restartCount, say } from './attempt.ts'
import type { LaunchOptions } from './options.ts'
import { BIN } from './paths.ts'
import type { Slot } from './placement.ts'
import { withRestarts, type Outcome } from './restart.ts'
import { spawnLocal } from './spawn-local.ts'
import { supervise } from './supervisor.ts'

/** One task of `srun -n N`: run this task's rank; the runtime meets the others from Slurm's variables. */
export async function runSlurmTask(options: LaunchOptions): Promise<number> {
  const task = slurmTaskOf(process.env)!
  if (options.np !== undefined && options.np !== task.size) {
    throw new UsageError(`under srun every task is one rank: -np ${options.np} does not match the ${task.size} tasks of this step; leave out -np`)
  }
  if (options.hosts) throw new UsageError('under srun, Slurm places the ranks: leave out --hostfile / -H')
  if (options.maxRestarts > 0) {
    throw new UsageError(
      'under srun every task is one rank, and one task cannot restart the step: run tsrun --max-restarts from the batch script (it starts srun itself), or requeue the batch job (sbatch --requeue)',
    )
  }
  const slot: Slot = { rank: task.rank, host: hostname(), nodeRank: task.nodeRank, localRank: task.localRank, localSize: task.localSize }
  const env = {
    ...process.env,
    ...options.env,
    TSRUN_LAUNCHER_PID: String(process.pid),
    ...(options.iface ? { TSRUN_IFACE: options.iface } : {}),
    ...slurmTraceVars(options),
    TSRUN_RESTART_COUNT: String(setting('TSRUN_RESTART_COUNT') ?? restartCount(0)),
    // Each task compiles the script, or finds the copy another task of this host (or an earlier job) made.
    ...(await compiledScriptVars(options.script)),
  }
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
export function runInAllocation(options: LaunchOptions): Promise<number> {
  if (options.hosts) throw new UsageError('inside a Slurm allocation, Slurm places the ranks: leave out --hostfile / -H')
  return withRestarts(options.maxRestarts, (n, outcome) => srunStep(options, n, outcome), say)
}

/** One srun step of the job (one attempt). */
async function srunStep(options: LaunchOptions, attempt: number, outcome: Outcome): Promise<number> {
  const bin = BIN
  const { timeline, report, reportJson } = options.trace
  const traceFlags = [...(timeline ? ['--timeline', timeline] : []), ...(report ? ['--report'] : []), ...(reportJson ? ['--report-json', reportJson] : [])]
  const passOn = [
    ...(options.tagOutput ? ['--tag-output'] : []),
    ...Object.entries(options.env).flatMap(([k, v]) => ['-x', `${k}=${v}`]),
    ...(options.iface ? ['--iface', options.iface] : []),
    ...traceFlags,
  ]
  const srunArgs = [
    '--kill-on-bad-exit=1',
    ...(options.np !== undefined ? ['-n', String(options.np)] : []),
    process.execPath,
    bin,
    ...passOn,
    options.script,
    ...options.args,
  ]
  // A fresh secret for the step's store, passed in the environment (srun exports it to every task).
  const env = { ...process.env, TSRUN_JOB_SECRET: setting('TSRUN_JOB_SECRET') ?? randomBytes(32).toString('hex'), TSRUN_RESTART_COUNT: restartCount(attempt) }
  const srun = spawn(setting('TSRUN_SRUN'), srunArgs, { stdio: 'inherit', env })
  const forward = (signal: NodeJS.Signals) => {
    outcome.final = true
    srun.kill(signal)
  }
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, forward)
  const timer =
    options.timeoutSec === undefined
      ? undefined
      : setTimeout(() => {
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
