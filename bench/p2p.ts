/**
 * Point-to-point benchmark (OSU osu_latency / osu_bw style), run on 2 ranks:
 *   tsrun -np 2 bench/p2p.ts [--transport auto|ipc|tcp] [--sizes 8,1K,64M] [--csv|--json]
 * pingpong: half the round trip of one message and its echo (avg_us), algbw = bytes / half round trip.
 * bw: rank 0 streams a window of messages, rank 1 answers once per window; algbw = bytes moved / time.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { CSV_HEADER, csvLine, median, parseSizes, TABLE_HEADER, tableLine, type Row } from './report.ts'

const argv = await yargs(hideBin(process.argv))
  .usage('tsrun -np 2 bench/p2p.ts [options]')
  .option('transport', {
    choices: ['auto', 'ipc', 'tcp'] as const,
    default: 'auto' as const,
    description: 'auto: what tsrun picks (unix-domain streams and shared memory on one host); ipc, tcp: ZeroMQ only',
  })
  .option('sizes', { type: 'string', description: 'comma-separated sizes (default 8 B and 4 B..64 MiB in powers of 4)' })
  .option('seconds', { type: 'number', default: 0.3, description: 'target time per size and repetition' })
  .option('reps', { type: 'number', default: 3, description: 'repetitions per size; the median is reported' })
  .option('csv', { type: 'boolean', default: false })
  .option('json', { type: 'boolean', default: false })
  .option('header', { type: 'boolean', default: true, description: 'print the CSV header' })
  .option('compare-floor', {
    type: 'boolean',
    default: false,
    description: 'ping-pong only, alternating each rep with two bare processes (bench/floor.mjs) over ZeroMQ ipc:// and over unix streams; medians',
  })
  .strictOptions()
  .parse()

process.env.TSRUN_TRANSPORT = argv.transport
const { init } = await import('tsrun')
const world = await init()
if (world.size !== 2) throw new Error(`bench/p2p.ts needs exactly 2 ranks, got ${world.size}; run: tsrun -np 2 bench/p2p.ts`)
const impl = `tsrun-${argv.transport}`
const sizes = argv.sizes ? parseSizes(argv.sizes) : [8, ...Array.from({ length: 13 }, (_, i) => 4 ** (i + 1))].sort((a, b) => a - b)
const peer = 1 - world.rank
const rows: Row[] = []

/** Both ranks agree on an iteration count from rank 0's probe so they stay in lockstep. */
async function agree(n: number): Promise<number> {
  if (world.rank === 0) await world.send(new Float64Array([n]), 1, { tag: 99 })
  else n = ((await world.recv(0, { tag: 99 })).data as Float64Array)[0]
  return n
}

// Receives go into preallocated buffers, as in OSU's benchmarks (and as an application's hot loop would).
async function pingpong(buf: Uint8Array, iters: number): Promise<number> {
  const into = new Uint8Array(buf.length)
  const t0 = performance.now()
  for (let i = 0; i < iters; i++) {
    if (world.rank === 0) {
      const reply = world.recv(peer, { tag: 1, into })
      await world.send(buf, peer, { tag: 1 })
      await reply
    } else {
      await world.recv(peer, { tag: 1, into })
      await world.send(into, peer, { tag: 1 })
    }
  }
  return ((performance.now() - t0) * 1000) / iters / 2
}

async function stream(buf: Uint8Array, iters: number, window: number): Promise<number> {
  const ack = new Uint8Array(1)
  const into = new Uint8Array(buf.length)
  const t0 = performance.now()
  for (let i = 0; i < iters; i++) {
    if (world.rank === 0) {
      await Promise.all(Array.from({ length: window }, () => world.send(buf, peer, { tag: 2 })))
      await world.recv(peer, { tag: 3 })
    } else {
      for (let w = 0; w < window; w++) await world.recv(peer, { tag: 2, into })
      await world.send(ack, peer, { tag: 3 })
    }
  }
  return ((performance.now() - t0) * 1000) / iters
}

