/**
 * Runs a job on this machine: create the job (secret, private dir, store), start every rank with its
 * environment, supervise them, clean up, and return the exit code.
 */
import { hostname } from 'node:os'
import { createJob } from './job.ts'
import type { LaunchOptions } from './options.ts'
import { placeLocal, type Slot } from './placement.ts'
import { spawnLocal, type RankProcess } from './spawn-local.ts'
import { supervise } from './supervisor.ts'

/** The environment of one rank: the user's, `-x` variables, then tsrun's own. */
export function rankEnv(slot: Slot, size: number, job: { id: string; secret: string; dir: string; store: string }, extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...extra,
    TSRUN_RANK: String(slot.rank),
    TSRUN_SIZE: String(size),
    TSRUN_LOCAL_RANK: String(slot.localRank),
    TSRUN_LOCAL_SIZE: String(slot.localSize),
    TSRUN_NODE_RANK: String(slot.nodeRank),
    TSRUN_HOST: slot.host,
    TSRUN_STORE: job.store,
    TSRUN_JOB_ID: job.id,
    TSRUN_JOB_SECRET: job.secret,
    TSRUN_JOB_DIR: job.dir,
    TSRUN_LAUNCHER_PID: String(process.pid),
  }
}

export async function launch(options: LaunchOptions): Promise<number> {
  const job = await createJob()
  let ranks: RankProcess[] = []
  try {
    const host = hostname()
    const slots = placeLocal(options.np, host)
    const info = { id: job.id, secret: job.secret, dir: job.dir, store: job.store.endpoint }
    ranks = slots.map((slot) => spawnLocal(slot, options.script, options.args, rankEnv(slot, options.np, info, options.env), slot.rank === 0))
    connectStdin(ranks[0])
    return await supervise(ranks, { tagOutput: options.tagOutput, timeoutSec: options.timeoutSec })
  } finally {
    for (const r of ranks) r.kill('SIGKILL')
    process.stdin.unpipe()
    process.stdin.destroy()
    job.cleanup()
  }
}

/** stdin goes to rank 0 only, as with mpirun. */
function connectStdin(rank0: RankProcess | undefined): void {
  const sink = rank0?.child.stdin
  if (!sink) return
  sink.on('error', () => {}) // rank 0 may exit without reading its input (EPIPE)
  process.stdin.on('error', () => {})
  process.stdin.pipe(sink)
}
