/**
 * In-process microbenchmarks (tinybench) of what every collective step runs besides the network: the
 * reduction kernels and the message header. No ranks: run it with plain tsx.
 *   npx tsx bench/kernels.ts [--elements 1048576] [--time 300]
 * Prints GB/s of input reduced per kernel (dst = op(dst, src) over n elements), of float32 converted to or from
 * half precision, and ns per header.
 */
import { Bench } from 'tinybench'
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { reduceInto } from '../src/collectives/reduce-ops.ts'
import { BFloat16Bits, Float16Bits, fromHalf, toHalf } from '../src/half.ts'
import { decodeHeader, encodeHeader, KIND_DATA } from '../src/transport/framing.ts'
import { NO_SIGNATURE } from '../src/transport/transport.ts'

const argv = await yargs(hideBin(process.argv))
  .option('elements', { type: 'number', default: 1 << 20, description: 'elements per reduction' })
  .option('time', { type: 'number', default: 300, description: 'milliseconds per task' })
  .strictOptions()
  .parse()

const n = argv.elements
const bench = new Bench({ time: argv.time })
const cases = [
  ['sum Float32Array', 'sum', new Float32Array(n).fill(1), new Float32Array(n).fill(2)],
  ['sum Float64Array', 'sum', new Float64Array(n).fill(1), new Float64Array(n).fill(2)],
  ['max Float32Array', 'max', new Float32Array(n).fill(1), new Float32Array(n).fill(2)],
  ['sum Int32Array', 'sum', new Int32Array(n).fill(1), new Int32Array(n).fill(2)],
  ['bxor Int32Array', 'bxor', new Int32Array(n).fill(1), new Int32Array(n).fill(2)],
  ['sum Float16Bits', 'sum', new Float16Bits(n).fill(0x3c00), new Float16Bits(n).fill(0x3c00)],
  ['sum BFloat16Bits', 'sum', new BFloat16Bits(n).fill(0x3f80), new BFloat16Bits(n).fill(0x3f80)],
] as const
for (const [name, op, dst, src] of cases) bench.add(`reduce ${name} [${n}]`, () => reduceInto(op, dst, src))
// Compression's conversions (allreduce with { compression }): float32 in, half out, and back.
const f32 = new Float32Array(n).fill(1.5)
const half = new Float16Bits(n)
bench.add(`convert toHalf Float32Array [${n}]`, () => toHalf(f32, 'fp16', half))
bench.add(`convert fromHalf Float16Bits [${n}]`, () => fromHalf(half, f32))
const header = { commId: 7, tag: -9, source: 1, dtype: 8, kind: KIND_DATA, flags: 1, seq: 42, bytes: 4096, ...NO_SIGNATURE }
const encoded = encodeHeader(header)
bench.add('encodeHeader', () => encodeHeader(header))
bench.add('decodeHeader', () => decodeHeader(encoded, 64))
await bench.run()

for (const task of bench.tasks) {
  const r = task.result as { latency?: { mean: number }; mean?: number } | undefined
  const meanMs = r?.latency?.mean ?? r?.mean ?? NaN
  const bytes =
    task.name.startsWith('reduce') || task.name.startsWith('convert')
      ? n * (task.name.includes('Float64') ? 8 : task.name.includes('16Bits') && task.name.startsWith('reduce') ? 2 : 4)
      : 0
  const rate = bytes ? `${(bytes / (meanMs * 1e6)).toFixed(2).padStart(7)} GB/s` : `${(meanMs * 1e6).toFixed(0).padStart(7)} ns`
  console.log(`${task.name.padEnd(34)} ${(meanMs * 1000).toFixed(1).padStart(10)} us  ${rate}`)
}