async function measure(bytes: number, kind: 'pingpong' | 'bw'): Promise<number> {
  const buf = new Uint8Array(bytes).fill(1)
  const window = kind === 'bw' ? Math.max(1, Math.min(64, Math.floor((64 << 20) / Math.max(bytes, 1)))) : 1
  const run = (n: number) => (kind === 'pingpong' ? pingpong(buf, n) : stream(buf, n, window))
  // Warm up (JIT, connections, allocator) until a batch takes >= 200 ms; its time per iteration sets the count.
  // Rank 0 decides every step and tells rank 1, so the two never disagree about what comes next.
  let n = 1
  let perIter = 0
  for (;;) {
    n = await agree(n)
    const t0 = performance.now()
    await run(n)
    const ms = performance.now() - t0
    perIter = (ms * 1000) / n
    if (await agree(ms >= 200 || n >= 1 << 16 ? 1 : 0)) break
    n *= 4
  }
  const iters = await agree(Math.max(3, Math.min(200_000, Math.round((argv.seconds * 1e6) / perIter))))
  const times: number[] = []
  for (let r = 0; r < argv.reps; r++) times.push(await run(iters))
  const us = median(times)
  return kind === 'pingpong' ? us : us / window
}

/** Two bare processes, no tsrun code (bench/floor.mjs): half round trip in µs. */
function floor(kind: 'zmq' | 'unix', bytes: number, iters: number): number {
  const script = fileURLToPath(new URL('./floor.mjs', import.meta.url))
  const r = spawnSync(process.execPath, [script, kind, String(bytes), String(iters)], { encoding: 'utf8', timeout: 120_000 })
  const us = Number(r.stdout.trim().split(',')[2])
  if (r.status !== 0 || !Number.isFinite(us)) throw new Error(`bench/floor.mjs ${kind} ${bytes} failed: ${r.stderr.trim().split('\n')[0]}`)
  return us
}

if (argv['compare-floor']) {
  // Alternate: tsrun's ping-pong for every size, then the two floors for every size, --reps times; medians.
  const times = new Map<string, number[]>()
  const add = (k: string, us: number) => times.set(k, [...(times.get(k) ?? []), us])
  const reps = argv.reps
  argv.reps = 1
  for (let rep = 0; rep < reps; rep++) {
    for (const bytes of sizes) add(`${impl}|${bytes}`, await measure(bytes, 'pingpong'))
    await world.barrier()
    if (world.rank === 0) {
      for (const bytes of sizes) {
        const iters = Math.max(200, Math.min(3000, Math.round(2e5 / Math.max(1, median(times.get(`${impl}|${bytes}`)!)))))
        for (const kind of ['zmq', 'unix'] as const) add(`floor-${kind}|${bytes}`, floor(kind, bytes, iters))
      }
    }
    await world.barrier()
  }
  if (world.rank === 0) {
    console.log(
      `${'bytes'.padStart(10)} ${impl.padStart(12)} ${'floor-zmq'.padStart(10)} ${'floor-unix'.padStart(11)} ${'tsrun/zmq'.padStart(10)}  (half round trip, µs; medians of ${reps})`,
    )
    for (const bytes of sizes) {
      const [t, z, u] = [`${impl}|${bytes}`, `floor-zmq|${bytes}`, `floor-unix|${bytes}`].map((k) => median(times.get(k)!))
      console.log(
        `${String(bytes).padStart(10)} ${t!.toFixed(1).padStart(12)} ${z!.toFixed(1).padStart(10)} ${u!.toFixed(1).padStart(11)} ${(t! / z!).toFixed(2).padStart(10)}`,
      )
    }
  }
  await world.finalize()
  process.exit(0)
}

if (world.rank === 0 && !argv.json) console.log(argv.csv ? (argv.header ? CSV_HEADER : '') : TABLE_HEADER)
for (const kind of ['pingpong', 'bw'] as const) {
  for (const bytes of sizes) {
    const us = await measure(bytes, kind)
    const gbps = us > 0 ? bytes / us / 1000 : 0
    const row: Row = { impl, op: kind, np: 2, bytes, avg_us: us, algbw_GBps: gbps, busbw_GBps: gbps }
    rows.push(row)
    if (world.rank === 0 && !argv.json) console.log(argv.csv ? csvLine(row) : tableLine(row))
  }
}
if (world.rank === 0 && argv.json) console.log(JSON.stringify(rows))
await world.finalize()
