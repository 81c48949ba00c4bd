/**
 * Open MPI in the same run as tsrun: builds bench/mpi/coll_bench.c (the same method as bench/collectives.ts)
 * with the machine's mpicc into a cache directory, runs it with mpirun over TCP on loopback (`tcp`, the peer of
 * tsrun's ZeroMQ tcp://) or over shared memory (`shm`, vader), and returns its rows. What is missing is said in
 * one line, with the command that installs it.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs'
import { availableParallelism, homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Row } from './report.ts'

export type MpiTransport = 'tcp' | 'shm'

const SOURCE = fileURLToPath(new URL('./mpi/coll_bench.c', import.meta.url))
const INSTALL = 'install Open MPI first, e.g. apt-get install -y openmpi-bin libopenmpi-dev'

/** A missing tool or a failed build: the message is the whole story, printed without a stack trace. */
export class MpiUnavailable extends Error {}

function which(names: string[]): string | undefined {
  for (const name of names) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim()
  }
  return undefined
}

/** Builds the benchmark once per source version; returns the binary and the mpirun to start it with. */
export function prepareMpiBench(): { binary: string; mpirun: string } {
  // Debian's plain mpicc/mpirun may point at MPICH: prefer Open MPI's own names.
  const mpicc = which(['mpicc.openmpi', 'mpicc'])
  const mpirun = which(['mpirun.openmpi', 'mpirun'])
  if (!mpicc || !mpirun) throw new MpiUnavailable(`--compare-mpi: no ${mpicc ? 'mpirun' : 'mpicc'} on PATH; ${INSTALL}`)
  const key = createHash('sha256').update(readFileSync(SOURCE)).update(mpicc).digest('hex').slice(0, 12)
  const wanted = join(process.env.TSRUN_CACHE_DIR ?? join(homedir(), '.cache', 'tsrun'), 'bench')
  const dir = mkdirOk(wanted) ? wanted : tmpdir()
  const binary = join(dir, `coll_bench-${key}`)
  if (!existsSync(binary)) {
    try {
      execFileSync(mpicc, ['-O2', '-o', `${binary}.tmp`, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] })
      renameSync(`${binary}.tmp`, binary)
    } catch (err) {
      throw new MpiUnavailable(
        `--compare-mpi: ${mpicc} could not build ${SOURCE}: ${
          String((err as { stderr?: Buffer }).stderr ?? err)
            .trim()
            .split('\n')[0]
        }`,
      )
    }
  }
  return { binary, mpirun }
}

function mkdirOk(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true })
    return true
  } catch {
    return false
  }
}

/** One run of the MPI benchmark at `np` ranks: rows with impl `openmpi-tcp` or `openmpi-shm`. */
export function runMpiBench(opts: { np: number; transport: MpiTransport; ops: string[]; sizes: number[]; seconds: number }): Row[] {
  const { binary, mpirun } = prepareMpiBench()
  const impl = `openmpi-${opts.transport}`
  const btl =
    opts.transport === 'tcp'
      ? ['--mca', 'pml', 'ob1', '--mca', 'btl', 'tcp,self', '--mca', 'btl_tcp_if_include', 'lo']
      : ['--mca', 'pml', 'ob1', '--mca', 'btl', 'vader,self']
  const args = [
    ...(process.getuid?.() === 0 ? ['--allow-run-as-root'] : []),
    ...(opts.np > availableParallelism() ? ['--oversubscribe'] : []),
    '-np',
    String(opts.np),
    ...btl,
    binary,
    impl,
    opts.ops.join(','),
    opts.sizes.join(','),
    String(opts.seconds),
  ]
  // Our TSRUN_* variables must not leak into mpirun's ranks.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TSRUN_')))
  const r = spawnSync(mpirun, args, { encoding: 'utf8', env, timeout: 900_000 })
  if (r.status !== 0)
    throw new MpiUnavailable(`--compare-mpi: ${mpirun} failed (exit ${r.status ?? r.signal}): ${r.stderr.trim().split('\n').slice(-3).join(' ')}`)
  const num = (s: string | undefined) => (s === undefined || s === '' ? undefined : Number(s))
  return r.stdout
    .trim()
    .split('\n')
    .filter((line) => line.startsWith(`${impl},`))
    .map((line) => {
      const [, op, n, bytes, avg, alg, bus] = line.split(',')
      return { impl, op: op!, np: Number(n), bytes: Number(bytes), avg_us: Number(avg), algbw_GBps: num(alg), busbw_GBps: num(bus) }
    })
}
