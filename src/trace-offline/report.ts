/**
 * What a merged timeline says about a job (`tsrun --report`, `tsrun-trace --report`):
 * - stragglers: for every collective the ranks of its communicator joined, each rank's arrival relative to the
 *   first (on rank 0's clock); per communicator, the ranks that arrived last most often, how long the others
 *   waited for them in all, and the histogram of the skew (last arrival - first);
 * - per rank: time in collectives (their union) and outside them, bytes and messages sent and received;
 * - the slowest call of each kind, and the algorithm chosen per size class.
 */
import type { ChromeEvent, ChromeTrace } from './merge.ts'

export interface Straggler {
  rank: number
  /** In an elastic job: the member (its rank changed between generations; `rank` is its track number). */
  member?: string
  /** Collectives this rank arrived last at. */
  last: number
  /** Total time the other ranks waited for it at those, in ms. */
  othersWaitedMs: number
}

export interface JobReport {
  ranks: {
    rank: number
    member?: string
    host: string
    wallMs: number
    inCollectivesMs: number
    outsideMs: number
    sentBytes?: number
    recvBytes?: number
    sentMsgs?: number
    recvMsgs?: number
    complete: boolean
  }[]
  stragglers: { comm: string; collectives: number; ranks: Straggler[]; skewHistogram: Record<string, number> }[]
  slowest: { op: string; ms: number; rank: number; member?: string; comm: string; seq: number; bytes: number; algorithm: string; generation?: number }[]
  algorithms: { op: string; sizes: string; algorithm: string; calls: number }[]
  clock: { rank: number; offsetUs: number; rttUs: number }[]
}

const SKEW_BUCKETS: [string, number][] = [
  ['<10µs', 10],
  ['<100µs', 100],
  ['<1ms', 1000],
  ['<10ms', 10_000],
  ['<100ms', 100_000],
  ['≥100ms', Infinity],
]
const SIZE_CLASSES: [string, number][] = [
  ['<1 KiB', 1 << 10],
  ['1–64 KiB', 1 << 16],
  ['64 KiB–1 MiB', 1 << 20],
  ['1–16 MiB', 1 << 24],
  ['≥16 MiB', Infinity],
]

type Coll = ChromeEvent & { ts: number; dur: number; args: { comm: string; seq: number; bytes: number; algorithm: string; generation?: number } }

/** The report of a merged trace. */
export function jobReport(trace: ChromeTrace): JobReport {
  const info = trace.otherData.tsrun
  const rankOf = (tid: number) => tid % 10000
  const memberOf = new Map(info.ranks.flatMap((r) => (r.member === undefined ? [] : [[r.rank, r.member] as const])))
  const member = (rank: number) => (memberOf.has(rank) ? { member: memberOf.get(rank)! } : {})
  const colls = trace.traceEvents.filter((e): e is Coll => e.ph === 'X' && e.cat === 'collective')

  // Stragglers: arrivals per (communicator, sequence number).
  const calls = new Map<string, Map<number, number>>()
  for (const c of colls) {
    const key = `${c.args.generation ?? ''}/${c.args.comm}#${c.args.seq}`
    let m = calls.get(key)
    if (!m) calls.set(key, (m = new Map()))
    m.set(rankOf(c.tid), c.ts)
  }
  const byComm = new Map<string, { collectives: number; last: Map<number, Straggler>; hist: Record<string, number> }>()
  for (const [key, arrivals] of calls) {
    if (arrivals.size < 2) continue
    const comm = key.slice(key.indexOf('/') + 1, key.lastIndexOf('#'))
    let s = byComm.get(comm)
    if (!s) byComm.set(comm, (s = { collectives: 0, last: new Map(), hist: Object.fromEntries(SKEW_BUCKETS.map(([k]) => [k, 0])) }))
    s.collectives++
    let lastRank = -1
    let lastAt = -Infinity
    let firstAt = Infinity
    for (const [r, t] of arrivals) {
      if (t > lastAt || (t === lastAt && r > lastRank)) {
        lastAt = t
        lastRank = r
      }
      firstAt = Math.min(firstAt, t)
    }
    const skew = lastAt - firstAt
    s.hist[SKEW_BUCKETS.find(([, lim]) => skew < lim)![0]]++
    let waited = 0
    for (const t of arrivals.values()) waited += lastAt - t
    const st = s.last.get(lastRank) ?? { rank: lastRank, ...member(lastRank), last: 0, othersWaitedMs: 0 }
    st.last++
    st.othersWaitedMs += waited / 1000
    s.last.set(lastRank, st)
  }
  const stragglers = [...byComm].map(([comm, s]) => ({
    comm,
    collectives: s.collectives,
    ranks: [...s.last.values()]
      .map((x) => ({ ...x, othersWaitedMs: round(x.othersWaitedMs) }))
      .sort((a, b) => b.last - a.last || b.othersWaitedMs - a.othersWaitedMs),
    skewHistogram: s.hist,
  }))

  // Per rank: the union of its collectives' intervals.
  const intervals = new Map<number, [number, number][]>()
  for (const c of colls) {
    const r = rankOf(c.tid)
    intervals.set(r, [...(intervals.get(r) ?? []), [c.ts, c.ts + c.dur]])
  }
  const ranks = info.ranks.map((r) => {
    const inColl = unionLength(intervals.get(r.rank) ?? []) / 1000
    const wallMs = r.wallUs / 1000
    return {
      rank: r.rank,
      ...(r.member !== undefined ? { member: r.member } : {}),
      host: r.host,
      wallMs: round(wallMs),
      inCollectivesMs: round(inColl),
      outsideMs: round(Math.max(0, wallMs - inColl)),
      ...(r.totals ?? {}),
      complete: r.complete,
    }
  })

  const slowestByOp = new Map<string, Coll>()
  for (const c of colls) if (!slowestByOp.has(c.name) || c.dur > slowestByOp.get(c.name)!.dur) slowestByOp.set(c.name, c)
  const slowest = [...slowestByOp.values()]
    .map((c) => ({
      op: c.name,
      ms: round(c.dur / 1000),
      rank: rankOf(c.tid),
      ...member(rankOf(c.tid)),
      comm: c.args.comm,
      seq: c.args.seq,
      bytes: c.args.bytes,
      algorithm: c.args.algorithm,
      ...(c.args.generation !== undefined ? { generation: c.args.generation } : {}),
    }))
    .sort((a, b) => b.ms - a.ms)

  const algos = new Map<string, { op: string; sizes: string; algorithm: string; calls: number }>()
  for (const c of colls) {
    const sizes = SIZE_CLASSES.find(([, lim]) => c.args.bytes < lim)![0]
    const key = `${c.name}|${sizes}|${c.args.algorithm}`
    const a = algos.get(key) ?? { op: c.name, sizes, algorithm: c.args.algorithm, calls: 0 }
    a.calls++
    algos.set(key, a)
  }
  return {
    ranks,
    stragglers,
    slowest,
    algorithms: [...algos.values()].sort(
      (a, b) => a.op.localeCompare(b.op) || SIZE_CLASSES.findIndex(([k]) => k === a.sizes) - SIZE_CLASSES.findIndex(([k]) => k === b.sizes),
    ),
    clock: info.ranks.map((r) => ({ rank: r.rank, offsetUs: r.offsetUs, rttUs: r.rttUs })),
  }
}

