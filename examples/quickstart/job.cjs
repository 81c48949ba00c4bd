// job.cjs: CommonJS. Node 20.19+ and 22.12+ load the ES module with require(); on older Node use
// `const { init } = await import('tsrun')` inside an async function instead.
const { init } = require('tsrun')

async function main() {
  const world = await init()
  const counts = await world.allreduce(new Int32Array([world.rank + 1]), 'sum')
  console.log(`rank ${world.rank} of ${world.size}: ${counts[0]}`)
  await world.finalize()
}
main()
