/**
 * The α–β (Hockney) cost model of tsrun's allreduce algorithms at sizes this machine cannot run, from the latency
 * α and bandwidth B of each kind of link as bench/p2p.ts measures them (docs/cost-model.md says how):
 *   npx tsx bench/cost-model.ts --shm 1.9,9.5 --tcp 95,1.1 [--per-host 8] [--ranks 64,256,1024,4096]
 * Each link is `α in µs,B in GB/s`. A message of n bytes over a link costs α + n/B.
 * - ring: 2(p−1) steps of n/p bytes; every step waits for the slowest link of the ring, which crosses hosts.
 * - recursive doubling: log2(p) steps of n bytes; with ranks placed by host the first log2(per host) stay on
 *   the host, the others cross it.
 * - hierarchical (tsrun's): a binomial reduce to each host's leader over shared memory, the leaders' allreduce
 *   (ring or recursive doubling, whichever the model finds faster), a binomial broadcast back.
 * Prints a Markdown table: modelled µs per algorithm, and the one the model picks.
 */
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'

const argv = await yargs(hideBin(process.argv))
  .usage('npx tsx bench/cost-model.ts --shm α,B --tcp α,B [options]')
  .option('shm', { type: 'string', demandOption: true, description: 'link within a host: α µs, B GB/s (bench/p2p.ts at np=2)' })
  .option('tcp', { type: 'string', demandOption: true, description: 'link between hosts: α µs, B GB/s (bench/p2p.ts across two hosts)' })
  .option('per-host', { type: 'number', default: 8, description: 'ranks per host' })
  .option('ranks', { type: 'string', default: '64,256,1024,4096', description: 'job sizes' })
  .option('bytes', { type: 'string', default: '4,1048576,67108864', description: 'message sizes' })
  .strictOptions()
  .parse()

interface Link {
  alphaUs: number
  /** bytes per µs */
  bytesPerUs: number
}

function link(spec: string, name: string): Link {
  const [a, b] = spec.split(',').map(Number)
  if (!(a! >= 0) || !(b! > 0)) throw new Error(`--${name} wants 'α µs,B GB/s', e.g. 2.0,9.5; got '${spec}'`)
  return { alphaUs: a!, bytesPerUs: b! * 1000 }
}

const cost = (l: Link, bytes: number) => l.alphaUs + bytes / l.bytesPerUs
const shm = link(argv.shm, 'shm')
const tcp = link(argv.tcp, 'tcp')
const perHost = argv['per-host']

/** Ring allreduce over p ranks, its slowest link `l`. */
const ring = (p: number, n: number, l: Link) => (p === 1 ? 0 : 2 * (p - 1) * cost(l, n / p))
/** Recursive doubling over p ranks, the first `local` of its log2(p) steps on the host. */
const doubling = (p: number, n: number, local: number, inner: Link, outer: Link) => {
  const steps = Math.ceil(Math.log2(p))
  const onHost = Math.min(steps, local)
  return onHost * cost(inner, n) + (steps - onHost) * cost(outer, n)
}
const hierarchical = (p: number, n: number) => {
  const hosts = Math.ceil(p / perHost)
  const intra = Math.ceil(Math.log2(perHost)) * cost(shm, n)
  return 2 * intra + Math.min(ring(hosts, n, tcp), doubling(hosts, n, 0, tcp, tcp))
}

const human = (n: number) => (n >= 1 << 20 ? `${n / (1 << 20)} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`)
const fmt = (us: number) => (us >= 10_000 ? `${(us / 1000).toFixed(1)} ms` : `${us.toFixed(us >= 100 ? 0 : 1)} µs`)
console.log(`| ranks (${perHost} a host) | bytes | ring | recursive doubling | hierarchical | model picks |`)
console.log('|---|---|---|---|---|---|')
for (const p of argv.ranks.split(',').map(Number)) {
  for (const n of argv.bytes.split(',').map(Number)) {
    const t = { ring: ring(p, n, tcp), 'recursive doubling': doubling(p, n, Math.log2(perHost), shm, tcp), hierarchical: hierarchical(p, n) }
    const best = Object.entries(t).sort((a, b) => a[1] - b[1])[0]![0]
    console.log(`| ${p} | ${human(n)} | ${fmt(t.ring)} | ${fmt(t['recursive doubling'])} | ${fmt(t.hierarchical)} | ${best} |`)
  }
}
