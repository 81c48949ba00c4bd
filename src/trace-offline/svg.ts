/**
 * A picture of a merged timeline without a browser (`tsrun-trace trace.json --svg out.svg`): one row per rank
 * track on one time axis, collectives as boxes coloured by kind with their "waiting for peers" part hatched,
 * point-to-point messages as thin bars under them, tsrun/dl and user spans as thin bars above.
 */
import type { ChromeEvent, ChromeTrace } from './merge.ts'

const SPAN_PALETTE = ['#333333', '#17becf', '#bcbd22', '#8c564b', '#e377c2', '#7f7f7f']
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac']
const ROW = 30
const LEFT = 140
const WIDTH = 1400
const TOP = 40

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!)

/** The SVG text of `trace`; `fromMs`/`toMs` crop the time axis. */
export function traceSvg(trace: ChromeTrace, opts: { fromMs?: number; toMs?: number; title?: string } = {}): string {
  const spans = trace.traceEvents.filter((e): e is ChromeEvent & { ts: number; dur: number } => e.ph === 'X' && e.ts !== undefined)
  const names = new Map<string, string>()
  for (const e of trace.traceEvents) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}/${e.tid}`, String(e.args?.name))
  const hostName = new Map<number, string>()
  for (const e of trace.traceEvents) if (e.ph === 'M' && e.name === 'process_name') hostName.set(e.pid, String(e.args?.name).replace(/^host /, ''))
  const tracks = [...names.keys()].sort((a, b) => {
    const [pa, ta] = a.split('/').map(Number)
    const [pb, tb] = b.split('/').map(Number)
    return (ta! % 10000) - (tb! % 10000) || ta! - tb! || pa! - pb!
  })
  const row = new Map(tracks.map((t, i) => [t, i]))
  const end = Math.max(1, ...spans.map((e) => e.ts + e.dur))
  const from = (opts.fromMs ?? 0) * 1000
  const to = opts.toMs !== undefined ? opts.toMs * 1000 : end
  const scale = (WIDTH - LEFT - 20) / Math.max(1, to - from)
  const x = (t: number) => LEFT + (Math.min(Math.max(t, from), to) - from) * scale
  const height = TOP + tracks.length * ROW + 70
  const colour = new Map<string, string>()
  const colourOf = (op: string) => {
    let c = colour.get(op)
    if (c === undefined) {
      c = PALETTE[colour.size % PALETTE.length]!
      colour.set(op, c)
    }
    return c
  }
  // Spans of tsrun/dl and the user: one colour per name, buckets ("gradient bucket 3") sharing one.
  const spanColour = new Map<string, string>()
  const spanColourOf = (name: string) => {
    const key = name.replace(/ \d+$/, '')
    let c = spanColour.get(key)
    if (c === undefined) {
      c = SPAN_PALETTE[spanColour.size % SPAN_PALETTE.length]!
      spanColour.set(key, c)
    }
    return c
  }

  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" font-size="12">`)
  out.push(
    '<defs><pattern id="wait" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff" fill-opacity="0.35"/><line x1="0" y1="0" x2="0" y2="6" stroke="#000" stroke-width="2" stroke-opacity="0.45"/></pattern></defs>',
  )
  out.push(`<rect width="${WIDTH}" height="${height}" fill="#fff"/>`)
  out.push(`<text x="10" y="22" font-size="15">${esc(opts.title ?? 'tsrun timeline')}</text>`)
  tracks.forEach((t, i) => {
    const y = TOP + i * ROW
    const pid = Number(t.split('/')[0])
    if (i % 2 === 0) out.push(`<rect x="${LEFT}" y="${y}" width="${WIDTH - LEFT - 20}" height="${ROW}" fill="#f4f4f4"/>`)
    out.push(`<text x="8" y="${y + ROW / 2 + 4}">${esc(names.get(t)!)} <tspan fill="#777">${esc(hostName.get(pid) ?? '')}</tspan></text>`)
  })
  const visible = (e: { ts: number; dur: number }) => e.ts + e.dur >= from && e.ts <= to
  for (const e of spans) {
    const r = row.get(`${e.pid}/${e.tid}`)
    if (r === undefined || !visible(e)) continue
    const y = TOP + r * ROW
    const x0 = x(e.ts)
    const w = Math.max(0.5, x(e.ts + e.dur) - x0)
    const tip = `<title>${esc(e.name)} ${(e.dur / 1000).toFixed(3)} ms${e.args ? ' ' + esc(JSON.stringify(e.args)) : ''}</title>`
    if (e.cat === 'collective')
      out.push(`<rect x="${x0.toFixed(2)}" y="${y + 6}" width="${w.toFixed(2)}" height="${ROW - 12}" fill="${colourOf(e.name)}">${tip}</rect>`)
    else if (e.cat === 'wait') out.push(`<rect x="${x0.toFixed(2)}" y="${y + 6}" width="${w.toFixed(2)}" height="${ROW - 12}" fill="url(#wait)">${tip}</rect>`)
    else if (e.cat === 'p2p') out.push(`<rect x="${x0.toFixed(2)}" y="${y + ROW - 5}" width="${w.toFixed(2)}" height="3" fill="#555">${tip}</rect>`)
    else if (e.cat !== 'transfer')
      out.push(`<rect x="${x0.toFixed(2)}" y="${y + 1}" width="${w.toFixed(2)}" height="4" fill="${spanColourOf(e.name)}">${tip}</rect>`)
  }
  // Time axis.
  const axisY = TOP + tracks.length * ROW + 8
  out.push(`<line x1="${LEFT}" y1="${axisY}" x2="${WIDTH - 20}" y2="${axisY}" stroke="#000"/>`)
  const span = (to - from) / 1000
  const step = niceStep(span / 8)
  for (let ms = Math.ceil(from / 1000 / step) * step; ms <= to / 1000 + 1e-9; ms += step) {
    const px = x(ms * 1000)
    out.push(
      `<line x1="${px.toFixed(1)}" y1="${axisY}" x2="${px.toFixed(1)}" y2="${axisY + 5}" stroke="#000"/><text x="${px.toFixed(1)}" y="${axisY + 18}" text-anchor="middle">${fmt(ms)}</text>`,
    )
  }
  // Legend.
  let lx = LEFT
  const ly = axisY + 38
  for (const [op, c] of colour) {
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${c}"/><text x="${lx + 16}" y="${ly}">${esc(op)}</text>`)
    lx += 24 + op.length * 7
  }
  out.push(
    `<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="#888"/><rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="url(#wait)"/><text x="${lx + 16}" y="${ly}">waiting for peers</text>`,
  )
  lx += 140
  for (const [name, c] of spanColour) {
    out.push(`<rect x="${lx}" y="${ly - 4}" width="12" height="4" fill="${c}"/><text x="${lx + 16}" y="${ly}">${esc(name)}</text>`)
    lx += 24 + name.length * 7
  }
  out.push('</svg>')
  return out.join('\n') + '\n'
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-6)))
  for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p
  return 10 * p
}
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s` : `${+ms.toFixed(3)} ms`)
