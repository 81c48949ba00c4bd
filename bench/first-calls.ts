/**
 * How a job's first small collectives compare with its warmed-up ones (cold start): after init and one barrier,
 * times each of the first --calls allreduces of --bytes on its own, then --warm more, and reports the mean of the
 * first calls, of the last 1000, and their ratio (the max over ranks of each). Also the part of the first calls'
 * time spent in calls over 0.5 ms (JIT compilation, preemption), to tell the two causes apart, and the doorbells
 * rung per 1000 warm calls (wake-ups of a peer that slept instead of polling).
 *   npx tsrun -np 2 bench/first-calls.ts [--calls 1000] [--warm 20000] [--bytes 4] [--json]
 * Compare two checkouts by alternating runs (docs/benchmarks.md).
 */
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { init } from '../src/index.ts'

const argv = await yargs(hideBin(process.argv))
  .option('calls', { type: 'number', default: 1000, description: 'first calls, timed one by one' })
  .option('warm', { type: 'number', default: 20_000, description: 'calls after them; the last 1000 give the warm mean' })
  .option('bytes', { type: 'number', default: 4, description: 'allreduce size (float32 elements × 4)' })
  .option('json', { type: 'boolean', default: false, description: 'one JSON line instead of the table' })
  .strictOptions()
  .parse()

const world = await init()
const data = new Float32Array(Math.max(1, Math.floor(argv.bytes / 4)))
await world.barrier()
const first: number[] = []
for (let i = 0; i < argv.calls; i++) {
  const t0 = performance.now()
  await world.allreduce(data, 'sum')
  first.push(performance.now() - t0)
}
const lastN = Math.min(1000, argv.warm)
for (let i = 0; i < argv.warm - lastN; i++) await world.allreduce(data, 'sum')
// Doorbells this rank rang in the last calls: wake-ups of a peer that was asleep, not polling.
const sent = (world as unknown as { state: { world: { transport: { sent?: { doorbells: number } } } } }).state.world.transport.sent
const bells = sent?.doorbells ?? 0
const t0 = performance.now()
for (let i = 0; i < lastN; i++) await world.allreduce(data, 'sum')
const warmUs = ((performance.now() - t0) * 1000) / lastN
const doorbells = (((sent?.doorbells ?? 0) - bells) * 1000) / lastN

const firstUs = (first.reduce((a, b) => a + b, 0) * 1000) / first.length
const slow = first.filter((t) => t > 0.5)
const slowShare = slow.reduce((a, b) => a + b, 0) / first.reduce((a, b) => a + b, 0)
const sorted = [...first].sort((a, b) => a - b)
const medianUs = sorted[sorted.length >> 1]! * 1000
// Every rank's figures; rank 0 reports the largest of each.
const mine = new Float64Array([firstUs, medianUs, warmUs, slowShare, slow.length, doorbells])
await world.allreduce(mine, 'max')
const [f, med, w, share, spikes, bellsPer1000] = mine as unknown as number[]
if (world.rank === 0) {
  const row = {
    np: world.size,
    bytes: data.byteLength,
    firstCalls: argv.calls,
    firstMeanUs: Number(f!.toFixed(2)),
    firstMedianUs: Number(med!.toFixed(2)),
    warmMeanUs: Number(w!.toFixed(2)),
    ratio: Number((f! / w!).toFixed(2)),
    callsOver500us: spikes,
    timeInThem: Number(share!.toFixed(2)),
    doorbellsPer1000Warm: Number(bellsPer1000!.toFixed(1)),
  }
  if (argv.json) console.log(JSON.stringify(row))
  else {
    console.log(`first ${row.firstCalls} allreduces of ${row.bytes} B at np=${row.np}: mean ${row.firstMeanUs} µs, median ${row.firstMedianUs} µs`)
    console.log(`warmed up (last 1000 of ${argv.calls + argv.warm}): mean ${row.warmMeanUs} µs; first ÷ warm = ${row.ratio}`)
    console.log(`${row.callsOver500us} of the first calls took over 0.5 ms: ${Math.round(row.timeInThem * 100)} % of their time`)
    console.log(`doorbells rung per 1000 warm calls (the most of any rank): ${row.doorbellsPer1000Warm}`)
  }
}
await world.finalize()
