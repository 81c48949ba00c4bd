/**
 * Starts one rank on another host through the launch agent (ssh by default), mpirun style: same working
 * directory, same `node` and tsrun paths (a shared filesystem or identical installs, as mpirun assumes).
 *
 * The remote shell reads the job secret from stdin (so it is never on a command line), checks that node
 * exists, prints `TSRUN_REMOTE_PID=<pid>` and execs the rank, which is then the leader of the process group
 * sshd made for it. Signals go to that group through a second ssh; if the connection drops, the rank's
 * watchdog (rank-preload.mjs) sees its parent sshd go and kills its group.
 */
import { spawn } from 'node:child_process'
import { PassThrough, Readable } from 'node:stream'
import { setting } from '../src/settings.ts'
import type { Slot } from './placement.ts'
import type { RankProcess } from './spawn-local.ts'
import { rankNodeArgs } from './spawn-local.ts'

const PID_LINE = /^TSRUN_REMOTE_PID=(\d+)$/

/** Single-quotes a word for a POSIX shell. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_\-.,:/=@%+]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

/** The command line run by the remote shell. */
export function remoteCommand(cwd: string, env: Record<string, string>, argv: string[]): string {
  const node = argv[0]
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`)
  return [
    `cd ${shellQuote(cwd)} || exit 120`,
    // As the launcher does for its own ranks: the soft limit on open files up to the hard one (file-limit.ts).
    'ulimit -n "$(ulimit -Hn)" 2>/dev/null',
    'IFS= read -r TSRUN_JOB_SECRET; export TSRUN_JOB_SECRET',
    `[ -x ${shellQuote(node)} ] || { echo "tsrun: node not found at ${node} on $(hostname) (tsrun needs the same node and tsrun paths on every host)" >&2; exit 127; }`,
    'echo TSRUN_REMOTE_PID=$$',
    `exec env ${assignments.join(' ')} ${argv.map(shellQuote).join(' ')}`,
  ].join('; ')
}

export function spawnSsh(slot: Slot, script: string, args: string[], env: Record<string, string>, secret: string, agent: string[], cwd: string): RankProcess {
  // The launcher's compiled copy, if that host sees it (a shared file system); rank-main.mjs falls back to tsx.
  const argv = [process.execPath, ...rankNodeArgs(setting('TSRUN_SCRIPT_MODULE', env) !== undefined), script, ...args]
  const child = spawn(agent[0], [...agent.slice(1), slot.host, remoteCommand(cwd, env, argv)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  })
  child.stdin?.on('error', () => {})
  child.stdin?.end(secret + '\n')

  // Take the pid line off stdout; pass everything else on.
  let remotePid: number | undefined
  let head = ''
  const stdout = new PassThrough()
  const out = child.stdout ?? Readable.from([]) // no pipes when the spawn failed; 'error' tells the supervisor
  out.on('data', (chunk: Buffer) => {
    if (remotePid !== undefined) return void stdout.write(chunk)
    head += chunk.toString('utf8')
    const nl = head.indexOf('\n')
    if (nl < 0) return
    const m = PID_LINE.exec(head.slice(0, nl))
    if (m) remotePid = Number(m[1])
    else remotePid = -1
    stdout.write(m ? head.slice(nl + 1) : head)
  })
  out.on('end', () => {
    if (remotePid === undefined && head) stdout.write(head)
    stdout.end()
  })
  // Keep ssh's last complaint for the failure message.
  let lastErr = ''
  const stderr = new PassThrough()
  const err = child.stderr ?? Readable.from([])
  err.on('data', (chunk: Buffer) => {
    const lines = chunk.toString('utf8').trim().split('\n')
    if (lines.at(-1)) lastErr = lines.at(-1)!
    stderr.write(chunk)
  })
  err.on('end', () => stderr.end())

  const rank: RankProcess = {
    slot,
    child,
    pid: child.pid ?? -1,
    stdout,
    stderr,
    kill(signal) {
      if (remotePid !== undefined && remotePid > 0 && signal !== 'SIGKILL') {
        const sig = signal.replace(/^SIG/, '')
        const k = spawn(agent[0], [...agent.slice(1), slot.host, `kill -${sig} -- -${remotePid} 2>/dev/null || kill -${sig} ${remotePid} 2>/dev/null`], {
          stdio: 'ignore',
          detached: true,
        })
        k.on('error', () => {})
        k.unref()
        return
      }
      // SIGKILL, or not started yet: drop the connection; the remote watchdog kills the rank's group.
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL')
      } catch {}
    },
    describeExit(code) {
      if (remotePid === undefined && code !== 0) return `could not be started: ${lastErr || `${agent[0]} exited with code ${code}`}`
      if (code === 255) return `was killed by a signal or lost its connection (remote pid ${remotePid}; ${agent[0]} exit 255)`
      return undefined
    },
  }
  return rank
}
