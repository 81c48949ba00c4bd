/**
 * Starts ranks on other hosts, mpirun style: one ssh connection per host (not per rank) runs the host agent
 * (host-agent.mjs), which starts that host's ranks and sends back their output and exits as frames
 * (agent-frames.mjs). Same working directory, same `node` and tsrun paths (a shared filesystem or identical
 * installs, as mpirun assumes).
 *
 * The remote shell reads the job secret from stdin (so it is never on a command line), checks that node exists
 * and execs the agent. If the connection drops, the agent sees its stdin end and kills its ranks; each rank's
 * watchdog (rank-preload.mjs) also kills its group when the agent goes.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { PassThrough, Writable } from 'node:stream'
import { setting } from '../src/settings.ts'
import { FRAME, frameReader } from './agent-frames.mjs'
import { PACKAGE_ROOT } from './paths.ts'
import type { Slot } from './placement.ts'
import type { RankExit, RankProcess } from './spawn-local.ts'
import { rankNodeArgs } from './spawn-local.ts'

const HOST_AGENT = join(PACKAGE_ROOT, 'launcher', 'host-agent.mjs')
/** A rank told SIGKILL whose agent has not reported its end by then is taken as gone with its connection. */
const KILL_ANSWER_MS = 3000
/** After the agents' stdin is closed at the job's end, how long before their ssh clients are killed. */
const CLOSE_GRACE_MS = 2000

/**
 * What starts the host agent on a host: a command line to which the host and the remote shell command are added
 * (`ssh -o BatchMode=yes`: `ssh … host 'command'`), or a function that builds the whole argv (srun, slurm-elastic.ts).
 */
export type LaunchAgent = string[] | ((host: string, command: string) => string[])

function agentArgv(agent: LaunchAgent, host: string, command: string): string[] {
  return typeof agent === 'function' ? agent(host, command) : [...agent, host, command]
}

/** Single-quotes a word for a POSIX shell. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_\-.,:/=@%+]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

/** The command line run by the remote shell: checks, then the host agent. */
export function remoteCommand(cwd: string, argv: string[]): string {
  const node = argv[0]
  return [
    `cd ${shellQuote(cwd)} || exit 120`,
    // As the launcher does for its own ranks: the soft limit on open files up to the hard one (file-limit.ts).
    'ulimit -n "$(ulimit -Hn)" 2>/dev/null',
    'IFS= read -r TSRUN_JOB_SECRET; export TSRUN_JOB_SECRET',
    `[ -x ${shellQuote(node)} ] || { echo "tsrun: node not found at ${node} on $(hostname) (tsrun needs the same node and tsrun paths on every host)" >&2; exit 127; }`,
    `exec ${argv.map(shellQuote).join(' ')}`,
  ].join('; ')
}

interface RemoteRank {
  proc: RankProcess
  stdout: PassThrough
  stderr: PassThrough
  started: boolean
  settle(e: RankExit): void
}

/** One host's agent and the ranks it runs, behind one ssh connection. */
class HostAgent {
  private readonly child: ChildProcess
  private readonly ranks = new Map<number, RemoteRank>()
  private lastErr = ''
  /** The agent said it runs: from then on, a connection that ends is a lost connection for the ranks behind it. */
  private ready = false
  private nextId = 0
  /** A rank told SIGKILL whose end never came: the connection is taken for cut off. */
  private silent = false
  private ended: { code: number | null; signal: NodeJS.Signals | null; error?: string } | undefined
  readonly host: string

