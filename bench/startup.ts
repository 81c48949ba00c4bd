/**
 * What a job's start costs each rank: the time from the script's first line to the end of init() and a first
 * barrier, the CPU it took, and the file descriptors a rank holds once connected (the max and mean over ranks).
 *   npx tsrun -np 64 bench/startup.ts                      # one host
 *   npx tsrun -H node1:4,node2:4,node3:4 bench/startup.ts  # across hosts
 * Prints one JSON line from rank 0. Compare two checkouts by alternating runs (docs/benchmarks.md).
 */
import { readdirSync } from 'node:fs'

const t0 = performance.now()
const { init } = await import('../src/index.ts')
const world = await init()
await world.barrier()
const initMs = performance.now() - t0
const fds = readdirSync('/proc/self/fd').length
const cpu = process.cpuUsage()
const mine = [fds, initMs, (cpu.user + cpu.system) / 1000]
const max = await world.allreduce(Float64Array.from(mine), 'max')
const sum = await world.allreduce(Float64Array.from(mine), 'sum')
if (world.rank === 0) {
  const n = world.size
  console.log(JSON.stringify({ np: n, fdsMax: max[0], fdsMean: sum[0]! / n, initMsMax: Math.round(max[1]!), cpuMsMean: Math.round(sum[2]! / n) }))
}
await world.finalize()
