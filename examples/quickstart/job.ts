// job.ts: npx tsrun -np 4 job.ts   (or alone: npx tsx job.ts, a world of one rank)
import { init } from 'tsrun'

const world = await init() // world.rank, world.size
const grads = new Float32Array(1 << 20).fill(world.rank)
await world.allreduce(grads, 'avg') // in place; every rank gets the same bits
if (world.size > 1 && world.rank === 0) {
  await world.send(new Float64Array([1, 2, 3]), 1, { tag: 7 })
} else if (world.rank === 1) {
  const { data, source, tag } = await world.recv(0, { tag: 7 }) // data: Float64Array [1, 2, 3]
  console.log(`rank 1 got ${String(data)} from rank ${source} with tag ${tag}`)
}
console.log(`rank ${world.rank} of ${world.size}: average of the ranks is ${grads[0]}`)
await world.finalize()
