/**
 * Merges the ranks' timeline files into one Chrome trace-event file (chrome://tracing, Perfetto): a process
 * per host, a track per rank, times on rank 0's clock (each rank's measured offset added), starting at 0.
 * A collective is a span with its phases nested inside: "waiting for peers" until the last rank of its
 * communicator called it (from every rank's start time; if a rank's file lacks it, until the first message of
 * it from a peer arrived), then "transfer" (bytes moving and being reduced; the reduction time is in its args).
 * Collectives that overlap on one rank (gradient buckets in flight together) go to extra tracks of that rank,
 * so that spans on a track always nest. Files cut short by a crash are read up to their last whole line.
 *
 * An elastic job's files are per member (`member-s2.0.jsonl`: slot 2's first process), whose rank changes from
 * one generation to the next: a track per member, in slot order, a process per host name, and collectives told
 * apart by generation (each generation's communicators count their calls from 0 again).
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TraceEvent } from '../trace/recorder.ts'

/** One event of the Chrome trace-event format (the subset tsrun writes). */
export interface ChromeEvent {
  ph: 'X' | 'M'
  name: string
  pid: number
  tid: number
  ts?: number
  dur?: number
  cat?: string
  args?: Record<string, unknown>
}

/** What tsrun adds to the trace file besides the events, for `tsrun-trace` and the report. */
export interface TraceInfo {
  /** Per track: a rank, or in an elastic job a member (`rank` is then its track number). */
  ranks: {
    rank: number
    host: string
    node: number
    pid: number
    offsetUs: number
    rttUs: number
    wallUs: number
    totals?: Totals
    complete: boolean
    /** An elastic job's member id, and the rank it had in each generation it was in. */
    member?: string
    generations?: { gen: number; rank: number; size: number }[]
  }[]
}
type Totals = { sentBytes: number; recvBytes: number; sentMsgs: number; recvMsgs: number }

export interface ChromeTrace {
  traceEvents: ChromeEvent[]
  displayTimeUnit: 'ms'
  otherData: { tsrun: TraceInfo }
}

/**
 * Every rank's events from a parts directory, by rank (an elastic job's: by member, numbered in slot order).
 * Lines that do not parse (a crash mid-write) are skipped.
 */
export function readParts(dir: string): Map<number, TraceEvent[]> {
  const ranks: [number, string][] = []
  const members: [number[], string][] = []
  for (const f of readdirSync(dir)) {
    const r = /^rank-(\d+)\.jsonl$/.exec(f)
    if (r) ranks.push([Number(r[1]), f])
    const m = /^member-s(\d+)\.(\d+)\.jsonl$/.exec(f)
    if (m) members.push([[Number(m[1]), Number(m[2])], f])
  }
  members.sort(([a], [b]) => a[0]! - b[0]! || a[1]! - b[1]!)
  const files: [number, string][] = members.length ? members.map(([, f], i) => [i, f]) : ranks
  return new Map(files.map(([key, f]) => [key, readLines(join(dir, f))]))
}

function readLines(file: string): TraceEvent[] {
  const events: TraceEvent[] = []
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue
    try {
      events.push(JSON.parse(line) as TraceEvent)
    } catch {
      // the last line of a rank that was killed while writing it
    }
  }
  return events
}

