// Loaded into every rank with `node --import`, before the user's script (plain JS: it runs before any
// TypeScript loader matters). If the launcher dies without stopping us (kill -9, OOM killer), our parent
// changes; then we kill our own process group (this rank and anything it started) so no rank is orphaned.
import { rmSync } from 'node:fs'

const launcherPid = Number(process.env.TSRUN_LAUNCHER_PID)
if (launcherPid > 0 && process.ppid === launcherPid) {
  const timer = setInterval(() => {
    if (process.ppid === launcherPid) return
    try {
      if (process.env.TSRUN_JOB_DIR) rmSync(process.env.TSRUN_JOB_DIR, { recursive: true, force: true })
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
