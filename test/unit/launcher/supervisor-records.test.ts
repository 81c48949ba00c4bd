// The supervisor's decisions, fed synthetic ranks: each ends when the test says (or when the supervisor kills it),
// after writing the failure records the test gives it, to the job directory or as a line on its stderr.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, type Readable } from 'node:stream'
import { afterEach, expect, test } from 'vitest'
import { withoutRecords } from '../../../launcher/failure-records.ts'
import type { RankExit, RankProcess } from '../../../launcher/spawn-local.ts'
import { supervise } from '../../../launcher/supervisor.ts'
import { RECORD_LINE_PREFIX, RECORDS_SUBDIR, recordFileName, type FailureKind, type FailureRecord } from '../../../src/failure/format.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
function jobDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tsrun-sup-test-'))
  dirs.push(d)
  return d
}

const ref = (rank: number) => ({ rank, pid: 4000 + rank, host: `node${rank + 1}` })
const counts = new Map<number, number>()
function rec(rank: number, kind: FailureKind, extra: Partial<FailureRecord> = {}): FailureRecord {
  const n = counts.get(rank) ?? 0
  counts.set(rank, n + 1)
  return { v: 1, kind, ...ref(rank), n, at: { ms: Date.now(), time: '14:02:21' }, ...extra }
}
const lostRec = (by: number, whom: number, silent = false) =>
  rec(by, silent ? 'peer-silent' : 'peer-lost', { lost: ref(whom), ...(silent ? { lastHeard: { ms: 0, time: '14:02:11' } } : {}) })

interface Fake extends RankProcess {
  /** Writes `records` (to `dir`, or as stderr lines), then ends the rank. */
  end(code: number | null, signal?: NodeJS.Signals | null, records?: FailureRecord[], dir?: string): void
}

function fakeRank(rank: number): Fake {
  let exited: (e: RankExit) => void = () => {}
  const exit = new Promise<RankExit>((r) => {
    exited = r
  })
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let alive = true
  const fake: Fake = {
    slot: { rank, host: `node${rank + 1}`, nodeRank: rank, localRank: 0, localSize: 1 },
    exit,
    pid: 900 + rank,
    stdout,
    stderr,
    kill(signal) {
      setTimeout(() => fake.end(null, signal), 5)
    },
    end(code, signal = null, records = [], dir) {
      if (!alive) return
      alive = false
      for (const r of records) {
        if (dir) {
          const d = join(dir, RECORDS_SUBDIR)
          mkdirSync(d, { recursive: true })
          writeFileSync(join(d, '.tmp'), JSON.stringify(r))
          renameSync(join(d, '.tmp'), join(d, recordFileName(r.rank, r.n)))
        } else stderr.write(`${RECORD_LINE_PREFIX}${JSON.stringify(r)}\n`)
      }
      stdout.end()
      stderr.end()
      // The exit is seen after the output, as a pipe's last bytes may come after the exit: a tick later.
      setImmediate(() => exited({ code, signal }))
    },
  }
  return fake
}

async function run(n: number, script: (ranks: Fake[], dir: string) => void, opts: { single?: boolean; withDir?: boolean } = {}) {
  const dir = jobDir()
  const ranks = Array.from({ length: n }, (_, i) => fakeRank(i))
  const lines: string[] = []
  const started = Date.now()
  const done = supervise(ranks, { tagOutput: false, single: opts.single, jobDir: opts.withDir === false ? undefined : dir, log: (l) => lines.push(l) })
  script(ranks, dir)
  const code = await done
  return { code, lines, ms: Date.now() - started }
}

test('a survivor catches the error and exits 1 while the lost rank is not seen to end: the lost rank, from the records', async () => {
  const r = await run(3, ([r0, r1], dir) => {
    setTimeout(() => r0!.end(1, null, [lostRec(0, 2)], dir), 20)
    setTimeout(() => r1!.end(1, null, [lostRec(1, 2)], dir), 25)
  })
  expect(r.lines).toEqual([
    'rank 2 (pid 4002, host node3) ended before it called finalize() (its connection closed); ranks 0 and 1 lost it; stopped the other 1 rank',
  ])
  expect(r.code).toBe(1)
})

