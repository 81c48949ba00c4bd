/**
 * Collectives benchmark in the OSU / nccl-tests style, with Open MPI in the same run:
 *   tsrun -np 2 bench/collectives.ts [--ops allreduce,bcast] [--sizes 4,1M] [--compare-mpi] [--plot out.svg] [--csv]
 * Method (the same as bench/mpi/coll_bench.c): a warm-up of at least 200 ms sets the iteration count from the slowest rank;
 * each iteration is timed on its own and followed by an untimed barrier; avg_us is the mean over iterations,
 * averaged over ranks. algbw = bytes / avg; busbw (nccl-tests): allreduce algbw*2(n-1)/n; allgather,
 * reduce_scatter, alltoall, allgatherv and alltoallv algbw*(n-1)/n; bcast and scan algbw. bytes: the input buffer
 * (allgather, allgatherv: the output). The v-calls have uneven blocks: rank r's allgatherv block, and what it sends
 * rank d in alltoallv, are unit * (1 + (r + d) % n) elements (d = 0 for allgatherv), as in bench/mpi/coll_bench.c.
 * --compression fp16|bf16 sends allreduce's data as half precision (ReduceOptions.compression).
 * --compare-mpi alternates tsrun and Open MPI (bench/mpi.ts; over TCP, or shared memory with --mpi-transport shm)
 * --reps times and prints medians and the ratio per size.
 */
import { writeFileSync } from 'node:fs'
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { init } from 'tsrun'
import { MpiUnavailable, prepareMpiBench, runMpiBench } from './mpi.ts'
import { plotSvg } from './plot.ts'
import { CSV_HEADER, csvLine, DEFAULT_SIZES, median, parseSizes, TABLE_HEADER, tableLine, type Row } from './report.ts'

const OPS = ['allreduce', 'bcast', 'allgather', 'reduce_scatter', 'alltoall', 'barrier', 'allgatherv', 'alltoallv', 'scan'] as const
type Op = (typeof OPS)[number]

const argv = await yargs(hideBin(process.argv))
  .usage('tsrun -np N bench/collectives.ts [options]')
  .option('ops', { type: 'string', default: OPS.join(','), description: `comma-separated: ${OPS.join(', ')}` })
  .option('sizes', { type: 'string', description: 'comma-separated sizes in bytes, e.g. 4,1K,64M (default 4 B..64 MiB, powers of 4)' })
  .option('max-bytes', { type: 'string', description: 'drop sizes above this (e.g. 1M for a quick run)' })
  .option('seconds', { type: 'number', default: 0.4, description: 'target time per size and op' })
  .option('algorithm', { type: 'string', description: 'force an algorithm for allreduce/bcast (e.g. ring)' })
  .option('compression', { choices: ['none', 'fp16', 'bf16'] as const, default: 'none' as const, description: 'allreduce: half precision on the wire' })
  .option('segment-bytes', { type: 'number', description: 'segment size of pipelined algorithms (default 1 MiB)' })
  .option('compare-mpi', { type: 'boolean', default: false, description: 'also run Open MPI (bench/mpi/coll_bench.c, built with mpicc), alternating' })
  .option('mpi-transport', {
    choices: ['tcp', 'shm'] as const,
    default: 'tcp' as const,
    description: 'with --compare-mpi: Open MPI over TCP on loopback, or over shared memory (vader)',
  })
  .option('reps', { type: 'number', default: 3, description: 'with --compare-mpi: alternations; medians are reported' })
  .option('plot', { type: 'string', description: 'write an SVG plot of busbw and latency vs size' })
  .option('csv', { type: 'boolean', default: false, description: 'CSV rows (impl,op,np,bytes,avg_us,algbw_GBps,busbw_GBps)' })
  .option('json', { type: 'boolean', default: false, description: 'JSON array of rows' })
  .strictOptions()
  .parse()

const world = await init()
const np = world.size
const ops = argv.ops.split(',').map((s) => s.trim()) as Op[]
for (const op of ops) if (!OPS.includes(op)) throw new Error(`unknown op '${op}'; choose from ${OPS.join(', ')}`)
let sizes = argv.sizes ? parseSizes(argv.sizes) : DEFAULT_SIZES
if (argv['max-bytes']) sizes = sizes.filter((b) => b <= parseSizes(argv['max-bytes']!)[0])
const say = (line: string) => world.rank === 0 && !argv.json && !argv.csv && process.stderr.write(line + '\n')

