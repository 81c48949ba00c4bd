/**
 * Hello from every rank, then a ring of messages and a check that every rank agrees.
 * Run: npx tsrun -np 4 examples/hello.ts
 */
import { init } from 'tsrun'

const world = await init()
const { rank, size } = world
console.log(`hello from rank ${rank} of ${size} on ${world.host} (local rank ${world.localRank} of ${world.localSize})`)

// Pass a token around the ring: each rank adds its rank, so rank 0 gets back 0 + 1 + ... + (size-1).
if (size > 1) {
  if (rank === 0) {
    await world.send(new Float64Array([0]), 1)
    const { data } = await world.recv(size - 1)
    const total = (data as Float64Array)[0]
    const expected = (size * (size - 1)) / 2
    console.log(`ring: the token came back as ${total} (expected ${expected}) ${total === expected ? 'ok' : 'WRONG'}`)
    if (total !== expected) process.exitCode = 1
  } else {
    const { data } = await world.recv(rank - 1)
    const token = data as Float64Array
    token[0] += rank
    await world.send(token, (rank + 1) % size)
  }
}
await world.finalize()
