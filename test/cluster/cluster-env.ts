/** What the cluster scripts wrote: host names, hostfiles, Slurm config. */
import { readFileSync } from 'node:fs'

function readEnvFile(path: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^(?:export\s+)?([A-Z_]+)="?([^"]*)"?$/.exec(line.trim())
    if (m) out[m[1]] = m[2]
  }
  return out
}

export function clusterEnv() {
  const hosts = readEnvFile('/run/tsrun-cluster/hosts.env')
  const slurm = readEnvFile('/run/tsrun-cluster/slurm.env')
  return {
    hosts: hosts.TSRUN_CLUSTER_HOSTS.split(' '),
    hostfile: hosts.TSRUN_CLUSTER_HOSTFILE,
    hostfileMpich: hosts.TSRUN_CLUSTER_HOSTFILE_MPICH,
    /** Environment for srun/sbatch. */
    slurmEnv: { ...process.env, ...slurm } as Record<string, string>,
  }
}
