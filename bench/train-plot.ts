/**
 * Rows of bench/train.ts and a dependency-free SVG plot of them: samples/s against the rank count, one panel
 * per model, one line per implementation and mode, with the ideal (linear from np 1) dashed.
 */

export interface TrainRow {
  impl: string
  model: string
  mode: string
  np: number
  groupSize: number
  averageEvery: number
  batchPerRank: number
  steps: number
  samplesPerSec: number
  stepMs: number
  /** Share of step time waiting for communication (tsrun only). */
  commShare: number | undefined
  params: number
  oversubscribed: boolean
  efficiency?: number
}

const W = 460
const H = 300
const M = { left: 64, right: 16, top: 28, bottom: 44 }
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b']

export function plotTrainSvg(rows: TrainRow[], title: string): string {
  const models = [...new Set(rows.map((r) => r.model))]
  const lines = [...new Set(rows.map((r) => `${r.impl} ${r.mode}`))]
  const colors = new Map(lines.map((l, i) => [l, COLORS[i % COLORS.length]!]))
  // Legend: two entries per row under the panels, then what the dashed lines are.
  const legendRows = Math.ceil(lines.length / 2) + 1
  const height = models.length * H + 40 + legendRows * 18
  let body = `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${title}</text>`
  const legendTop = 30 + models.length * H
  lines.forEach((l, i) => {
    const [x, y] = [20 + (i % 2) * 220, legendTop + Math.floor(i / 2) * 18]
    body += `<rect x="${x}" y="${y}" width="14" height="4" fill="${colors.get(l)}"/><text x="${x + 20}" y="${y + 6}" font-size="12">${l}</text>`
  })
  body += `<text x="20" y="${legendTop + (legendRows - 1) * 18 + 6}" font-size="12">dashed: linear scaling from np 1; * oversubscribed</text>`
  models.forEach((model, k) => {
    const y0 = 30 + k * H
    const mine = rows.filter((r) => r.model === model)
    const nps = [...new Set(mine.map((r) => r.np))].sort((a, b) => a - b)
    const base = mine.filter((r) => r.np === 1)
    const ideal = Math.max(0, ...base.map((b) => b.samplesPerSec)) * Math.max(...nps)
    const ymax = Math.max(ideal, ...mine.map((r) => r.samplesPerSec)) * 1.05 || 1
    const [xmin, xmax] = [Math.log2(nps[0]!), Math.log2(nps.at(-1)!)]
    const sx = (np: number) => M.left + ((Math.log2(np) - xmin) / Math.max(xmax - xmin, 1)) * (W - M.left - M.right)
    const sy = (v: number) => y0 + H - M.bottom - (v / ymax) * (H - M.top - M.bottom)
    body += `<text x="${W / 2}" y="${y0 + 18}" text-anchor="middle" font-weight="bold">${model}: samples/s (weak scaling)</text>`
    body += `<rect x="${M.left}" y="${y0 + M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#999"/>`
    for (const np of nps) {
      const over = mine.some((r) => r.np === np && r.oversubscribed)
      body += `<text x="${sx(np)}" y="${y0 + H - M.bottom + 14}" text-anchor="middle" font-size="10">np ${np}${over ? '*' : ''}</text>`
    }
    for (let i = 0; i <= 4; i++)
      body += `<text x="${M.left - 4}" y="${sy((ymax * i) / 4) + 3}" text-anchor="end" font-size="10">${Math.round((ymax * i) / 4)}</text>`
    for (const b of base) {
      body += `<polyline fill="none" stroke="${colors.get(`${b.impl} sync`) ?? '#999'}" stroke-dasharray="4 3" points="${nps.map((np) => `${sx(np).toFixed(1)},${sy(b.samplesPerSec * np).toFixed(1)}`).join(' ')}"/>`
    }
    for (const l of lines) {
      const pts = mine.filter((r) => `${r.impl} ${r.mode}` === l || (r.np === 1 && r.impl === l.split(' ')[0])).sort((a, b) => a.np - b.np)
      if (pts.length < 1 || !mine.some((r) => `${r.impl} ${r.mode}` === l)) continue
      body += `<polyline fill="none" stroke="${colors.get(l)}" stroke-width="2" points="${pts.map((r) => `${sx(r.np).toFixed(1)},${sy(r.samplesPerSec).toFixed(1)}`).join(' ')}"/>`
    }
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`
}
