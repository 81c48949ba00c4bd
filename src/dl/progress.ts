/**
 * A progress bar for rank 0: steps, samples per second and the running loss. On a terminal it redraws one
 * line (tsrun forwards `\r` updates and tells ranks with TSRUN_TTY=1 that its own output is a terminal);
 * in a log file (a batch job's output) it prints a plain line every 10 % instead.
 */
import { setting } from '../settings.ts'

/** What the bar shows after each step. */
export interface ProgressState {
  step: number
  samples: number
  values: Record<string, number>
}

const WIDTH = 24

/**
 * @example
 * ```ts
 * const bar = new ProgressBar('epoch 1/5', steps, world.rank === 0)
 * bar.update({ step, samples, values: { loss } })
 * bar.done({ step, samples, values: {} }, 'val_acc 0.95')
 * ```
 */
export class ProgressBar {
  private readonly out: NodeJS.WritableStream
  private readonly enabled: boolean
  private readonly live: boolean
  private readonly title: string
  private readonly total: number
  private readonly start = performance.now()
  private lastDraw = 0
  private lastTenth = -1

  /** `total` steps; `enabled` false makes every call a no-op (other ranks, or `verbose: 0`). */
  constructor(title: string, total: number, enabled = true, out: NodeJS.WritableStream = process.stderr) {
    this.enabled = enabled
    this.title = title
    this.total = Math.max(1, total)
    this.out = out
    this.live = (out as NodeJS.WriteStream).isTTY === true || setting('TSRUN_TTY')
  }

  update(state: ProgressState): void {
    if (!this.enabled) return
    const now = performance.now()
    if (this.live) {
      if (now - this.lastDraw < 100 && state.step < this.total) return
      this.lastDraw = now
      this.out.write(`\r${this.line(state, now)}\x1b[K`)
    } else {
      const tenth = Math.floor((10 * state.step) / this.total)
      if (tenth === this.lastTenth || state.step >= this.total) return // the last line is done()'s
      this.lastTenth = tenth
      this.out.write(`${this.line(state, now)}\n`)
    }
  }

  /** Ends the bar's line, adding `summary` (e.g. validation accuracy). */
  done(state: ProgressState, summary = ''): void {
    if (!this.enabled) return
    const text = summary ? `${this.head(state)}  ${summary}` : this.line(state, performance.now())
    this.out.write(this.live ? `\r${text}\x1b[K\n` : `${text}\n`)
  }

  private head(state: ProgressState): string {
    const filled = Math.round(Math.min(1, state.step / this.total) * WIDTH)
    return `${this.title} [${'='.repeat(filled)}${' '.repeat(WIDTH - filled)}] ${state.step}/${this.total}`
  }

  private line(state: ProgressState, now: number): string {
    const secs = (now - this.start) / 1000
    const rate = secs > 0 ? state.samples / secs : 0
    const vals = Object.entries(state.values)
      .map(([k, v]) => `${k} ${v.toFixed(4)}`)
      .join('  ')
    return `${this.head(state)}  ${Math.round(rate)} samples/s  ${vals}`
  }
}
