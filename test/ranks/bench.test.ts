// The benchmarks run and print rows in the anchor's format (a smoke test with tiny sizes; figures come from
// running them for real, see README).
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import type { TrainRow } from '../../bench/train-plot.ts'
import { ROOT, runProcess, runRanks } from '../helpers/run-ranks.ts'

const ROW = /^tsrun(-ipc|-tcp)?,[a-z_]+,2,\d+,\d+\.\d+,(\d+\.\d+)?,(\d+\.\d+)?$/

test('bench/collectives.ts prints CSV rows for every op and writes a plot', async () => {
  const svg = join(mkdtempSync(join(tmpdir(), 'tsrun-bench-')), 'out.svg')
  const run = await runRanks(2, join(ROOT, 'bench', 'collectives.ts'), { args: ['--sizes', '4,4K', '--seconds', '0.01', '--csv', '--plot', svg] })
  expect(run.exitCode).toBe(0)
  const lines = run.stdout.trim().split('\n')
  expect(lines[0]).toBe('impl,op,np,bytes,avg_us,algbw_GBps,busbw_GBps')
  const rows = lines.slice(1)
  expect(rows).toHaveLength(8 * 2 + 1) // eight ops at two sizes, and barrier
  expect(rows.map((r) => r.split(',')[1])).toEqual(expect.arrayContaining(['allgatherv', 'alltoallv', 'scan']))
  for (const row of rows) expect(row).toMatch(ROW)
  expect(readFileSync(svg, 'utf8')).toMatch(/^<svg[\s\S]*<polyline[\s\S]*<\/svg>\n$/)
})

test('bench/p2p.ts measures ping-pong and streaming over ipc and tcp', async () => {
  for (const transport of ['ipc', 'tcp']) {
    const run = await runRanks(2, join(ROOT, 'bench', 'p2p.ts'), {
      args: ['--transport', transport, '--sizes', '8,128K', '--seconds', '0.01', '--reps', '1', '--csv'],
    })
    expect(run.exitCode).toBe(0)
    const rows = run.stdout.trim().split('\n').slice(1)
    expect(rows.map((r) => r.split(',').slice(0, 4).join())).toEqual([
      `tsrun-${transport},pingpong,2,8`,
      `tsrun-${transport},pingpong,2,131072`,
      `tsrun-${transport},bw,2,8`,
      `tsrun-${transport},bw,2,131072`,
    ])
    for (const row of rows) expect(row).toMatch(ROW)
  }
})

test('bench/memory.ts reports the peak RSS growth of a large allreduce', async () => {
  const run = await runRanks(2, join(ROOT, 'bench', 'memory.ts'), { args: ['--mib', '8', '--iters', '1'] })
  expect(run.exitCode).toBe(0)
  const summary = run.cases.find((c) => c.mib === 8)!
  expect(summary.np).toBe(2)
  expect(summary.maxGrowthTimesN).toBeGreaterThanOrEqual(0)
  expect(summary.maxGrowthTimesN).toBeLessThan(4)
})

test('bench/first-calls.ts reports the first calls against the warmed-up ones, the max over ranks', async () => {
  const run = await runRanks(2, join(ROOT, 'bench', 'first-calls.ts'), { args: ['--calls', '50', '--warm', '200', '--json'] })
  expect(run.exitCode).toBe(0)
  const row = run.cases.find((c) => c.firstCalls === 50)!
  expect([row.np, row.bytes]).toEqual([2, 4])
  expect(row.firstMeanUs).toBeGreaterThan(0)
  expect(row.warmMeanUs).toBeGreaterThan(0)
  // The means are printed rounded to 0.01 µs, the ratio to 0.01: compare within what the rounding allows.
  const exact = row.firstMeanUs / row.warmMeanUs
  expect(Math.abs(row.ratio - exact)).toBeLessThanOrEqual(0.005 + exact * (0.005 / row.firstMeanUs + 0.005 / row.warmMeanUs) + 1e-9)
  expect(row.callsOver500us).toBeLessThanOrEqual(50)
  expect(row.doorbellsPer1000Warm).toBeGreaterThanOrEqual(0)
  expect(row.doorbellsPer1000Warm).toBeLessThanOrEqual(2000) // at most one per call per peer and round
})

test('bench/startup.ts reports descriptors, start-up time and CPU per rank', async () => {
  const run = await runRanks(3, join(ROOT, 'bench', 'startup.ts'))
  expect(run.exitCode).toBe(0)
  const row = run.cases.find((c) => c.np === 3)!
  expect(row.fdsMax).toBeGreaterThanOrEqual(row.fdsMean)
  expect(row.fdsMean).toBeGreaterThan(3)
  expect(row.initMsMax).toBeGreaterThan(0)
  expect(row.cpuMsMean).toBeGreaterThan(0)
})

test('bench/train.ts measures samples/s, comm share and efficiency per mode and rank count, and plots them', async () => {
  const svg = join(mkdtempSync(join(tmpdir(), 'tsrun-bench-')), 'train.svg')
  const run = await runProcess(
    process.execPath,
    () => [
      '--import',
      'tsx',
      join(ROOT, 'bench', 'train.ts'),
      '--np',
      '1,2',
      '--models',
      'mnist',
      '--steps',
      '3',
      '--warmup',
      '1',
      '--reps',
      '1',
      '--json',
      '--plot',
      svg,
    ],
    { timeoutMs: 120_000 },
  )
  expect(run.exitCode).toBe(0)
  const rows = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as TrainRow[]
  expect(rows.map((r) => `${r.mode}@${r.np}`)).toEqual(['sync@1', 'sync@2', 'hybrid@2', 'local@2'])
  for (const r of rows) {
    expect(r.samplesPerSec).toBeGreaterThan(0)
    expect(r.commShare).toBeGreaterThanOrEqual(0)
    expect(r.commShare).toBeLessThan(1)
    expect(r.params).toBe(101_770)
  }
  expect(rows.find((r) => r.mode === 'local')!.commShare).toBe(0) // no communication at all
  expect(rows.find((r) => r.mode === 'sync' && r.np === 2)!.commShare).toBeGreaterThan(0)
  expect(readFileSync(svg, 'utf8')).toMatch(/^<svg[\s\S]*mnist: samples\/s[\s\S]*<polyline[\s\S]*<\/svg>\n$/)
})

test('--compare-mpi without Open MPI on PATH: one line saying what to install, exit 2, nothing measured', async () => {
  const bin = mkdtempSync(join(tmpdir(), 'tsrun-nompi-'))
  symlinkSync(process.execPath, join(bin, 'node'))
  const run = await runRanks(2, join(ROOT, 'bench', 'collectives.ts'), { args: ['--compare-mpi', '--sizes', '4'], env: { PATH: bin } })
  expect(run.exitCode).toBe(2)
  expect(run.stderr.split('\n')[0]).toBe(
    'bench/collectives.ts: --compare-mpi: no mpicc on PATH; install Open MPI first, e.g. apt-get install -y openmpi-bin libopenmpi-dev',
  )
  expect(run.stderr).not.toMatch(/^\s+at /m)
  expect(run.stdout).toBe('')
})
