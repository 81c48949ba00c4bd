/**
 * Forwards a rank's stdout or stderr line by line, so that two ranks' bytes never share a line, optionally
 * prefixed Open MPI style: `[1,3]<stdout>:` (job 1, rank 3).
 */
import type { Readable, Writable } from 'node:stream'

/**
 * Output streams whose last forwarded bytes did not end their line (a progress bar between redraws), so that
 * tsrun ends that line before it prints one of its own.
 */
const openLines = new WeakSet<Writable>()
/** Output streams whose reader has gone (`tsrun ... | head`): the job goes on, and what it prints is dropped. */
const closed = new WeakSet<Writable>()
const guarded = new WeakSet<Writable>()

/** From now on, a closed pipe on `out` drops the ranks' output instead of ending tsrun with an EPIPE. */
function guard(out: Writable): void {
  if (guarded.has(out)) return
  guarded.add(out)
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err
    closed.add(out)
  })
}

/** Ends a progress bar's line on `out`, if one is open, before tsrun writes there. */
export function endOpenLine(out: Writable = process.stderr): void {
  if (!openLines.delete(out)) return
  out.write('\n')
}

export class LineForwarder {
  private readonly prefix: string
  private readonly out: Writable
  private partial = ''

  constructor(out: Writable, prefix: string) {
    this.out = out
    this.prefix = prefix
    guard(out)
  }

  /**
   * Writes every complete line of `chunk`; keeps the rest for the next chunk. A carriage return also ends a
   * line (a progress bar redrawing itself): what came before it is written, the redraw waits for its own end.
   */
  push(chunk: string): void {
    if (closed.has(this.out)) return
    const text = this.partial + chunk
    const nl = text.lastIndexOf('\n')
    const cr = text.lastIndexOf('\r')
    const cut = Math.max(cr, nl + 1)
    if (cut === 0) {
      this.partial = text
      return
    }
    this.partial = text.slice(cut)
    const lines = text.slice(0, cut)
    this.out.write(this.prefix ? lines.replace(/^(?=.)/gm, this.prefix).replace(/^(?=\n)/gm, this.prefix) : lines)
    if (lines.endsWith('\n')) openLines.delete(this.out)
    else openLines.add(this.out)
  }

  /** Writes what is left as a last line. */
  flush(): void {
    if (this.partial && !closed.has(this.out)) {
      this.out.write(this.prefix + this.partial + '\n')
      this.partial = ''
      openLines.delete(this.out)
    }
  }
}

/** Pipes `stream` through a LineForwarder; resolves when the stream ends. */
export function forwardLines(stream: Readable, out: Writable, prefix: string, onLine?: (line: string) => void): Promise<void> {
  const f = new LineForwarder(out, prefix)
  stream.setEncoding('utf8')
  let partial = ''
  stream.on('data', (chunk: string) => {
    f.push(chunk)
    if (!onLine) return
    const lines = (partial + chunk).split('\n')
    partial = lines.pop()!
    for (const l of lines) onLine(l)
  })
  return new Promise((resolve) => {
    const done = () => {
      f.flush()
      resolve()
    }
    stream.once('end', done)
    stream.once('error', done)
  })
}

/** Open MPI's tag: job 1, then the rank. */
export function tagFor(rank: number, stream: 'stdout' | 'stderr'): string {
  return `[1,${rank}]<${stream}>:`
}