// Without Open MPI there is nothing to compare with: say what to install, before measuring anything.
if (argv['compare-mpi']) {
  let missing: string | undefined
  if (world.rank === 0) {
    try {
      prepareMpiBench()
    } catch (err) {
      if (!(err instanceof MpiUnavailable)) throw err
      missing = err.message
    }
  }
  missing = await world.broadcastObject(missing, 0)
  if (missing !== undefined) {
    if (world.rank === 0) process.stderr.write(`bench/collectives.ts: ${missing}\n`)
    await world.finalize()
    process.exit(2)
  }
}

/** One operation on preallocated buffers. */
function operation(op: Op, bytes: number): () => Promise<unknown> {
  const n = Math.max(1, Math.floor(bytes / 4))
  const opts = { ...(argv.algorithm ? { algorithm: argv.algorithm } : {}), ...(argv['segment-bytes'] ? { segmentBytes: argv['segment-bytes'] } : {}) }
  const data = new Float32Array(n).fill(1)
  switch (op) {
    case 'allreduce':
      return () => world.allreduce(data, 'sum', { ...opts, compression: argv.compression })
    case 'bcast':
      return () => world.broadcast(data, 0, opts)
    case 'allgather': {
      const mine = new Float32Array(Math.max(1, Math.floor(n / np)))
      const into = new Float32Array(mine.length * np) // MPI benchmarks reuse their receive buffer too
      return () => world.allgather(mine, { into })
    }
    case 'reduce_scatter':
      return () => world.reduceScatter(data, 'sum')
    case 'alltoall': {
      const a = new Float32Array(Math.max(np, Math.floor(n / np) * np))
      const into = new Float32Array(a.length)
      return () => world.alltoall(a, { into })
    }
    case 'barrier':
      return () => world.barrier()
    case 'allgatherv':
    case 'alltoallv': {
      // Uneven blocks, the same as bench/mpi/coll_bench.c's vcounts().
      const unit = Math.max(1, Math.floor(n / ((np * (np + 1)) / 2)))
      const block = (r: number, d: number) => unit * (1 + ((r + d) % np))
      const rank = world.rank
      if (op === 'allgatherv') {
        const counts = Array.from({ length: np }, (_, r) => block(r, 0))
        const mine = new Float32Array(counts[rank]!)
        const into = new Float32Array(counts.reduce((x, y) => x + y, 0))
        return () => world.allgatherv(mine, counts, { into })
      }
      const sendCounts = Array.from({ length: np }, (_, d) => block(rank, d))
      const recvCounts = Array.from({ length: np }, (_, s) => block(s, rank))
      const a = new Float32Array(sendCounts.reduce((x, y) => x + y, 0))
      const into = new Float32Array(recvCounts.reduce((x, y) => x + y, 0))
      return () => world.alltoallv(a, sendCounts, recvCounts, { into })
    }
    case 'scan':
      return () => world.scan(data, 'sum')
  }
}

const maxOverRanks = async (x: number) => (await world.allreduce(new Float64Array([x]), 'max'))[0]

async function measure(op: Op, bytes: number): Promise<Row> {
  const run = operation(op, bytes)
  // Warm up and calibrate on the slowest rank.
  let warm = 2
  let perIter = 0
  for (;;) {
    await world.barrier()
    const t0 = performance.now()
    for (let i = 0; i < warm; i++) await run()
    perIter = await maxOverRanks((performance.now() - t0) / warm)
    if (perIter * warm >= 200 || warm >= 16384) break
    warm *= 4
  }
  const iters = Math.max(5, Math.min(1_000_000, Math.round((argv.seconds * 1000) / Math.max(perIter, 1e-6))))
  await world.barrier()
  let busy = 0
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now()
    await run()
    busy += performance.now() - t0
    await world.barrier()
  }
  const avgUs = (await world.allreduce(new Float64Array([(busy * 1000) / iters]), 'sum'))[0] / np
  const realBytes = op === 'barrier' ? 0 : bytes
  const algbw = op === 'barrier' ? undefined : realBytes / avgUs / 1000
  const factor = op === 'allreduce' ? (2 * (np - 1)) / np : op === 'bcast' || op === 'scan' ? 1 : (np - 1) / np
  return { impl: 'tsrun', op, np, bytes: realBytes, avg_us: avgUs, algbw_GBps: algbw, busbw_GBps: algbw === undefined ? undefined : algbw * factor }
}

