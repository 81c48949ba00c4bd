/**
 * What a job's start costs each rank: the time from the process's start to the end of init() and a first
 * barrier, the CPU it took, and the file descriptors a rank holds once connected (the max and mean over ranks).
 * With --job, each rank then runs the calls a training script makes (barrier, allreduce of 8 B, 1 MiB and 4 MiB,
 * broadcast, alltoall, allgather, split), checks every result, and the line gains the job's time and the
 * descriptors held at its end.
 *   npx tsrun -np 64 bench/startup.ts                      # one host
 *   npx tsrun -np 128 bench/startup.ts --job               # the scale job of issue #21
 *   npx tsrun -H node1:4,node2:4,node3:4 bench/startup.ts  # across hosts
 * `store` is what a rank asked of the rendezvous store and got from it, by the end of init() and by the end
 * (through the job, and a gather to rank 0): requests, bytes sent, bytes answered, the mean and max over ranks
 * (the addresses of another host's ranks are fetched when one of them is first linked). `parents` is the number of distinct processes that started the ranks (one per
 * host when the launcher starts them over one ssh connection per host). Prints one JSON line from rank 0. Compare two checkouts by alternating runs (docs/benchmarks.md).
 */
import { readdirSync } from 'node:fs'

const { init } = await import('../src/index.ts')
const { storeTraffic } = await import('../src/bootstrap/zmq/store-client.ts')
const world = await init()
const atInit = Float64Array.of(storeTraffic.requests, storeTraffic.requestBytes, storeTraffic.answerBytes)
await world.barrier()
// From the process's start (performance's time origin), so that loading the script and tsrun counts however
// they are loaded (through tsx, or compiled into one module that Node parses before the first line runs).
const initMs = performance.now()
const fdsAtInit = readdirSync('/proc/self/fd').length
const cpu = process.cpuUsage()

/** The training-script calls, each result checked against its closed form; throws on a wrong one. */
async function job(): Promise<void> {
  const n = world.size
  const r = world.rank
  const expectEqual = (what: string, got: number, want: number) => {
    if (got !== want) throw new Error(`rank ${r}: ${what} gave ${got}, expected ${want}`)
  }
  await world.barrier()
  for (const elements of [2, 256 * 1024, 1024 * 1024]) {
    const sum = await world.allreduce(new Float32Array(elements).fill(r + 1), 'sum')
    expectEqual(`allreduce of ${elements * 4} B`, sum[elements - 1]!, (n * (n + 1)) / 2)
  }
  const root = n - 1
  const b = await world.broadcast(new Int32Array(4096).fill(r === root ? 7 : 0), root)
  expectEqual('broadcast', b[4095]!, 7)
  const a2a = await world.alltoall(Int32Array.from({ length: n * 16 }, (_, i) => r * 1_000_000 + Math.floor(i / 16)))
  for (let p = 0; p < n; p++) expectEqual(`alltoall block from ${p}`, a2a[p * 16]!, p * 1_000_000 + r)
  const all = await world.allgather(Int32Array.of(r))
  for (let p = 0; p < n; p++) expectEqual('allgather', all[p]!, p)
  const half = (await world.split(r % 2))!
  const halfSum = await half.allreduce(Int32Array.of(1), 'sum')
  expectEqual('allreduce on a split', halfSum[0]!, r % 2 === 0 ? Math.ceil(n / 2) : Math.floor(n / 2))
  await world.barrier()
}

const extra: Record<string, number> = {}
if (process.argv.includes('--job')) {
  const j0 = performance.now()
  await job()
  const jobMs = performance.now() - j0
  const end = await world.allreduce(Float64Array.of(readdirSync('/proc/self/fd').length, jobMs), 'max')
  extra.jobMsMax = Math.round(end[1]!)
  extra.fdsMaxAfterJob = end[0]!
}
const mine = [fdsAtInit, initMs, (cpu.user + cpu.system) / 1000]
const max = await world.allreduce(Float64Array.from(mine), 'max')
const sum = await world.allreduce(Float64Array.from(mine), 'sum')
// After the figures above (every rank has counted its descriptors): a gather to rank 0 links every rank to it.
// The processes that started the ranks: the launcher on its own host, one host agent per other host (one ssh
// connection each), or srun's step daemons.
const parents = await world.gatherObject(`${world.host} ${process.ppid}`, 0)
if (parents) extra.parents = new Set(parents).size
// What each rank asked of the store and got from it, by the end of init() and by now (the links made since
// fetched addresses); the allreduces that count it link no new peers: rank 0's gather above linked them all.
const now = Float64Array.of(storeTraffic.requests, storeTraffic.requestBytes, storeTraffic.answerBytes)
async function traffic(t: Float64Array) {
  const [tSum, tMax] = [await world.allreduce(t.slice(), 'sum'), await world.allreduce(t.slice(), 'max')]
  const perRank = (i: number) => ({ mean: Math.round(tSum[i]! / world.size), max: tMax[i]! })
  return { requests: perRank(0), requestBytes: perRank(1), answerBytes: perRank(2) }
}
const store = { atInit: await traffic(atInit), atEnd: await traffic(now) }
if (world.rank === 0) {
  const n = world.size
  console.log(
    JSON.stringify({ np: n, fdsMax: max[0], fdsMean: sum[0]! / n, initMsMax: Math.round(max[1]!), cpuMsMean: Math.round(sum[2]! / n), ...extra, store }),
  )
}
await world.finalize()
