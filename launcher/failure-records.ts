/**
 * The launcher's side of failure records (src/failure/format.ts): it collects what the ranks recorded, from the
 * job directory's `failures/` (ranks of this host, and of hosts that share its disk) and from the record lines in
 * the ranks' stderr (ranks over ssh, srun tasks), which it takes out of the output the user sees.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough, type Readable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import { parseRecordText, RECORD_FILE, RECORD_LINE_PREFIX, RECORDS_SUBDIR, type FailureRecord } from '../src/failure/format.ts'

/** The records of one job attempt, by rank and number (a record that came both ways counts once). */
export class FailureRecords {
  private readonly byKey = new Map<string, FailureRecord>()
  private readonly dir: string | undefined
  private readonly readFiles = new Set<string>()

  /** `jobDir`: the job's private directory, whose `failures/` the ranks of this host write to. */
  constructor(jobDir?: string) {
    this.dir = jobDir === undefined ? undefined : join(jobDir, RECORDS_SUBDIR)
  }

  add(rec: FailureRecord): void {
    const key = `${rec.rank}/${rec.n}`
    if (!this.byKey.has(key)) this.byKey.set(key, rec)
  }

  /** Every record known now (the directory is read again; a record file, once there, is whole), earliest first. */
  all(): FailureRecord[] {
    if (this.dir) {
      let names: string[] = []
      try {
        names = readdirSync(this.dir)
      } catch {
        // no failures/ yet: no rank recorded anything
      }
      for (const name of names) {
        if (!RECORD_FILE.test(name) || this.readFiles.has(name)) continue
        let text: string
        try {
          text = readFileSync(join(this.dir, name), 'utf8')
        } catch {
          continue
        }
        this.readFiles.add(name)
        const rec = parseRecordText(text)
        if (rec) this.add(rec)
      }
    }
    return [...this.byKey.values()].sort((a, b) => a.at.ms - b.at.ms || a.rank - b.rank || a.n - b.n)
  }
}

/**
 * `stream` without its record lines: each one, if it parses, goes to `onRecord`; what came before the record on
 * the same line (a progress bar that had not ended its line) goes on. Text passes at once, except from a record
 * separator (\x1e) to the end of its line, which waits for that end.
 */
export function withoutRecords(stream: Readable, onRecord: (rec: FailureRecord) => void): Readable {
  const out = new PassThrough()
  const decoder = new StringDecoder('utf8')
  let held = ''
  const mark = RECORD_LINE_PREFIX[0]!
  const take = (text: string, final: boolean) => {
    let s = held + text
    held = ''
    let pass = ''
    for (;;) {
      const i = s.indexOf(mark)
      if (i < 0) {
        pass += s
        break
      }
      pass += s.slice(0, i)
      const nl = s.indexOf('\n', i)
      if (nl < 0) {
        if (final) pass += s.slice(i)
        else held = s.slice(i)
        break
      }
      const line = s.slice(i, nl)
      const rec = line.startsWith(RECORD_LINE_PREFIX) ? parseRecordText(line.slice(RECORD_LINE_PREFIX.length)) : undefined
      if (rec) onRecord(rec)
      else pass += s.slice(i, nl + 1)
      s = s.slice(nl + 1)
    }
    if (pass) out.write(pass)
  }
  stream.on('data', (chunk: Buffer | string) => take(typeof chunk === 'string' ? chunk : decoder.write(chunk), false))
  stream.once('end', () => {
    take(decoder.end(), true)
    out.end()
  })
  stream.once('error', (err) => out.destroy(err))
  stream.once('close', () => out.writableEnded || out.end())
  return out
}
