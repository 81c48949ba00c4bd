// job.mjs: the quick start in plain JavaScript: npx tsrun -np 2 job.mjs, or node job.mjs (a world of one)
import { init } from 'tsrun'

const world = await init()
const grads = new Float32Array(1024).fill(world.rank)
await world.allreduce(grads, 'sum')
console.log(`rank ${world.rank} of ${world.size}: sum of the ranks is ${grads[0]}`)
await world.finalize()
