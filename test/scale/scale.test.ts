// Jobs larger than the other suites run: 64 ranks on this host, and 32 ranks across eight namespace hosts over
// ssh, each running the calls of a training script with every result checked (bench/startup.ts --job).
import { expect, test } from 'vitest'
import { join } from 'node:path'
import { ROOT, runLauncher } from '../helpers/run-ranks.ts'
import { withoutLoginShellNoise } from '../cluster/cluster-env.ts'

const JOB = join(ROOT, 'bench', 'startup.ts')
interface Line {
  np: number
  fdsMax: number
  initMsMax: number
  jobMsMax: number
  fdsMaxAfterJob: number
  parents: number
  store: Record<'atInit' | 'atEnd', Record<'requests' | 'requestBytes' | 'answerBytes', { mean: number; max: number }>>
}
const lineOf = (stdout: string): Line => JSON.parse(stdout.trim().split('\n').at(-1)!) as Line

test('64 ranks on one host (32 per core) run the training calls to the end, every result right', async () => {
  const run = await runLauncher(['-np', '64', JOB, '--job'], { timeoutMs: 170_000 })
  expect(run.stderr).toBe('')
  expect(run.exitCode).toBe(0)
  const line = lineOf(run.stdout)
  expect(line.np).toBe(64)
  console.log(JSON.stringify(line)) // the figures, for the CI log
  expect(line.parents).toBe(1) // the launcher
  // Two descriptors per rank of the host (a unix stream each way) and a fixed base: no more.
  expect(line.fdsMaxAfterJob).toBeLessThanOrEqual(40 + 2 * 63)
})

test('8 hosts × 4 ranks over ssh run the training calls; links across hosts open only when used', async () => {
  const run = await runLauncher(['--hostfile', '/run/tsrun-cluster/hostfile', '-np', '32', JOB, '--job'], { timeoutMs: 170_000 })
  expect(withoutLoginShellNoise(run.stderr)).toBe('')
  expect(run.exitCode).toBe(0)
  const line = lineOf(run.stdout)
  expect(line.np).toBe(32)
  console.log(JSON.stringify(line))
  // One ssh connection per host: the four ranks of a host share one parent, the host agent.
  expect(line.parents).toBe(8)
  // After init, a barrier and two allreduces a rank is linked to its 3 host peers and to the few ranks elsewhere
  // that the algorithms pair it with; a full mesh would be about 33 + 2 × 3 + 5 × 28 = 179.
  expect(line.fdsMax).toBeLessThan(100)
  // The job's alltoall (16 B blocks) goes by Bruck's algorithm: ⌈log2 32⌉ peers, not all 28 of other hosts
  // (pairwise exchange took 2 descriptors each: about 96 here, 160 at 16 × 4).
  expect(line.fdsMaxAfterJob).toBeLessThanOrEqual(80)
  // The rendezvous reads every rank's place (about 11 B each) and the 4 addresses of the rank's host (about 200 B
  // each), in 4 requests; all 32 addresses (as before) would be about 6.1 KB. A rank that a faster peer already
  // talks to (the barrier's log2 32 = 5 partners) before its own init() returns has fetched that host's addresses.
  expect(line.store.atInit.requests.max).toBeLessThanOrEqual(4 + 5)
  expect(line.store.atInit.answerBytes.mean).toBeLessThan(3000)
})