  constructor(host: string, agent: LaunchAgent, cwd: string, secret: string) {
    this.host = host
    const argv = agentArgv(agent, host, remoteCommand(cwd, [process.execPath, HOST_AGENT]))
    this.child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    })
    this.child.stdin?.on('error', () => {})
    this.child.stdin?.write(`${secret}\n`)
    this.child.stdout?.on(
      'data',
      frameReader((kind, id, payload) => this.frame(kind, id, payload)),
    )
    // ssh's own complaints (and a login shell's noise) go to the launcher's stderr; the last one names a failure.
    this.child.stderr?.on('data', (chunk: Buffer) => {
      const last = chunk.toString('utf8').trim().split('\n').at(-1)
      if (last) this.lastErr = last
      process.stderr.write(chunk)
    })
    this.child.once('error', (err) => this.gone({ code: 127, signal: null, error: err.message }))
    this.child.once('exit', (code, signal) => this.gone({ code, signal }))
  }

  get alive(): boolean {
    return this.ended === undefined
  }

  /** Starts a rank through this host's agent; with `withStdin`, what is written to its `stdin` reaches the rank's. */
  spawn(slot: Slot, argv: string[], env: Record<string, string>, withStdin: boolean): RankProcess {
    // Its own id on this connection, not the slot's rank: a slot's rank started again (an elastic job) before the
    // end of its last process is known must not take that process's place.
    const id = this.nextId++
    let settle: (e: RankExit) => void = () => {}
    const exit = new Promise<RankExit>((resolve) => {
      settle = resolve
    })
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    const agent = this
    const proc: RankProcess = {
      slot,
      pid: this.child.pid ?? -1, // the ssh client's, until the agent says the rank's
      stdout,
      stderr,
      exit,
      stdin: withStdin
        ? new Writable({
            write: (chunk: Buffer, _enc, done) => {
              agent.command({ op: 'stdin', id, data: chunk.toString('base64') })
              done()
            },
            final: (done) => {
              agent.command({ op: 'stdin-end', id })
              done()
            },
          })
        : null,
      kill(signal) {
        agent.command({ op: 'kill', id, signal })
        if (signal === 'SIGKILL') setTimeout(() => agent.lost(id), KILL_ANSWER_MS).unref()
      },
      describeExit(code) {
        if (!entry.started && code !== 0)
          return `could not be started: ${agent.lastErr || `the connection to ${agent.host} ended${code === null ? '' : ` (code ${code})`}`}`
        if (code === 255) return `was killed by a signal or lost its connection (remote pid ${proc.pid}; the connection to ${agent.host} ended)`
        return undefined
      },
    }
    const entry: RemoteRank = { proc, stdout, stderr, started: false, settle: (e) => settle(e) }
    this.ranks.set(id, entry)
    if (this.ended) this.finish(id, this.endOf())
    else this.command({ op: 'spawn', id, argv, env, stdin: withStdin, localSize: slot.localSize })
    return proc
  }

  /**
   * Ends the agent's stdin: it kills what still runs and exits. Its ssh is killed at once if a rank's end never
   * came (the host is cut off: that connection would linger until its keep-alive), else if it lingers.
   */
  close(): void {
    if (!this.alive) return
    this.child.stdin?.end()
    const kill = () => {
      if (!this.alive) return
      try {
        process.kill(-(this.child.pid ?? 0), 'SIGKILL')
      } catch {}
    }
    if (this.silent || this.ranks.size > 0) kill()
    else setTimeout(kill, CLOSE_GRACE_MS).unref()
  }

  private command(cmd: Record<string, unknown>): void {
    if (this.alive && this.child.stdin?.writable) this.child.stdin.write(`${JSON.stringify(cmd)}\n`)
  }

  private frame(kind: number, id: number, payload: Buffer): void {
    const r = this.ranks.get(id)
    if (kind === FRAME.ready) this.ready = true
    if (kind === FRAME.ready || !r) return
    if (kind === FRAME.stdout) r.stdout.write(payload)
    else if (kind === FRAME.stderr) r.stderr.write(payload)
    else if (kind === FRAME.started) {
      r.started = true
      r.proc.pid = Number(payload.toString('utf8'))
    } else if (kind === FRAME.exit) {
      const { code, signal } = JSON.parse(payload.toString('utf8')) as { code: number | null; signal: NodeJS.Signals | null }
      this.finish(id, { code, signal })
    } else if (kind === FRAME.failed) this.finish(id, { code: 127, signal: null, startError: `on ${this.host}: ${payload.toString('utf8')}` })
  }

  /** A rank's end: its output streams end, then the exit settles. */
  private finish(id: number, e: RankExit): void {
    const r = this.ranks.get(id)
    if (!r) return
    this.ranks.delete(id)
    r.stdout.end()
    r.stderr.end()
    r.settle(e)
  }

  /** A rank asked to die whose end never came: its connection is taken as gone. */
  private lost(id: number): void {
    if (!this.ranks.has(id)) return
    this.silent = true
    this.finish(id, { code: 255, signal: null })
  }

  private endOf(): RankExit {
    const e = this.ended!
    if (e.error !== undefined) return { code: 127, signal: null, startError: e.error }
    // Once the agent ran, its connection's end is a lost connection for the ranks still behind it (ssh says 255,
    // srun its own code); before, the agent's own code says why it could not start (127: no node there).
    return { code: this.ready || e.signal ? 255 : (e.code ?? 255), signal: null }
  }

  /** The connection ended: every rank still behind it ends with it. */
  private gone(e: { code: number | null; signal: NodeJS.Signals | null; error?: string }): void {
    if (this.ended) return
    this.ended = e
    for (const id of [...this.ranks.keys()]) this.finish(id, this.endOf())
  }
}

/**
 * The ssh side of one launch: a host agent per remote host, started with that host's first rank and reused by
 * the ranks started there later (an elastic job's joiners); a new one if the host's connection has ended.
 */
export class RemoteHosts {
  private readonly agents = new Map<string, HostAgent>()
  private readonly secret: string
  private readonly agent: LaunchAgent
  private readonly cwd: string

  constructor(secret: string, agent: LaunchAgent, cwd: string) {
    this.secret = secret
    this.agent = agent
    this.cwd = cwd
  }

  /** Starts one rank on `slot.host` (with the launcher's stdin if `withStdin`: rank 0, as mpirun does). */
  spawn(slot: Slot, script: string, args: string[], env: Record<string, string>, withStdin = false): RankProcess {
    // The launcher's compiled copy, if that host sees it (a shared file system); rank-main.mjs falls back to tsx.
    const argv = [process.execPath, ...rankNodeArgs(setting('TSRUN_SCRIPT_MODULE', env) !== undefined), script, ...args]
    let host = this.agents.get(slot.host)
    if (!host?.alive) {
      host = new HostAgent(slot.host, this.agent, this.cwd, this.secret)
      this.agents.set(slot.host, host)
    }
    return host.spawn(slot, argv, env, withStdin)
  }

  /** How many ssh connections are open. */
  get connections(): number {
    return [...this.agents.values()].filter((a) => a.alive).length
  }

  /** Ends every agent (each kills what it still runs). */
  close(): void {
    for (const a of this.agents.values()) a.close()
  }
}
