import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { BIN, fixture, leftoversAfter, ROOT, runRanks, tornLines } from '../helpers/run-ranks.ts'

test('examples/hello.ts runs on 4 ranks and the ring token comes back right', async () => {
  const run = await runRanks(4, join(ROOT, 'examples', 'hello.ts'))
  expect(run.exitCode).toBe(0)
  expect(run.stdout).toMatch(/ring: the token came back as 6 \(expected 6\) ok/)
  for (let r = 0; r < 4; r++) expect(run.stdout).toContain(`hello from rank ${r} of 4`)
})

test('ranks get TSRUN_* variables, -x variables and their arguments untouched', async () => {
  const run = await runRanks(3, 'env-report.ts', {
    flags: ['-x', 'XTEST_A=1', '-x', 'XTEST_B'],
    args: ['--epochs', '3', '-np', '9'],
    env: { XTEST_B: 'from-parent' },
  })
  expect(run.exitCode).toBe(0)
  const byRank = run.cases.sort((a, b) => a.rank - b.rank)
  expect(byRank.map((c) => [c.rank, c.size, c.localRank, c.localSize, c.nodeRank])).toEqual([
    [0, 3, 0, 3, 0],
    [1, 3, 1, 3, 0],
    [2, 3, 2, 3, 0],
  ])
  for (const c of byRank) {
    expect(c.env.TSRUN_RANK).toBe(String(c.rank))
    expect(c.env.XTEST_A).toBe('1')
    expect(c.env.XTEST_B).toBe('from-parent')
    expect(c.hasSecret).toBe(true)
    expect(c.argv.slice(0, 4)).toEqual(['--epochs', '3', '-np', '9'])
  }
  // One job id shared by all ranks, a private job directory.
  expect(new Set(byRank.map((c) => c.env.TSRUN_JOB_ID)).size).toBe(1)
  // The secret is never on a command line.
  expect(run.stdout + run.stderr).not.toMatch(/[0-9a-f]{64}/)
})

test('--tag-output prefixes every line with [1,rank]<stdout>: and <stderr>:', async () => {
  const run = await runRanks(2, 'chatty.ts', { flags: ['--tag-output'], env: { LINES: '5', WIDTH: '10' } })
  expect(run.exitCode).toBe(0)
  const out = run.stdout.trim().split('\n')
  expect(out).toHaveLength(2 * 6)
  for (const line of out) expect(line).toMatch(/^\[1,(\d)\]<stdout>: \1:/)
  for (const line of run.stderr.trim().split('\n')) expect(line).toMatch(/^\[1,(\d)\]<stderr>: \1:err/)
})

test('output of several ranks is never mixed inside a line, and a last line without newline is kept', async () => {
  const run = await runRanks(4, 'chatty.ts', { env: { LINES: '300', WIDTH: '5000' } })
  expect(run.exitCode).toBe(0)
  const lines = run.stdout.split('\n').filter(Boolean)
  expect(lines).toHaveLength(4 * 301)
  expect(tornLines(lines)).toEqual([])
})