/** The report as the table the launcher prints at the end of the job. */
export function formatReport(r: JobReport): string {
  const out: string[] = []
  const hosts = new Set(r.ranks.map((x) => x.host)).size
  const elastic = r.ranks.some((x) => x.member !== undefined)
  out.push(`tsrun report: ${r.ranks.length} ${elastic ? 'members (processes of an elastic job)' : 'ranks'} on ${hosts} host${hosts === 1 ? '' : 's'}`)
  const col = elastic ? 6 : 4
  out.push(`${elastic ? 'member' : 'rank'}  host              wall s  collectives s  outside s      sent  received  messages`)
  for (const x of r.ranks) {
    const msgs = x.sentMsgs === undefined ? '' : `${x.sentMsgs}/${x.recvMsgs}`
    out.push(
      `${(x.member ?? String(x.rank)).padStart(col)}  ${x.host.slice(0, 16).padEnd(16)} ${(x.wallMs / 1000).toFixed(2).padStart(7)}  ${(x.inCollectivesMs / 1000).toFixed(2).padStart(13)}  ${(x.outsideMs / 1000).toFixed(2).padStart(9)}` +
        `  ${bytes(x.sentBytes).padStart(8)}  ${bytes(x.recvBytes).padStart(8)}  ${msgs.padStart(8)}${x.complete ? '' : '  (ended early: partial)'}`,
    )
  }
  for (const s of r.stragglers) {
    const top = s.ranks.slice(0, 3).map((x) => `${who(x)} last in ${x.last} (others waited ${fmtMs(x.othersWaitedMs)})`)
    out.push(`stragglers on ${s.comm} (${s.collectives} collectives): ${top.join('; ') || 'none'}`)
    out.push(
      `  skew (last arrival - first): ${Object.entries(s.skewHistogram)
        .map(([k, n]) => `${k} ${n}`)
        .join(' | ')}`,
    )
  }
  if (r.slowest.length)
    out.push(
      `slowest calls: ${r.slowest
        .map(
          (s) =>
            `${s.op} ${fmtMs(s.ms)} (${s.generation !== undefined ? `generation ${s.generation} ` : ''}${s.comm} #${s.seq}, ${who(s)}, ${bytes(s.bytes)}, ${s.algorithm})`,
        )
        .join('; ')}`,
    )
  if (r.algorithms.length) out.push(`algorithms: ${r.algorithms.map((a) => `${a.op} ${a.sizes}: ${a.algorithm} ×${a.calls}`).join('; ')}`)
  return out.join('\n') + '\n'
}

const who = (x: { rank: number; member?: string }) => (x.member !== undefined ? `member ${x.member}` : `rank ${x.rank}`)

function unionLength(iv: [number, number][]): number {
  iv.sort((a, b) => a[0] - b[0])
  let total = 0
  let [cs, ce] = [-Infinity, -Infinity]
  for (const [s, e] of iv) {
    if (s > ce) {
      if (ce > cs) total += ce - cs
      ;[cs, ce] = [s, e]
    } else ce = Math.max(ce, e)
  }
  if (ce > cs) total += ce - cs
  return total
}

const round = (x: number) => Math.round(x * 1000) / 1000
const fmtMs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`)
function bytes(n: number | undefined): string {
  if (n === undefined) return '-'
  if (n < 1024) return `${n} B`
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`
  return `${(n / (1 << 30)).toFixed(2)} GiB`
}
