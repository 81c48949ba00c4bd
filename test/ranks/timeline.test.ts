// The timeline, straggler report and end-of-job summary on real ranks (issue #15).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, test } from 'vitest'
import type { ChromeTrace } from '../../src/trace-offline/merge.ts'
import type { JobReport } from '../../src/trace-offline/report.ts'
import { leftoversAfter, ROOT, runRanks } from '../helpers/run-ranks.ts'

const dir = mkdtempSync(join(tmpdir(), 'tsrun-timeline-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

type Ev = { ph: string; name: string; pid: number; tid: number; ts: number; dur: number; cat?: string; args?: Record<string, unknown> }
/** The trace file as these tests read it: the events with their times (tsrun writes ts and dur on every span). */
type Trace = Omit<ChromeTrace, 'traceEvents'> & { traceEvents: Ev[] }

/** Every two spans on one track are either apart or one inside the other; events are in time order per track. */
function checkNesting(events: Ev[]): void {
  const byTrack = new Map<string, Ev[]>()
  for (const e of events.filter((x) => x.ph === 'X')) byTrack.set(`${e.pid}/${e.tid}`, [...(byTrack.get(`${e.pid}/${e.tid}`) ?? []), e])
  for (const [track, evs] of byTrack) {
    const sorted = [...evs].sort((a, b) => a.ts - b.ts || b.dur - a.dur)
    const open: Ev[] = []
    for (const e of sorted) {
      while (open.length && open[open.length - 1]!.ts + open[open.length - 1]!.dur <= e.ts) open.pop()
      const parent = open[open.length - 1]
      if (parent) expect(e.ts + e.dur, `${track}: ${e.name} at ${e.ts} must end inside ${parent.name}`).toBeLessThanOrEqual(parent.ts + parent.dur + 0.002)
      open.push(e)
    }
  }
}

test('--timeline, --report and --report-json on 3 ranks: a valid Chrome trace, one track per rank, nested phases, the delayed rank named first', async () => {
  const trace = join(dir, 'job.json')
  const reportJson = join(dir, 'report.json')
  const run = await runRanks(3, 'timeline-job.ts', { flags: ['--timeline', trace, '--report', '--report-json', reportJson], timeoutMs: 60_000 })
  expect(run.exitCode, run.stderr).toBe(0)
  expect(run.cases.filter((c) => c.done).map((c) => c.enabled)).toEqual([true, true, true])

  const t = JSON.parse(readFileSync(trace, 'utf8')) as Trace
  const events: Ev[] = t.traceEvents
  expect(t.displayTimeUnit).toBe('ms')
  for (const e of events.filter((x) => x.ph === 'X')) {
    expect(typeof e.name).toBe('string')
    expect(e.ts).toBeGreaterThanOrEqual(0)
    expect(e.dur).toBeGreaterThanOrEqual(0)
  }
  // One process (this host), one named track per rank.
  const tracks = events.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => [e.tid, e.args?.name])
  expect(tracks).toEqual([
    [0, 'rank 0'],
    [1, 'rank 1'],
    [2, 'rank 2'],
  ])
  expect(events.filter((e) => e.ph === 'M' && e.name === 'process_name')).toHaveLength(1)
  // 6 allreduces and 6 barriers per rank, each numbered on the world, with bytes and algorithm.
  for (const r of [0, 1, 2]) {
    const colls = events.filter((e) => e.cat === 'collective' && e.tid === r)
    expect(colls.map((e) => e.name)).toEqual(Array(6).fill(['allreduce', 'barrier']).flat())
    expect(colls.map((e) => e.args?.seq)).toEqual([...Array(12).keys()].map((i) => i + 1))
    expect(colls[0]!.args).toMatchObject({ comm: 'world', bytes: 1 << 18, algorithm: expect.any(String) })
    expect(events.filter((e) => e.cat === 'user' && e.tid === r && e.name === 'compute')).toHaveLength(6)
  }
  // Ranks 0 and 1 wait for rank 2 at every allreduce: a "waiting for peers" phase of about the delay, inside it.
  const waits = events.filter((e) => e.cat === 'wait' && e.tid === 0)
  expect(waits.length).toBeGreaterThanOrEqual(6)
  expect(Math.max(...waits.map((w) => w.dur))).toBeGreaterThan(20_000)
  checkNesting(events)
  // The 256 KiB message from rank 0 to rank 1 has a span on both sides.
  expect(events.filter((e) => e.cat === 'p2p').map((e) => [e.tid, e.name, e.args?.bytes])).toEqual(
    expect.arrayContaining([
      [0, 'send → 1', 1 << 18],
      [1, 'recv ← 0', 1 << 18],
    ]),
  )
  expect(existsSync(`${trace}.parts`)).toBe(false)

  // The report: rank 2 arrived last at (nearly) every collective, and the others' wait is on its account.
  expect(run.stderr).toMatch(/tsrun report: 3 ranks on 1 host/)
  expect(run.stderr).toMatch(/stragglers on world \(12 collectives\): rank 2 last in (1[0-2]|[6-9]) /)
  const report = JSON.parse(readFileSync(reportJson, 'utf8')) as JobReport
  expect(report.stragglers[0].comm).toBe('world')
  expect(report.stragglers[0].ranks[0].rank).toBe(2)
  expect(report.stragglers[0].ranks[0].othersWaitedMs).toBeGreaterThan(6 * 2 * 20)
  expect(report.ranks.map((r) => r.rank)).toEqual([0, 1, 2])
  for (const r of report.ranks) {
    expect(r.complete).toBe(true)
    expect(r.inCollectivesMs).toBeGreaterThan(0)
    expect(r.sentBytes).toBeGreaterThan(6 * (1 << 18))
  }
  expect(report.algorithms.map((a) => a.op).sort()).toEqual(['allreduce', 'barrier'])
  expect(report.slowest.map((s) => s.op).sort()).toEqual(['allreduce', 'barrier'])

  // A picture without a browser.
  const svg = join(dir, 'job.svg')
  execFileSync(process.execPath, [join(ROOT, 'launcher', 'trace-bin.mjs'), trace, '--svg', svg], { stdio: 'pipe' })
  const text = readFileSync(svg, 'utf8')
  expect(text).toMatch(/^<svg /)
  // The same through `tsrun trace`, which npx finds in a checkout too.
  const viaTsrun = execFileSync(process.execPath, [join(ROOT, 'launcher', 'bin.mjs'), 'trace', trace, '--report'], { encoding: 'utf8' })
  expect(viaTsrun).toMatch(/stragglers on world \(12 collectives\): rank 2 last in/)
  for (const label of ['rank 0', 'rank 1', 'rank 2', 'url(#wait)', 'allreduce', 'compute']) expect(text).toContain(label)
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('a rank killed mid-run leaves a readable partial trace: its events until shortly before, marked incomplete', async () => {
  const trace = join(dir, 'killed.json')
  const run = await runRanks(3, 'timeline-job.ts', { flags: ['--timeline', trace], env: { KILL_RANK: '1', KILL_AT: '3', DELAY_MS: '5' }, timeoutMs: 60_000 })
  expect(run.exitCode).not.toBe(0)
  expect(run.stderr).toMatch(/rank 1 .* killed by SIGKILL/)
  const t = JSON.parse(readFileSync(trace, 'utf8')) as Trace
  const rank1 = t.otherData.tsrun.ranks.find((r) => r.rank === 1)
  expect(rank1?.complete).toBe(false)
  const colls = t.traceEvents.filter((e: Ev) => e.cat === 'collective' && e.tid === 1)
  expect(colls.length).toBeGreaterThanOrEqual(6) // the rounds before the kill: 3 allreduces and 3 barriers
  checkNesting(t.traceEvents)
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('TSRUN_TIMELINE alone (a job under srun): rank 0 merges the files in finalize()', async () => {
  const trace = join(dir, 'env.json')
  const run = await runRanks(2, 'timeline-job.ts', { env: { TSRUN_TIMELINE: trace, STEPS: '2' }, timeoutMs: 60_000 })
  expect(run.exitCode, run.stderr).toBe(0)
  const t = JSON.parse(readFileSync(trace, 'utf8')) as Trace
  expect(t.otherData.tsrun.ranks.map((r) => r.complete)).toEqual([true, true])
  expect(existsSync(`${trace}.parts`)).toBe(false)
})

test('without a timeline nothing is recorded or written', async () => {
  const run = await runRanks(2, 'timeline-job.ts', { env: { STEPS: '1' }, timeoutMs: 60_000 })
  expect(run.exitCode).toBe(0)
  expect(run.cases.filter((c) => c.done).map((c) => c.enabled)).toEqual([false, false])
  expect(run.stderr).toBe('')
})
