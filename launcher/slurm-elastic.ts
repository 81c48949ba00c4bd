/**
 * An elastic job inside a Slurm allocation (`tsrun --elastic MIN:MAX` in an sbatch script or under salloc). A step
 * of all the tasks (how tsrun runs a job there otherwise) ends when one task fails, so an elastic job runs as a
 * hostfile job instead: the allocation's nodes and their task slots are the hosts, this node's ranks are started
 * here, and each other node's by one host agent (host-agent.mjs) run as a one-task srun step on that node, in
 * place of ssh. A lost rank is started again through its node's agent; a lost node's step ends, and its slots are
 * left out after they fail three times within a minute, as with hosts over ssh.
 */
import { expandHostlist, expandTasksPerNode } from '../src/bootstrap/slurm-hostlist.ts'
import { UsageError } from '../src/errors.ts'
import { setting } from '../src/settings.ts'
import type { Host } from './hostfile.ts'
import type { LaunchOptions } from './options.ts'

type Env = Record<string, string | undefined>

/** The allocation's nodes with their task slots (SLURM_JOB_NODELIST, SLURM_TASKS_PER_NODE). */
export function allocationHosts(env: Env = process.env): Host[] {
  const list = setting('SLURM_JOB_NODELIST', env) ?? setting('SLURM_NODELIST', env)
  const tasks = setting('SLURM_TASKS_PER_NODE', env)
  if (!list || !tasks)
    throw new UsageError('--elastic inside a Slurm allocation needs SLURM_JOB_NODELIST and SLURM_TASKS_PER_NODE (run it from sbatch or salloc)')
  const names = expandHostlist(list)
  const slots = expandTasksPerNode(tasks)
  if (slots.length !== names.length) throw new UsageError(`Slurm says ${names.length} nodes (${list}) but tasks for ${slots.length} (${tasks})`)
  return names.map((name, i) => ({ name, slots: slots[i]! }))
}

/**
 * The argv that runs a host agent's shell command on `host` as a one-task srun step holding the CPUs the job has
 * there (so that the node's ranks are not confined to one CPU where Slurm binds steps to their CPUs).
 */
export function srunAgent(env: Env = process.env): (host: string, command: string) => string[] {
  const names = expandHostlist(setting('SLURM_JOB_NODELIST', env) ?? setting('SLURM_NODELIST', env) ?? '')
  const perNode = setting('SLURM_JOB_CPUS_PER_NODE', env)
  const cpus = perNode ? expandTasksPerNode(perNode) : []
  const srun = setting('TSRUN_SRUN', env)
  return (host, command) => {
    const c = cpus[names.indexOf(host)]
    return [
      srun,
      '--quiet',
      // srun holds a task's output until a newline by default; the agent's frames are binary and must flow at once.
      '--unbuffered',
      '--nodes=1',
      '--ntasks=1',
      `--nodelist=${host}`,
      ...(c ? [`--cpus-per-task=${c}`] : []),
      '--kill-on-bad-exit=0',
      'sh',
      '-c',
      command,
    ]
  }
}

/** The options of an elastic job inside an allocation: its nodes as hosts, srun in place of ssh. */
export function elasticInAllocation(options: LaunchOptions, env: Env = process.env): LaunchOptions {
  if (options.hosts || options.hostDiscoveryScript) {
    throw new UsageError("inside a Slurm allocation the elastic job runs on the allocation's nodes: leave out --hostfile, -H and --host-discovery-script")
  }
  return { ...options, hosts: allocationHosts(env), remoteArgv: srunAgent(env) }
}