test('a reader that closes early (tsrun ... | head) neither crashes tsrun nor stops the job', async () => {
  const child = spawn(process.execPath, [BIN, '-np', '2', fixture('chatty.ts')], {
    env: { ...process.env, LINES: '3000', WIDTH: '2000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d))
  child.stdout.once('data', () => child.stdout.destroy()) // the reader goes away after its first chunk
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  clearTimeout(killer)
  expect(stderr).not.toMatch(/EPIPE|Unhandled|rank-output/)
  expect(code).toBe(0)
})

test('stdin goes to rank 0 only', async () => {
  const run = await runRanks(3, 'stdin-echo.ts', { stdin: 'line one\nline two\n' })
  expect(run.exitCode).toBe(0)
  const byRank = Object.fromEntries(run.cases.map((c) => [c.rank, c.input]))
  expect(byRank).toEqual({ 0: 'line one\nline two\n', 1: '', 2: '' })
})

test.each([
  [['--bogus', 'x.ts'], /unknown option --bogus/],
  [['-np', '0', fixture('env-report.ts')], /-np must be a whole number of ranks >= 1, got "0"/],
  [['-np', 'two', fixture('env-report.ts')], /-np must be a whole number of ranks >= 1, got "two"/],
  [['-np', '2'], /no script given/],
  [['-np', '2', 'does/not/exist.ts'], /script 'does\/not\/exist.ts' not found/],
  [['--timeout', '0', fixture('env-report.ts')], /--timeout must be a positive number/],
  [['-x', '1BAD=2', fixture('env-report.ts')], /-x takes NAME or NAME=VALUE/],
])('bad input %j exits 2 with a clear message and starts nothing', (argv, message) => {
  // spawnSync: no mark argument, so a missing script really is missing.
  const r = spawnSync(process.execPath, [BIN, ...argv], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 })
  expect(r.status).toBe(2)
  expect(r.stderr).toMatch(message)
  expect(r.stderr).toMatch(/^tsrun: /)
  expect(r.stderr).not.toMatch(/\n\s+at /) // no stack trace
  expect(r.stdout).toBe('')
})

test('--help shows options and examples; --version shows the package version', () => {
  const help = execFileSync(process.execPath, [BIN, '--help'], { cwd: ROOT, encoding: 'utf8' })
  for (const flag of ['--np', '--tag-output', '--timeout', '-x', 'Examples:']) expect(help).toContain(flag)
  const version = execFileSync(process.execPath, [BIN, '--version'], { cwd: ROOT, encoding: 'utf8' }).trim()
  expect(version).toBe(`tsrun ${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}`)
})

test('a script run without the launcher is a world of one (singleton init)', () => {
  const tsx = join(ROOT, 'node_modules', '.bin', 'tsx')
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TSRUN_') && !k.startsWith('SLURM_')))
  const out = execFileSync(tsx, [fixture('singleton.ts')], { cwd: ROOT, encoding: 'utf8', env, timeout: 30_000 })
  expect(JSON.parse(out)).toEqual({ rank: 0, size: 1, echo: 42 })
})

test('never a silent singleton: a task of a Slurm step with several tasks forms the whole world or fails saying why', () => {
  const tsx = join(ROOT, 'node_modules', '.bin', 'tsx')
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TSRUN_') && !k.startsWith('SLURM_')))
  // Task 0 of a 2-task step whose task 1 never comes: it serves the store, waits, and names rank 1.
  const slurm = {
    SLURM_JOB_ID: '99',
    SLURM_STEP_ID: '0',
    SLURM_PROCID: '0',
    SLURM_NTASKS: '2',
    SLURM_NODEID: '0',
    SLURM_LOCALID: '0',
    SLURM_STEP_NODELIST: 'localhost',
    SLURM_STEP_TASKS_PER_NODE: '2',
    TSRUN_RENDEZVOUS_TIMEOUT: '1',
    TSRUN_STORE_PORT: String(21000 + Math.floor(Math.random() * 8000)),
  }
  const r = spawnSync(tsx, [fixture('singleton.ts')], { cwd: ROOT, encoding: 'utf8', env: { ...clean, ...slurm }, timeout: 30_000 })
  expect(r.status).not.toBe(0)
  expect(r.stderr).toMatch(/rendezvous timed out after 1 s: ranks \[1\] never arrived \(1 of 2 did\)/)
  // Another launcher's ranks (mpirun) without tsrun: refused with what to do.
  const mpi = spawnSync(tsx, [fixture('singleton.ts')], { cwd: ROOT, encoding: 'utf8', env: { ...clean, OMPI_COMM_WORLD_SIZE: '4' }, timeout: 30_000 })
  expect(mpi.status).not.toBe(0)
  expect(mpi.stderr).toMatch(/OMPI_COMM_WORLD_SIZE=4.*start the job as 'tsrun script.ts'/)
})

test('a rank that never arrives fails the rendezvous on the others, naming it', async () => {
  const run = await runRanks(3, 'no-init.ts', { env: { TSRUN_RENDEZVOUS_TIMEOUT: '2', LATE_RANK: '1' }, timeoutMs: 30_000 })
  expect(run.exitCode).toBe(5)
  const reports = run.cases.filter((c) => c.code)
  expect(reports.length).toBeGreaterThanOrEqual(1)
  for (const r of reports) {
    expect(r.code).toBe('TSRUN_RENDEZVOUS')
    expect(r.missing).toEqual([1])
    expect(r.message).toMatch(/ranks \[1\] never arrived/)
  }
  expect(run.stderr).toMatch(/tsrun: rank [02] .* exited with code 5/)
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('ranks run the JavaScript the launcher compiled once, with the TypeScript lines in stack traces; TSRUN_COMPILE=0 loads through tsx', async () => {
  const run = await runRanks(2, 'loader-report.ts', { flags: ['-x', 'XTEST_THROW=1'] })
  expect(run.exitCode).not.toBe(0)
  expect(run.cases).toHaveLength(2)
  for (const c of run.cases) {
    expect(c.execArgv.join(' ')).not.toMatch(/tsx/)
    expect(c.argv1).toBe(fixture('loader-report.ts')) // the script, not its copy
  }
  expect(run.stderr).toContain('thrown on line 9 of loader-report.ts')
  expect(run.stderr).toContain(`${fixture('loader-report.ts')}:9`)
  const tsx = await runRanks(2, 'loader-report.ts', { env: { TSRUN_COMPILE: '0' } })
  expect(tsx.exitCode).toBe(0)
  for (const c of tsx.cases) expect(c.execArgv.join(' ')).toMatch(/tsx/)
})

test('ranks of a host with no idle core compile on their own thread (V8 flag), and TSRUN_NODE_ARGS can turn that back', async () => {
  const cores = availableParallelism()
  for (const np of [1, 2]) {
    const run = await runRanks(np, 'loader-report.ts')
    expect(run.exitCode).toBe(0)
    expect(run.cases).toHaveLength(np)
    for (const c of run.cases) expect(c.execArgv.includes('--no-concurrent-recompilation')).toBe(np >= cores)
  }
  const back = await runRanks(2, 'loader-report.ts', { env: { TSRUN_NODE_ARGS: '--concurrent-recompilation' } })
  expect(back.exitCode).toBe(0)
  for (const c of back.cases) {
    const on = c.execArgv.lastIndexOf('--concurrent-recompilation')
    expect(on).toBeGreaterThanOrEqual(0)
    expect(on).toBeGreaterThan(c.execArgv.lastIndexOf('--no-concurrent-recompilation'))
  }
})

test("a rank on a host that does not see the launcher's compiled copy (no shared file system) loads the script through tsx", () => {
  const out = execFileSync(process.execPath, ['--conditions=tsrun-dev', join(ROOT, 'launcher', 'rank-main.mjs'), fixture('singleton.ts')], {
    encoding: 'utf8',
    env: { ...process.env, TSRUN_SCRIPT_MODULE: join(ROOT, 'no-such-dir', 'singleton.mjs') },
    timeout: 30_000,
  })
  expect(JSON.parse(out.trim())).toEqual({ rank: 0, size: 1, echo: 42 })
})