test("a follower exits first, the lost rank's end comes soon after: that end names it, with its exit code", async () => {
  const r = await run(3, ([r0, , r2], dir) => {
    setTimeout(() => r0!.end(1, null, [lostRec(0, 2)], dir), 20)
    setTimeout(() => r2!.end(null, 'SIGKILL'), 400)
  })
  expect(r.lines).toEqual(['rank 2 (pid 902, host node3) was killed by SIGKILL; rank 0 lost it; stopped the other 1 rank'])
  expect(r.code).toBe(137)
})

test('two ranks lose the same silent one (records on stderr, as from other hosts): named once, then both', async () => {
  const r = await run(
    3,
    ([r0, , r2]) => {
      setTimeout(() => r2!.end(1, null, [lostRec(2, 1, true)]), 20)
      setTimeout(() => r0!.end(1, null, [lostRec(0, 1, true)]), 30)
    },
    { withDir: false },
  )
  expect(r.lines).toEqual([
    'rank 1 (pid 4001, host node2) stopped answering at about 14:02:11 (host down or network cut); ranks 0 and 2 lost it; stopped the other 1 rank',
  ])
  expect(r.code).toBe(1)
})

test('a rank killed by a signal: named by its signal, at once, though the others record losing it later', async () => {
  const r = await run(3, ([r0, r1, r2], dir) => {
    setTimeout(() => r2!.end(null, 'SIGKILL'), 20)
    setTimeout(() => {
      r0!.end(1, null, [lostRec(0, 2)], dir)
      r1!.end(1, null, [lostRec(1, 2)], dir)
    }, 100)
  })
  expect(r.lines).toEqual([
    expect.stringMatching(/^rank 2 \(pid 902, host node3\) was killed by SIGKILL; (stopped the other [12] ranks?|no other rank was running)$/),
  ])
  expect(r.code).toBe(137)
  expect(r.ms).toBeLessThan(1000)
})

test('no records at all: the first rank that failed, by its exit code', async () => {
  const r = await run(3, ([, r1]) => setTimeout(() => r1!.end(3), 20))
  expect(r.lines).toEqual(['rank 1 (pid 901, host node2) exited with code 3; stopped the other 2 ranks'])
  expect(r.code).toBe(3)
})

test('one rank under srun that lost another: the lost rank first, without waiting for an end it cannot see', async () => {
  const r = await run(1, ([r0]) => setTimeout(() => r0!.end(1, null, [lostRec(0, 1, true)]), 20), { single: true, withDir: false })
  expect(r.lines).toEqual(['rank 1 (pid 4001, host node2) stopped answering at about 14:02:11 (host down or network cut); rank 0 lost it'])
  expect(r.ms).toBeLessThan(900)
})

test("a record line from another rank's stream is not taken for that rank's", async () => {
  const r = await run(2, ([r0]) => setTimeout(() => r0!.end(1, null, [{ ...lostRec(1, 0) }]), 20), { withDir: false })
  expect(r.lines).toEqual(['rank 0 (pid 900, host node1) exited with code 1; stopped the other 1 rank'])
})

async function filtered(chunks: string[]): Promise<{ text: string; records: FailureRecord[] }> {
  const src = new PassThrough()
  const records: FailureRecord[] = []
  const out: Readable = withoutRecords(src, (r) => records.push(r))
  let text = ''
  out.setEncoding('utf8').on('data', (d: string) => (text += d))
  const ended = new Promise((r) => out.once('end', r))
  for (const c of chunks) src.write(c)
  src.end()
  await ended
  return { text, records }
}

test("record lines are taken out of a rank's stderr, whole or in pieces; everything else passes as it was", async () => {
  const r = lostRec(3, 1)
  const line = `${RECORD_LINE_PREFIX}${JSON.stringify(r)}\n`
  const a = await filtered(['before\n', line.slice(0, 10), line.slice(10, 40), line.slice(40), 'after\n'])
  expect(a.text).toBe('before\nafter\n')
  expect(a.records).toEqual([r])
  // A progress bar that had not ended its line keeps its text; a separator that starts no record passes.
  const b = await filtered([`50%${line}`, 'odd \u001e text\n', 'tail'])
  expect(b.text).toBe('50%odd \u001e text\ntail')
  expect(b.records).toHaveLength(1)
  // A record line whose JSON is not a record passes (it is not ours to drop).
  const c = await filtered([`${RECORD_LINE_PREFIX}{"v":1}\n`])
  expect(c.text).toBe(`${RECORD_LINE_PREFIX}{"v":1}\n`)
})
