import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { readParts, toChromeTrace } from '../../../src/trace-offline/merge.ts'
import type { TraceEvent } from '../../../src/trace/recorder.ts'
import { formatReport, jobReport } from '../../../src/trace-offline/report.ts'

const meta = (rank: number, offsetUs = 0): TraceEvent => ({ t: 'meta', rank, size: 2, host: `h${rank}`, node: rank, pid: 100 + rank, offsetUs, rttUs: 10 })
const coll = (seq: number, s: number, e: number, w?: number): TraceEvent => ({
  t: 'c',
  comm: 'world',
  seq,
  op: 'allreduce',
  bytes: 4096,
  algo: 'ring',
  s,
  e,
  w,
  r: 5,
})

test("clock offsets put both ranks on rank 0's clock; the wait phase ends when the last rank arrived", () => {
  // Rank 1's clock is 1000 µs behind: its offset is +1000. It arrives at 1000 + 1500 = 2500 (rank 0 at 1000).
  const trace = toChromeTrace(
    new Map([
      [0, [meta(0), coll(1, 1000, 3000)]],
      [1, [meta(1, 1000), coll(1, 1500, 2000)]],
    ]),
  )
  const x = trace.traceEvents.filter((e) => e.ph === 'X')
  expect(x.filter((e) => e.cat === 'collective').map((e) => [e.tid, e.ts, e.dur])).toEqual([
    [0, 0, 2000],
    [1, 1500, 500],
  ])
  // Rank 0 waited from 0 to 1500 (rank 1's arrival), then moved bytes; rank 1 waited for nobody.
  expect(x.filter((e) => e.cat === 'wait').map((e) => [e.tid, e.ts, e.dur])).toEqual([[0, 0, 1500]])
  expect(x.filter((e) => e.cat === 'transfer').map((e) => [e.tid, e.ts, e.dur])).toEqual([
    [0, 1500, 500],
    [1, 1500, 500],
  ])
  const r = jobReport(trace)
  expect(r.stragglers).toEqual([
    {
      comm: 'world',
      collectives: 1,
      ranks: [{ rank: 1, last: 1, othersWaitedMs: 1.5 }],
      skewHistogram: { '<10µs': 0, '<100µs': 0, '<1ms': 0, '<10ms': 1, '<100ms': 0, '≥100ms': 0 },
    },
  ])
  expect(r.clock).toEqual([
    { rank: 0, offsetUs: 0, rttUs: 10 },
    { rank: 1, offsetUs: 1000, rttUs: 10 },
  ])
  expect(formatReport(r)).toMatch(/stragglers on world \(1 collectives\): rank 1 last in 1 \(others waited 1.5 ms\)/)
})

test('overlapping collectives of one rank go to a second track; nested spans stay on the first', () => {
  const trace = toChromeTrace(
    new Map([
      [
        0,
        [
          meta(0),
          { t: 's', name: 'bucket 0', cat: 'dl', s: 0, e: 100 } as TraceEvent,
          coll(1, 10, 90), // inside the bucket span: same track
          coll(2, 50, 200), // overlaps the first collective without nesting: a track of its own
        ],
      ],
    ]),
  )
  const x = trace.traceEvents.filter((e) => e.ph === 'X' && e.cat !== 'wait' && e.cat !== 'transfer')
  expect(x.map((e) => [e.name, e.tid])).toEqual([
    ['bucket 0', 0],
    ['allreduce', 0],
    ['allreduce', 10000],
  ])
  expect(trace.traceEvents.filter((e) => e.name === 'thread_name').map((e) => e.args!.name)).toEqual(['rank 0', 'rank 0 (2)'])
  // Time in collectives is their union: 10..200.
  expect(jobReport(trace).ranks[0]!.inCollectivesMs).toBe(0.19)
})

