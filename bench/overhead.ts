/**
 * What the communicator itself costs per call, with no network: a world of one (no launcher) runs allreduce of
 * 4 bytes and barrier in a loop. Every call still validates, picks an algorithm, takes a tag, records its
 * signature, builds a context and runs under the guard; only the transport is idle. Run it with plain tsx:
 *   npx tsx bench/overhead.ts [--calls 200000] [--rounds 3]
 * Prints one JSON line per round: µs per call. Compare two checkouts by alternating them (docs/benchmarks.md).
 */
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { init } from '../src/index.ts'

const argv = await yargs(hideBin(process.argv))
  .option('calls', { type: 'number', default: 200_000, description: 'calls per measurement' })
  .option('rounds', { type: 'number', default: 3, description: 'rounds (the first warms up)' })
  .strictOptions()
  .parse()

const world = await init()
const data = new Float32Array(1)
for (let round = 0; round < argv.rounds; round++) {
  const t0 = performance.now()
  for (let i = 0; i < argv.calls; i++) await world.allreduce(data, 'sum')
  const t1 = performance.now()
  for (let i = 0; i < argv.calls; i++) await world.barrier()
  const t2 = performance.now()
  const us = (ms: number) => Number(((ms * 1000) / argv.calls).toFixed(2))
  console.log(JSON.stringify({ round, allreduceUs: us(t1 - t0), barrierUs: us(t2 - t1) }))
}
await world.finalize()
