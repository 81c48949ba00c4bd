/**
 * Benchmark rows in the OSU / nccl-tests style, the same columns as the Open MPI runs of bench/mpi.ts:
 * `impl,op,np,bytes,avg_us,algbw_GBps,busbw_GBps` (algbw = bytes / time in 1e9 B/s; busbw as nccl-tests).
 */
export interface Row {
  impl: string
  op: string
  np: number
  bytes: number
  avg_us: number
  algbw_GBps: number | undefined
  busbw_GBps: number | undefined
}

export const CSV_HEADER = 'impl,op,np,bytes,avg_us,algbw_GBps,busbw_GBps'

const fixed = (x: number | undefined, digits: number) => (x === undefined ? '' : x.toFixed(digits))

export function csvLine(r: Row): string {
  return [r.impl, r.op, r.np, r.bytes, fixed(r.avg_us, 2), fixed(r.algbw_GBps, 4), fixed(r.busbw_GBps, 4)].join(',')
}

export function humanBytes(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)} MiB`
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)} KiB`
  return `${n} B`
}

/** A fixed-width table for a terminal. */
export function tableLine(r: Row): string {
  return (
    `${r.op.padEnd(14)} ${String(r.np).padStart(3)} ${humanBytes(r.bytes).padStart(10)} ` +
    `${r.avg_us.toFixed(1).padStart(12)} us ${fixed(r.algbw_GBps, 3).padStart(9)} GB/s ${fixed(r.busbw_GBps, 3).padStart(9)} GB/s`
  )
}
export const TABLE_HEADER = `${'op'.padEnd(14)} ${'np'.padStart(3)} ${'bytes'.padStart(10)} ${'avg'.padStart(15)} ${'algbw'.padStart(14)} ${'busbw'.padStart(14)}`

/** Parses `--sizes 4,1K,64M` into bytes. */
export function parseSizes(text: string): number[] {
  return text.split(',').map((s) => {
    const m = /^(\d+)([KMG]?)i?B?$/i.exec(s.trim())
    if (!m) throw new Error(`bad size '${s}': use bytes like 4, 1K, 64M`)
    return Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G']
  })
}

/** 4 B to 64 MiB in powers of 4, the anchor's sizes and more. */
export const DEFAULT_SIZES = Array.from({ length: 13 }, (_, i) => 4 ** (i + 1))

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}
