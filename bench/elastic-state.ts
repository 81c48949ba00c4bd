/**
 * How fast an elastic job's state reaches a rank that joins, against the link it crosses: a job whose ElasticState
 * holds `--mib` MiB (float32) loses a rank (`--inject-fault`), the slot is restarted and joins, and in the new world
 * every rank times `state.sync(world)` (what runElastic ran for the joiner: every array broadcast from the newest
 * member) and then a plain send/recv of the same bytes from rank 0 to the joiner (the link's bandwidth, same job,
 * same moment).
 *   npx tsrun -np 2 --elastic 2:2 --inject-fault 1:3 bench/elastic-state.ts --mib 256           # shared memory
 *   npx tsrun -H node1:1,node2:1 --elastic 2:2 --inject-fault 1:3 bench/elastic-state.ts --mib 256  # tcp between hosts
 * Rank 0 of the joined world prints one JSON line: bytes, sync seconds and GB/s, link seconds and GB/s, the ratio.
 */
import { ElasticState, elasticInfo, runElastic } from '../src/index.ts'

const at = process.argv.indexOf('--mib')
const mib = at > 0 ? Number(process.argv[at + 1]) : 256
if (!(mib > 0)) throw new Error(`--mib takes a size in MiB, got ${process.argv[at + 1]}`)
const steps = 6
const bytes = mib * 1024 * 1024
const state = new ElasticState({ arrays: { params: new Float32Array(bytes / 4) }, values: { step: 0 } })

await runElastic(state, async (world) => {
  const generation = elasticInfo()?.generation ?? 0
  if (generation > 0 && world.size > 1) {
    const joiner = world.size - 1
    await world.barrier()
    const t0 = performance.now()
    await state.sync(world)
    const syncS = (performance.now() - t0) / 1000
    const buf = new Uint8Array(bytes)
    await world.barrier()
    const t1 = performance.now()
    if (world.rank === 0) await world.send(buf, joiner, { tag: 7 })
    else if (world.rank === joiner) await world.recv(0, { tag: 7, into: buf })
    await world.barrier()
    const linkS = (performance.now() - t1) / 1000
    if (world.rank === 0) {
      const gbps = (s: number) => Number((bytes / s / 1e9).toFixed(3))
      console.log(
        JSON.stringify({
          mib,
          generation,
          size: world.size,
          syncS: Number(syncS.toFixed(3)),
          syncGBps: gbps(syncS),
          linkS: Number(linkS.toFixed(3)),
          linkGBps: gbps(linkS),
          ratio: Number((linkS / syncS).toFixed(2)),
        }),
      )
    }
  }
  const one = new Float32Array(1)
  while (state.values.step < steps) {
    await world.allreduce(one, 'sum')
    state.values.step++
    state.commit()
  }
})
