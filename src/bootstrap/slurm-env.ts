/**
 * A process that is one task of a Slurm job step (started by `srun`, directly or through `tsrun`) joins the
 * job from Slurm's variables alone: rank = SLURM_PROCID, size = SLURM_STEP_NUM_TASKS, the store is served by
 * rank 0 on the first host of SLURM_STEP_NODELIST at a port derived from the job and step ids (or
 * TSRUN_STORE_PORT). A batch script's own shell (no SLURM_STEP_ID) is not a task.
 */
import { UsageError } from '../errors.ts'
import { setting } from '../settings.ts'
import { expandHostlist, expandTasksPerNode } from './slurm-hostlist.ts'

type Env = Record<string, string | undefined>

export interface SlurmTask {
  rank: number
  size: number
  localRank: number
  localSize: number
  nodeRank: number
  nodes: string[]
  jobId: string
  stepId: string
  storePort: number
}

/** Ports from this range: above the usual service ports, below the Linux ephemeral range. */
const PORT_BASE = 20_000
const PORT_SPAN = 12_000

export function storePortFor(jobId: string, stepId: string): number {
  const j = Number.parseInt(jobId, 10) || 0
  const s = Number.parseInt(stepId, 10) || 0
  return PORT_BASE + ((j * 64 + s) % PORT_SPAN)
}

function num(env: Env, names: string[]): number {
  for (const n of names) {
    const raw = env[n]
    if (raw !== undefined && raw !== '') {
      const v = Number(raw)
      if (!Number.isInteger(v) || v < 0) throw new UsageError(`${n} must be a whole number, got '${raw}'`)
      return v
    }
  }
  throw new UsageError(`this looks like a Slurm task but ${names[0]} is not set; start it with srun`)
}

export function slurmTaskOf(env: Env): SlurmTask | undefined {
  const stepId = env.SLURM_STEP_ID ?? env.SLURM_STEPID
  if (env.SLURM_PROCID === undefined || stepId === undefined || env.SLURM_JOB_ID === undefined) return undefined
  const size = num(env, ['SLURM_STEP_NUM_TASKS', 'SLURM_NTASKS'])
  const rank = num(env, ['SLURM_PROCID'])
  const nodeRank = num(env, ['SLURM_NODEID'])
  const nodes = expandHostlist(env.SLURM_STEP_NODELIST ?? env.SLURM_NODELIST ?? '')
  if (nodes.length === 0) throw new UsageError('SLURM_STEP_NODELIST is empty; start the job with srun')
  const perNode = expandTasksPerNode(env.SLURM_STEP_TASKS_PER_NODE ?? env.SLURM_TASKS_PER_NODE ?? String(size))
  const port = setting('TSRUN_STORE_PORT', env) ?? storePortFor(env.SLURM_JOB_ID, stepId)
  return {
    rank,
    size,
    nodeRank,
    localRank: num(env, ['SLURM_LOCALID']),
    localSize: perNode[nodeRank] ?? 1,
    nodes,
    jobId: env.SLURM_JOB_ID,
    stepId,
    storePort: port,
  }
}
