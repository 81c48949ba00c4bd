// Loaded into every rank with `node --import`, before the user's script (plain JS: it runs before any
// TypeScript loader matters). If the launcher dies without stopping us (kill -9, OOM killer), or for a rank
// started over ssh the connection drops, our parent changes; then we kill our own process group (this rank
// and anything it started) so no rank is orphaned.
import { rmSync } from 'node:fs'
import { isLoadError, reportLoadError } from './load-error.mjs'

// Writes to a pipe are asynchronous in Node, so a rank that calls process.exit() right after printing could
// lose its last lines. Ranks write to the launcher through pipes: make them blocking, as a terminal would be.
for (const stream of [process.stdout, process.stderr]) stream._handle?.setBlocking?.(true)

const launcherPid = Number(process.env.TSRUN_LAUNCHER_PID)
const parent = process.ppid
if ((launcherPid > 0 && parent === launcherPid) || process.env.TSRUN_WATCH_PARENT === '1') {
  const timer = setInterval(() => {
    if (process.ppid === parent) return
    try {
      for (const dir of [process.env.TSRUN_JOB_DIR, process.env.TSRUN_SHM_DIR]) if (dir) rmSync(dir, { recursive: true, force: true })
    } finally {
      try {
        process.kill(-process.pid, 'SIGKILL')
      } catch {
        process.exit(137)
      }
    }
  }, 250)
  timer.unref()
}

// An uncaught tsrun error (bad input, a lost peer, a timeout) already says what went wrong and what to do:
// print that one line instead of a stack trace from deep inside. Anything else keeps its stack, as Node
// would print it, and the same exit code (1).
process.on('uncaughtException', (err) => {
  const rank = process.env.TSRUN_RANK ?? process.env.SLURM_PROCID ?? '?'
  if (isLoadError(err)) return void reportLoadError(err)
  if (err && typeof err.code === 'string' && err.code.startsWith('TSRUN_')) {
    process.stderr.write(`tsrun: rank ${rank}: ${err.name}: ${err.message}\n`)
  } else {
    process.stderr.write(`${err?.stack ?? String(err)}\n`)
  }
  process.exit(1)
})
