/**
 * Global setup of the cluster suite: three ssh-reachable hosts in network namespaces (node1..node3) and a
 * Slurm with one slurmd in each, from ../shared/cluster; always torn down afterwards.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../helpers/run-ranks.ts'

export const CLUSTER_SCRIPTS = join(ROOT, '..', 'shared', 'cluster')

function run(script: string, ...args: string[]): void {
  execFileSync('bash', [join(CLUSTER_SCRIPTS, script), ...args], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 })
}

export function setup(): () => void {
  if (!existsSync(CLUSTER_SCRIPTS)) {
    throw new Error(`the cluster suite needs ../shared/cluster next to the repository (looked in ${CLUSTER_SCRIPTS})`)
  }
  if (process.getuid?.() !== 0) throw new Error('the cluster suite needs root (network namespaces, sshd, slurmd)')
  run('netns-hosts-up.sh', '3')
  run('slurm-up.sh', '--netns')
  return () => run('netns-hosts-down.sh')
}
