/**
 * Starts one rank on this machine as `node [--import tsx] --import rank-preload rank-main <script> [args]`, in its own
 * process group (detached) so that a signal to the group reaches the rank and anything it started.
 */
import { spawn } from 'node:child_process'
import { availableParallelism } from 'node:os'
import { Readable, type Writable } from 'node:stream'
import { pathToFileURL } from 'node:url'
import { setting } from '../src/settings.ts'
import { jitFlags } from './jit-flags.mjs'
import { FROM_SOURCE, RANK_MAIN, RANK_PRELOAD } from './paths.ts'
import type { Slot } from './placement.ts'

/** How a rank ended: its exit code or signal, or why it could not be started (then code 127). */
export interface RankExit {
  code: number | null
  signal: NodeJS.Signals | null
  /** Set when the rank never started (EMFILE, EAGAIN, a host agent that could not start it). */
  startError?: string
}

export interface RankProcess {
  slot: Slot
  /** Its pid on its host (for a remote rank: once known, else the ssh client's local pid, or -1). */
  pid: number
  /** The rank's output (the child's, or taken apart from its host agent's). */
  stdout: Readable
  stderr: Readable
  /** The rank's stdin, where the launcher has one (local ranks started with it). */
  stdin?: Writable | null
  /** Settles once, when the rank has ended. */
  exit: Promise<RankExit>
  /** Signals the rank's whole process group; a group that is gone is ignored. */
  kill(signal: NodeJS.Signals): void
  /** A better account of an exit than "exited with code C", when the spawner knows one (ssh failures). */
  describeExit?(code: number | null, signal: NodeJS.Signals | null): string | undefined
}

/**
 * Node arguments that let a rank run TypeScript and watch for the launcher's death, plus TSRUN_NODE_ARGS
 * (space-separated; for flags that NODE_OPTIONS refuses, such as --cpu-prof). A rank whose script the launcher
 * has compiled (`TSRUN_SCRIPT_MODULE`, compile.ts) needs no TypeScript loader. The V8 flags that depend on the
 * host's cores (jit-flags.mjs) come before these, added by whoever starts the rank on its host.
 */
export function rankNodeArgs(compiled = false): string[] {
  const extra = setting('TSRUN_NODE_ARGS').split(' ').filter(Boolean)
  const dev = FROM_SOURCE ? ['--conditions=tsrun-dev'] : []
  const loader = compiled ? [] : ['--import', import.meta.resolve('tsx')]
  return [...extra, ...dev, ...loader, '--import', pathToFileURL(RANK_PRELOAD).href, RANK_MAIN]
}

export function spawnLocal(slot: Slot, script: string, args: string[], env: NodeJS.ProcessEnv, withStdin: boolean): RankProcess {
  const jit = jitFlags(slot.localSize, availableParallelism())
  const child = spawn(process.execPath, [...jit, ...rankNodeArgs(setting('TSRUN_SCRIPT_MODULE', env) !== undefined), script, ...args], {
    env,
    stdio: [withStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const pid = child.pid ?? -1
  const exit = new Promise<RankExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
    child.once('error', (err) => resolve({ code: 127, signal: null, startError: err.message }))
  })
  return {
    slot,
    pid,
    exit,
    stdin: child.stdin,
    // A spawn that failed (EMFILE, EAGAIN) has no pipes; its 'error' event tells the supervisor.
    stdout: child.stdout ?? Readable.from([]),
    stderr: child.stderr ?? Readable.from([]),
    kill(signal) {
      if (pid <= 0) return
      try {
        process.kill(-pid, signal)
      } catch {
        // ESRCH: the group is gone already.
      }
    },
  }
}
