/**
 * Memory high-water mark of one large allreduce: how much the process's peak RSS grows beyond the data
 * itself. Run: tsrun -np 2 bench/memory.ts [--mib 64] [--algorithm ring] [--iters 3]
 * Prints per rank: baseline peak RSS (data allocated and touched, runtime warmed up), peak after the
 * allreduces, and the growth as a multiple of the data size N.
 */
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { init } from 'tsrun'

const argv = await yargs(hideBin(process.argv))
  .option('mib', { type: 'number', default: 64, description: 'allreduce size in MiB' })
  .option('algorithm', { type: 'string', description: 'allreduce algorithm (default: the size table)' })
  .option('iters', { type: 'number', default: 3 })
  .strictOptions()
  .parse()

const world = await init()
const bytes = argv.mib * 1024 * 1024
const data = new Float32Array(bytes / 4).fill(1)
const opts = argv.algorithm ? { algorithm: argv.algorithm } : {}
await world.allreduce(new Float32Array(1 << 16), 'sum', opts) // warm up the transport and the kernels
const peakKiB = () => process.resourceUsage().maxRSS
const base = peakKiB()
for (let i = 0; i < argv.iters; i++) await world.allreduce(data, 'sum', opts)
const after = peakKiB()
const growth = ((after - base) * 1024) / bytes
const all = await world.gatherObject({ rank: world.rank, baseMiB: base / 1024, peakMiB: after / 1024, growthTimesN: growth }, 0)
if (world.rank === 0) {
  for (const r of all!)
    console.log(
      `rank ${r.rank}: peak RSS ${r.baseMiB.toFixed(0)} MiB before, ${r.peakMiB.toFixed(0)} MiB after ${argv.iters} allreduce(s) of ${argv.mib} MiB: +${r.growthTimesN.toFixed(2)} x N`,
    )
  console.log(JSON.stringify({ mib: argv.mib, np: world.size, maxGrowthTimesN: Math.max(...all!.map((r) => r.growthTimesN)) }))
}
await world.finalize()
