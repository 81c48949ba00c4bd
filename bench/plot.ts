/**
 * A dependency-free SVG plot of benchmark rows: bus bandwidth and latency against message size (log scales),
 * one line per implementation, one pair of panels per operation.
 */
import { humanBytes, type Row } from './report.ts'

const W = 460
const H = 300
const M = { left: 60, right: 16, top: 28, bottom: 44 }
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b']

function panel(
  x0: number,
  y0: number,
  title: string,
  series: Map<string, [number, number][]>,
  yLabel: string,
  logY: boolean,
  colors: Map<string, string>,
): string {
  const pts = [...series.values()].flat().filter(([x, y]) => x > 0 && (!logY || y > 0) && Number.isFinite(y))
  if (pts.length === 0) return ''
  const lx = (x: number) => Math.log2(x)
  const ty = (y: number) => (logY ? Math.log10(y) : y)
  const [xmin, xmax] = [Math.min(...pts.map((p) => lx(p[0]))), Math.max(...pts.map((p) => lx(p[0])))]
  let [ymin, ymax] = [Math.min(...pts.map((p) => ty(p[1]))), Math.max(...pts.map((p) => ty(p[1])))]
  if (!logY) ymin = 0
  if (ymax === ymin) ymax = ymin + 1
  const sx = (x: number) => x0 + M.left + ((lx(x) - xmin) / Math.max(xmax - xmin, 1)) * (W - M.left - M.right)
  const sy = (y: number) => y0 + H - M.bottom - ((ty(y) - ymin) / (ymax - ymin)) * (H - M.top - M.bottom)
  let out = `<text x="${x0 + W / 2}" y="${y0 + 18}" text-anchor="middle" font-weight="bold">${title}</text>`
  out += `<rect x="${x0 + M.left}" y="${y0 + M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#999"/>`
  for (let e = Math.ceil(xmin); e <= xmax; e += 2) {
    const x = sx(2 ** e)
    out += `<text x="${x}" y="${y0 + H - M.bottom + 14}" text-anchor="middle" font-size="10">${humanBytes(2 ** e)}</text>`
  }
  for (let i = 0; i <= 4; i++) {
    const v = ymin + ((ymax - ymin) * i) / 4
    const label = logY ? (10 ** v).toPrecision(2) : v.toFixed(2)
    out += `<text x="${x0 + M.left - 4}" y="${sy(logY ? 10 ** v : v) + 3}" text-anchor="end" font-size="10">${label}</text>`
  }
  out += `<text x="${x0 + 14}" y="${y0 + H / 2}" transform="rotate(-90 ${x0 + 14} ${y0 + H / 2})" text-anchor="middle" font-size="11">${yLabel}</text>`
  for (const [impl, xs] of series) {
    const ok = xs.filter(([x, y]) => x > 0 && (!logY || y > 0) && Number.isFinite(y)).sort((a, b) => a[0] - b[0])
    if (ok.length === 0) continue
    out += `<polyline fill="none" stroke="${colors.get(impl)}" stroke-width="2" points="${ok.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ')}"/>`
  }
  return out
}

/** SVG text with, per op, bus bandwidth (GB/s) and average latency (us) against bytes. */
export function plotSvg(rows: Row[], title: string): string {
  const ops = [...new Set(rows.filter((r) => r.bytes > 0).map((r) => r.op))]
  const impls = [...new Set(rows.map((r) => r.impl))]
  const colors = new Map(impls.map((impl, i) => [impl, COLORS[i % COLORS.length]]))
  const height = ops.length * H + 60
  let body = `<text x="${W}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${title}</text>`
  impls.forEach((impl, i) => {
    body += `<rect x="${20 + i * 170}" y="${height - 24}" width="14" height="4" fill="${colors.get(impl)}"/><text x="${40 + i * 170}" y="${height - 18}" font-size="12">${impl}</text>`
  })
  ops.forEach((op, k) => {
    const y0 = 30 + k * H
    const series = (pick: (r: Row) => number | undefined) =>
      new Map(
        impls.map((impl) => [impl, rows.filter((r) => r.op === op && r.impl === impl && r.bytes > 0).map((r): [number, number] => [r.bytes, pick(r) ?? NaN])]),
      )
    body += panel(
      0,
      y0,
      `${op}: bus bandwidth`,
      series((r) => r.busbw_GBps),
      'GB/s',
      false,
      colors,
    )
    body += panel(
      W,
      y0,
      `${op}: latency`,
      series((r) => r.avg_us),
      'us (log)',
      true,
      colors,
    )
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`
}
