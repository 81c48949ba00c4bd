/**
 * Global setup of the scale suite: eight ssh-reachable hosts in network namespaces (node1..node8, 4 slots
 * each) from ../shared/cluster; always torn down afterwards.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../helpers/run-ranks.ts'

const SCRIPTS = join(ROOT, '..', 'shared', 'cluster')

function run(script: string, ...args: string[]): void {
  execFileSync('bash', [join(SCRIPTS, script), ...args], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 })
}

export function setup(): () => void {
  if (!existsSync(SCRIPTS)) throw new Error(`the scale suite needs ../shared/cluster next to the repository (looked in ${SCRIPTS})`)
  if (process.getuid?.() !== 0) throw new Error('the scale suite needs root (network namespaces, sshd)')
  run('netns-hosts-down.sh') // another suite's smaller set of hosts, if left up
  run('netns-hosts-up.sh', '8', '--slots', '4')
  return () => run('netns-hosts-down.sh')
}
