/**
 * How fast an elastic job's state reaches a rank that joins, against the link it crosses: a job whose ElasticState
 * holds `--mib` MiB (float32) loses a rank (`--inject-fault`), the slot is restarted and joins, and in the new world
 * the ranks time the `state.sync(world)` runElastic runs for the joiner (the members holding the newest commit send
 * it, each a part, at once; timed from a barrier to the last rank done), then a plain send of the same bytes from
 * rank 0 to the joiner into memory touched before (the link's bandwidth, same job, same moment).
 *   npx tsrun -np 2 --elastic 2:2 --inject-fault 1:3 bench/elastic-state.ts --mib 256           # one holder, shared memory
 *   npx tsrun -np 3 --elastic 2:3 --inject-fault 1:3 bench/elastic-state.ts --mib 256           # two holders
 *   npx tsrun -H node1:1,node2:1 --elastic 2:2 --inject-fault 1:3 bench/elastic-state.ts --mib 256  # tcp between hosts
 * Rank 0 of the joined world prints one JSON line: bytes, holders, sync seconds and GB/s, link seconds and GB/s, the ratio.
 */
import { ElasticState, elasticInfo, runElastic, type Communicator, type Resumable } from '../src/index.ts'

const at = process.argv.indexOf('--mib')
const mib = at > 0 ? Number(process.argv[at + 1]) : 256
if (!(mib > 0)) throw new Error(`--mib takes a size in MiB, got ${process.argv[at + 1]}`)
const steps = 6
const bytes = mib * 1024 * 1024
const state = new ElasticState({ arrays: { params: new Float32Array(bytes / 4) }, values: { step: 0 } })

/** The state, its sync timed in every generation after the first (what the joiner waited for). */
const timed: Resumable & { syncS?: number; holders?: number } = {
  async sync(world: Communicator) {
    if ((elasticInfo()?.generation ?? 0) === 0) return state.sync(world)
    const before = state.commits
    await world.barrier()
    const t0 = performance.now()
    await state.sync(world)
    timed.syncS = (await world.allreduce(Float64Array.of((performance.now() - t0) / 1000), 'max'))[0]!
    timed.holders = (await world.allreduce(Int32Array.of(before === state.commits ? 1 : 0), 'sum'))[0]!
  },
  restore: () => state.restore(),
  get step() {
    return state.step
  },
}

await runElastic(timed, async (world) => {
  const generation = elasticInfo()?.generation ?? 0
  if (timed.syncS !== undefined && world.size > 1) {
    const joiner = world.size - 1
    const buf = new Uint8Array(bytes).fill(1) // touched first: the link's figure pays no page faults
    await world.barrier()
    const t1 = performance.now()
    if (world.rank === 0) await world.send(buf, joiner, { tag: 7 })
    else if (world.rank === joiner) await world.recv(0, { tag: 7, into: buf })
    await world.barrier()
    const linkS = (performance.now() - t1) / 1000
    if (world.rank === 0) {
      const gbps = (s: number) => Number((bytes / s / 1e9).toFixed(3))
      const syncS = timed.syncS
      console.log(
        JSON.stringify({
          mib,
          generation,
          size: world.size,
          holders: timed.holders,
          syncS: Number(syncS.toFixed(3)),
          syncGBps: gbps(syncS),
          linkS: Number(linkS.toFixed(3)),
          linkGBps: gbps(linkS),
          ratio: Number((linkS / syncS).toFixed(2)),
        }),
      )
    }
    timed.syncS = undefined
  }
  const one = new Float32Array(1)
  // Steps go on (a few ms each) until the lost slot's new rank has joined, so that there is a join to time.
  const full = () => world.size >= (elasticInfo()?.max ?? 1)
  while (state.values.step < steps || (!full() && state.values.step < 5000)) {
    if (state.values.step >= steps) await new Promise((r) => setTimeout(r, 5))
    await world.allreduce(one, 'sum')
    state.values.step++
    state.commit()
  }
})