async function runOurs(): Promise<Row[]> {
  const rows: Row[] = []
  for (const op of ops) {
    for (const bytes of op === 'barrier' ? [0] : sizes) {
      const row = await measure(op, bytes)
      rows.push(row)
      if (world.rank === 0 && !argv.json && !argv['compare-mpi']) console.log(argv.csv ? csvLine(row) : tableLine(row))
    }
  }
  return rows
}

function medianRows(runs: Row[][]): Row[] {
  const byKey = new Map<string, Row[]>()
  for (const row of runs.flat()) {
    const k = `${row.impl}|${row.op}|${row.bytes}`
    byKey.set(k, [...(byKey.get(k) ?? []), row])
  }
  return [...byKey.values()].map((rs) => {
    const avg = median(rs.map((r) => r.avg_us))
    const alg = rs[0].algbw_GBps === undefined ? undefined : rs[0].bytes / avg / 1000
    const factor = rs[0].busbw_GBps === undefined || rs[0].algbw_GBps === undefined ? undefined : rs[0].busbw_GBps / rs[0].algbw_GBps
    return { ...rs[0], avg_us: avg, algbw_GBps: alg, busbw_GBps: factor === undefined || alg === undefined ? undefined : alg * factor }
  })
}

let rows: Row[]
if (world.rank === 0 && !argv.json && !argv['compare-mpi']) console.log(argv.csv ? CSV_HEADER : TABLE_HEADER)
if (!argv['compare-mpi']) {
  rows = await runOurs()
} else {
  const runs: Row[][] = []
  for (let rep = 0; rep < argv.reps; rep++) {
    say(`# rep ${rep + 1}/${argv.reps}: tsrun`)
    runs.push(await runOurs())
    await world.barrier()
    if (world.rank === 0) {
      say(`# rep ${rep + 1}/${argv.reps}: Open MPI (${argv['mpi-transport']})`)
      try {
        runs.push(runMpiBench({ np, transport: argv['mpi-transport'], ops, sizes, seconds: argv.seconds }))
      } catch (err) {
        if (!(err instanceof MpiUnavailable)) throw err
        process.stderr.write(`bench/collectives.ts: ${err.message}\n`)
        process.exit(2)
      }
    }
    await world.barrier()
  }
  rows = medianRows(runs)
  if (world.rank === 0) printComparison(rows)
}
if (world.rank === 0 && argv.json) console.log(JSON.stringify(rows))
if (world.rank === 0 && argv.plot) {
  writeFileSync(argv.plot, plotSvg(rows, `collectives, ${np} ranks${argv['compare-mpi'] ? ' (medians of alternated runs)' : ''}`))
  say(`# wrote ${argv.plot}`)
}
await world.finalize()

function printComparison(all: Row[]): void {
  const ours = all.filter((r) => r.impl === 'tsrun')
  if (argv.csv) {
    console.log(CSV_HEADER)
    for (const r of all) console.log(csvLine(r))
    return
  }
  if (argv.json) return
  console.log(
    `${'op'.padEnd(14)} ${'bytes'.padStart(10)} ${'tsrun us'.padStart(11)} ${'ompi us'.padStart(11)} ${'tsrun busbw'.padStart(12)} ${'ompi busbw'.padStart(11)} ${'busbw ratio'.padStart(12)}`,
  )
  for (const r of ours) {
    const m = all.find((x) => x.impl !== 'tsrun' && x.op === r.op && x.bytes === r.bytes)
    const ratio = m?.busbw_GBps && r.busbw_GBps ? (r.busbw_GBps / m.busbw_GBps).toFixed(2) : m ? (m.avg_us / r.avg_us).toFixed(2) + ' (lat)' : ''
    console.log(
      `${r.op.padEnd(14)} ${String(r.bytes).padStart(10)} ${r.avg_us.toFixed(1).padStart(11)} ${(m?.avg_us.toFixed(1) ?? '-').padStart(11)} ` +
        `${(r.busbw_GBps?.toFixed(3) ?? '').padStart(12)} ${(m?.busbw_GBps?.toFixed(3) ?? '').padStart(11)} ${ratio.padStart(12)}`,
    )
  }
}
