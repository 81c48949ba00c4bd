/**
 * Runs the real launcher as a child process (its own process group), collects its output, and guarantees
 * cleanup: the group is killed when the test finishes, pass or fail, and the run resolves at `timeoutMs`
 * with what it printed so far instead of hanging.
 */
import { spawn, execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { onTestFinished } from 'vitest'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = join(ROOT, 'launcher', 'bin.mjs')
export const fixture = (name: string) => join(ROOT, 'test', 'fixtures', name)

export interface Run {
  exitCode: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  timedOut: boolean
  /** Milliseconds from start to exit. */
  elapsedMs: number
  /** Every stdout line that parses as a JSON object (optionally after an Open MPI tag). */
  // biome-ignore lint/suspicious/noExplicitAny: JSON the fixtures print, of as many shapes as there are fixtures; each test reads the fields its own fixture writes
  cases: Record<string, any>[]
  /** A string passed as the script's last argument; `leftovers(mark)` finds processes that still carry it. */
  mark: string
  pid: number
}

export interface RunOptions {
  timeoutMs?: number
  env?: Record<string, string>
  /** Launcher flags before the script, e.g. ['--tag-output']. */
  flags?: string[]
  args?: string[]
  stdin?: string
  /** Called with the child once it has started (to send it signals). */
  onStart?: (child: import('node:child_process').ChildProcess, output: () => string) => void
}

/** `tsrun -np <np> [flags] <script> [args] <mark>` */
export function runRanks(np: number | undefined, script: string, opts: RunOptions = {}): Promise<Run> {
  const npArgs = np === undefined ? [] : ['-np', String(np)]
  return runLauncher([...npArgs, ...(opts.flags ?? []), script.includes('/') ? script : fixture(script), ...(opts.args ?? [])], opts)
}

/** Runs the launcher with raw arguments (a unique mark is appended last). */
export function runLauncher(argv: string[], opts: RunOptions = {}): Promise<Run> {
  return runProcess(process.execPath, (mark) => [BIN, ...argv, mark], opts)
}

/**
 * Runs any command (srun, sbatch, ...) in its own process group with the same guarantees; `argv` gets the
 * run's mark to put where the rank processes will carry it (their last argument).
 */
export function runProcess(command: string, argv: (mark: string) => string[], opts: RunOptions = {}): Promise<Run> {
  const mark = `tsrun-test-${randomUUID()}`
  const start = Date.now()
  const child = spawn(command, argv(mark), {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  })
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {}
  }
  onTestFinished(() => {
    killGroup()
    killMarked(mark)
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  child.stdin.on('error', () => {})
  if (opts.stdin !== undefined) child.stdin.end(opts.stdin)
  opts.onStart?.(child, () => stdout + stderr)
  return new Promise((resolve) => {
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      killGroup()
      killMarked(mark)
    }, opts.timeoutMs ?? 60_000)
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer)
      resolve({
        exitCode,
        signal,
        stdout,
        stderr,
        timedOut,
        elapsedMs: Date.now() - start,
        cases: parseCases(stdout),
        mark,
        pid: child.pid!,
      })
    })
  })
}

function parseCases(stdout: string): Run['cases'] {
  const out: Run['cases'] = []
  for (const raw of stdout.split('\n')) {
    const line = raw.replace(/^\[\d+,\d+\]<std(out|err)>: /, '')
    if (!line.startsWith('{')) continue
    try {
      out.push(JSON.parse(line))
    } catch {}
  }
  return out
}

/** Pids of live (non-zombie) processes whose command line contains `mark`. */
export function leftovers(mark: string): number[] {
  let ps = ''
  try {
    ps = execFileSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' })
  } catch {
    return []
  }
  return ps
    .split('\n')
    .filter((l) => l.includes(mark) && !/^\s*\d+\s+Z/.test(l))
    .map((l) => Number(l.trim().split(/\s+/)[0]))
    .filter((pid) => pid !== process.pid)
}

/** Waits up to `ms` for every process carrying `mark` to be gone; returns the ones still alive. */
export async function leftoversAfter(mark: string, ms = 3000): Promise<number[]> {
  const end = Date.now() + ms
  let left = leftovers(mark)
  while (left.length > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100))
    left = leftovers(mark)
  }
  return left
}

function killMarked(mark: string): void {
  for (const pid of leftovers(mark)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
}

/** TCP ports that process `pid` listens on (from `ss`). */
export function tcpPorts(pid: number): number[] {
  const out = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' })
  return out
    .split('\n')
    .filter((l) => l.includes(`pid=${pid},`))
    .map((l) => Number(/:(\d+)\s/.exec(l)![1]))
}

/** Lines of chatty.ts (`<rank>:…:<rank>`) that are torn or mixed: what a line of one rank with another's inside looks like. */
export function tornLines(lines: string[]): string[] {
  return lines.filter((l) => {
    const parts = l.split(':')
    return !(parts[0] === parts[parts.length - 1] || l.endsWith(':no-newline-at-end'))
  })
}