/** The Chrome trace of every rank's events. */
export function toChromeTrace(byRank: Map<number, TraceEvent[]>): ChromeTrace {
  const ranks: TraceInfo['ranks'] = []
  const metaOf = new Map<number, Extract<TraceEvent, { t: 'meta' }>>()
  for (const [rank, events] of byRank) {
    const meta = events.find((e): e is Extract<TraceEvent, { t: 'meta' }> => e.t === 'meta')
    if (meta) metaOf.set(rank, meta)
  }
  const offset = (rank: number) => metaOf.get(rank)?.offsetUs ?? 0
  // Time zero: the earliest event of the job, on rank 0's clock.
  let t0 = Infinity
  for (const [rank, events] of byRank) for (const e of events) if ('s' in e) t0 = Math.min(t0, e.s + offset(rank))
  if (!Number.isFinite(t0)) t0 = 0
  const at = (rank: number, t: number) => Math.round((t + offset(rank) - t0) * 1000) / 1000
  // An elastic job's generations: each member's rank in each, and each one's size.
  const gensOf = new Map<number, Extract<TraceEvent, { t: 'g' }>[]>()
  const genSize = new Map<number, number>()
  for (const [rank, events] of byRank) {
    const gens = events.filter((e): e is Extract<TraceEvent, { t: 'g' }> => e.t === 'g')
    if (gens.length) gensOf.set(rank, gens)
    for (const g of gens) genSize.set(g.gen, g.size)
  }
  // When the last rank of each collective called it: the end of everyone's wait.
  const calls = new Map<string, { n: number; last: number }>()
  const size = Math.max(0, ...[...metaOf.values()].map((m) => m.size))
  for (const [rank, events] of byRank) {
    for (const e of events) {
      if (e.t !== 'c') continue
      const k = callKey(e)
      const c = calls.get(k) ?? { n: 0, last: -Infinity }
      c.n++
      c.last = Math.max(c.last, at(rank, e.s))
      calls.set(k, c)
    }
  }
  const members = commSizes(byRank, (g) => (g === undefined ? size : (genSize.get(g) ?? 0)))
  const traceEvents: ChromeEvent[] = []
  const hosts = new Set<number>()
  // Elastic members' node numbers are per generation: a process per host name instead.
  const hostNames = [...new Set([...byRank].sort((a, b) => a[0] - b[0]).map(([r]) => metaOf.get(r)?.host ?? '?'))]
  for (const [rank, events] of [...byRank].sort((a, b) => a[0] - b[0])) {
    const meta = metaOf.get(rank)
    const gens = gensOf.get(rank)
    const pid = meta?.member !== undefined ? hostNames.indexOf(meta.host) : (meta?.node ?? 0)
    const name = meta?.member !== undefined ? `member ${meta.member}` : `rank ${rank}`
    const rankIn = (g: number | undefined) => gens?.find((x) => x.gen === g)?.rank
    if (!hosts.has(pid)) {
      hosts.add(pid)
      traceEvents.push({ ph: 'M', name: 'process_name', pid, tid: 0, args: { name: `host ${meta?.host ?? pid}` } })
      traceEvents.push({ ph: 'M', name: 'process_sort_index', pid, tid: 0, args: { sort_index: pid } })
    }
    // Each track holds spans that nest: the ends of the spans still open on it, innermost last.
    const lanes: number[][] = []
    const laneFor = (s: number, e: number): number => {
      for (let i = 0; ; i++) {
        const open = (lanes[i] ??= [])
        while (open.length && open[open.length - 1]! <= s) open.pop()
        if (open.length === 0 || open[open.length - 1]! >= e) {
          open.push(e)
          return i
        }
      }
    }
    const tidOf = (lane: number) => (lane === 0 ? rank : rank + 10000 * lane)
    const named = new Set<number>()
    const track = (lane: number) => {
      const tid = tidOf(lane)
      if (named.has(tid)) return tid
      named.add(tid)
      traceEvents.push({ ph: 'M', name: 'thread_name', pid, tid, args: { name: lane === 0 ? name : `${name} (${lane + 1})` } })
      traceEvents.push({ ph: 'M', name: 'thread_sort_index', pid, tid, args: { sort_index: rank * 100 + lane } })
      return tid
    }
    track(0)
    let first = Infinity
    let last = 0
    let totals: Totals | undefined
    // Outer spans first where two start together, so that the inner one nests in it.
    const spans = events
      .filter((e) => 'e' in e && 's' in e)
      .sort((a, b) => (a as { s: number }).s - (b as { s: number }).s || (b as { e: number }).e - (a as { e: number }).e)
    for (const e of spans) {
      first = Math.min(first, e.s)
      last = Math.max(last, e.e)
      const ts = at(rank, e.s)
      const dur = Math.max(0, at(rank, e.e) - ts)
      const tid = track(laneFor(ts, ts + dur))
      if (e.t === 'c') {
        const args = {
          comm: e.comm,
          seq: e.seq,
          bytes: e.bytes,
          algorithm: e.algo,
          reduceMs: round3((e.r ?? 0) / 1000),
          ...(e.err ? { error: e.err } : {}),
          ...(e.g !== undefined ? { generation: e.g, rank: rankIn(e.g) } : {}),
        }
        traceEvents.push({ ph: 'X', name: e.op, cat: 'collective', pid, tid, ts, dur, args })
        const call = calls.get(callKey(e))!
        const all = call.n >= (members.get(commKey(e)) ?? 2) && call.n > 1
        const w = all ? Math.min(Math.max(call.last, ts), ts + dur) : e.w === undefined ? undefined : Math.min(Math.max(at(rank, e.w), ts), ts + dur)
        if (w !== undefined && w > ts) traceEvents.push({ ph: 'X', name: 'waiting for peers', cat: 'wait', pid, tid, ts, dur: round3(w - ts) })
        if (w !== undefined && ts + dur > w)
          traceEvents.push({ ph: 'X', name: 'transfer', cat: 'transfer', pid, tid, ts: w, dur: round3(ts + dur - w), args: { reduceMs: args.reduceMs } })
      } else if (e.t === 'p') {
        traceEvents.push({
          ph: 'X',
          name: e.k === 'send' ? `send → ${e.peer}` : `recv ← ${e.peer}`,
          cat: 'p2p',
          pid,
          tid,
          ts,
          dur,
          args: { bytes: e.bytes, tag: e.tag, comm: e.comm },
        })
      } else if (e.t === 's') {
        traceEvents.push({ ph: 'X', name: e.name, cat: e.cat, pid, tid, ts, dur, ...(e.args ? { args: e.args } : {}) })
      }
    }
    for (const e of events) {
      if (e.t === 'totals') {
        totals = e
        last = Math.max(last, e.e)
      }
    }
    ranks.push({
      rank,
      host: meta?.host ?? '?',
      node: pid,
      pid: meta?.pid ?? 0,
      offsetUs: round3(meta?.offsetUs ?? 0),
      rttUs: round3(meta?.rttUs ?? 0),
      wallUs: Number.isFinite(first) ? round3(last - first) : 0,
      totals: totals && { sentBytes: totals.sentBytes, recvBytes: totals.recvBytes, sentMsgs: totals.sentMsgs, recvMsgs: totals.recvMsgs },
      complete: totals !== undefined,
      ...(meta?.member !== undefined ? { member: meta.member, generations: (gens ?? []).map(({ gen, rank, size }) => ({ gen, rank, size })) } : {}),
    })
  }
  return { traceEvents, displayTimeUnit: 'ms', otherData: { tsrun: { ranks } } }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000

type Coll = Extract<TraceEvent, { t: 'c' }>
/** A communicator, told apart by generation in an elastic job. */
const commKey = (e: Coll) => (e.g === undefined ? e.comm : `g${e.g}:${e.comm}`)
/** One call of a communicator. */
const callKey = (e: Coll) => `${commKey(e)}#${e.seq}`

/** Ranks per communicator: the most that recorded any one of its collectives (the world: all of its generation's). */
function commSizes(byRank: Map<number, TraceEvent[]>, worldSize: (generation: number | undefined) => number): Map<string, number> {
  const seen = new Map<string, { g: number | undefined; world: boolean; ranks: Set<number> }>()
  for (const [rank, events] of byRank) {
    for (const e of events) {
      if (e.t !== 'c') continue
      const k = commKey(e)
      const c = seen.get(k) ?? { g: e.g, world: e.comm === 'world', ranks: new Set() }
      seen.set(k, c)
      c.ranks.add(rank)
    }
  }
  return new Map([...seen].map(([k, c]) => [k, c.world ? Math.max(worldSize(c.g), c.ranks.size) : c.ranks.size]))
}

/**
 * Merges `dir` into a Chrome trace; writes it to `out` when given, then removes `dir`. Resolves to the trace.
 *
 * @example
 * ```ts
 * const trace = mergeParts('run.json.parts', 'run.json')
 * ```
 */
export function mergeParts(dir: string, out?: string): ChromeTrace | undefined {
  if (!existsSync(dir)) return undefined
  const trace = toChromeTrace(readParts(dir))
  if (out) writeFileSync(out, JSON.stringify(trace))
  rmSync(dir, { recursive: true, force: true })
  return trace
}
