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
