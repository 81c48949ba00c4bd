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

/**
 * The stderr of a job started over ssh, less what the remote login shell's start-up files printed before tsrun ran.
 * sshd runs the command through the user's shell, which sources ~/.bashrc; on some machines that prints (e.g. eight
 * hosts sharing one home, each running `pyenv rehash` at once: "pyenv: cannot rehash …", "rm: cannot remove …").
 * Those lines are a program's name, a colon and a message; nothing tsrun or a rank prints starts that way with
 * these names.
 */
export function withoutLoginShellNoise(stderr: string): string {
  const noise = /^(pyenv|rm|mkdir|bash|-bash|sh|tput|mesg|stty): /
  return stderr
    .split('\n')
    .filter((line) => !noise.test(line))
    .join('\n')
    .trim()
}