test('a file cut short mid-line is read up to its last whole line, and a rank without totals is incomplete', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-parts-'))
  try {
    writeFileSync(join(dir, 'rank-0.jsonl'), [meta(0), coll(1, 0, 10)].map((e) => JSON.stringify(e)).join('\n') + '\n{"t":"c","comm":"wor')
    writeFileSync(join(dir, 'other.txt'), 'ignored')
    const parts = readParts(dir)
    expect([...parts.keys()]).toEqual([0])
    expect(parts.get(0)).toHaveLength(2)
    expect(toChromeTrace(parts).otherData.tsrun.ranks[0]!.complete).toBe(false)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test("an elastic job's files are per member: a track each in slot order, collectives told apart by generation", () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-parts-'))
  const member = (id: string, rank: number, host: string): TraceEvent => ({
    t: 'meta',
    rank,
    size: 2,
    host,
    node: 0,
    pid: 1,
    offsetUs: 0,
    rttUs: 1,
    member: id,
  })
  const gen = (g: number, rank: number, size: number, s: number): TraceEvent => ({ t: 'g', gen: g, rank, size, node: 0, s })
  const call = (g: number, seq: number, s: number, e: number): TraceEvent => ({ ...(coll(seq, s, e) as Extract<TraceEvent, { t: 'c' }>), g })
  const files: Record<string, TraceEvent[]> = {
    // Generation 0: s0.0 and s1.0, both call world #1; s1.0 is lost; generation 1: s0.0 and its replacement s1.1.
    'member-s0.0.jsonl': [member('s0.0', 0, 'a'), gen(0, 0, 2, 0), call(0, 1, 10, 100), gen(1, 0, 2, 200), call(1, 1, 300, 400)],
    'member-s1.0.jsonl': [member('s1.0', 1, 'b'), gen(0, 1, 2, 0), call(0, 1, 60, 100)],
    'member-s1.1.jsonl': [member('s1.1', 1, 'b'), gen(1, 1, 2, 250), call(1, 1, 350, 400)],
    'member-s10.0.jsonl': [member('s10.0', 1, 'c')],
  }
  try {
    for (const [f, events] of Object.entries(files)) writeFileSync(join(dir, f), events.map((e) => JSON.stringify(e)).join('\n') + '\n')
    const parts = readParts(dir)
    const trace = toChromeTrace(parts)
    const info = trace.otherData.tsrun.ranks
    // Slot order (s10 after s1), numbered 0..3; each member's rank per generation.
    expect(info.map((r) => [r.rank, r.member])).toEqual([
      [0, 's0.0'],
      [1, 's1.0'],
      [2, 's1.1'],
      [3, 's10.0'],
    ])
    expect(info[0]!.generations).toEqual([
      { gen: 0, rank: 0, size: 2 },
      { gen: 1, rank: 0, size: 2 },
    ])
    const names = trace.traceEvents.filter((e) => e.name === 'thread_name').map((e) => [e.pid, e.args!.name])
    expect(names).toEqual([
      [0, 'member s0.0'],
      [1, 'member s1.0'],
      [1, 'member s1.1'],
      [2, 'member s10.0'],
    ])
    // world #1 of generation 0 and world #1 of generation 1 are different calls: each waits for its own last arrival.
    const waits = trace.traceEvents.filter((e) => e.cat === 'wait').map((e) => [e.tid, e.ts, e.dur])
    expect(waits).toEqual([
      [0, 10, 50],
      [0, 300, 50],
    ])
    const colls = trace.traceEvents.filter((e) => e.cat === 'collective').map((e) => [e.tid, e.args!.generation, e.args!.rank])
    expect(colls).toEqual([
      [0, 0, 0],
      [0, 1, 0],
      [1, 0, 1],
      [2, 1, 1],
    ])
    const report = jobReport(trace)
    expect(report.stragglers[0]!.collectives).toBe(2)
    expect(report.stragglers[0]!.ranks.map((x) => [x.member, x.last])).toEqual([
      ['s1.0', 1],
      ['s1.1', 1],
    ])
    const text = formatReport(report)
    expect(text).toMatch(/^tsrun report: 4 members \(processes of an elastic job\) on 3 hosts/)
    expect(text).toMatch(/\n {2}s1\.1 {2}b /)
    expect(text).toMatch(/stragglers on world \(2 collectives\): member s1\.0 last in 1/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
