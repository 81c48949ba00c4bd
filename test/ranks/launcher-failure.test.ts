import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { BIN, fixture, leftoversAfter, runProcess, runRanks } from '../helpers/run-ranks.ts'

test.each([2, 4])('a rank that exits 3 ends all %i ranks within 2 s; tsrun exits 3 and names it', async (np) => {
  const failRank = np - 1
  const run = await runRanks(np, 'exit-code.ts', { env: { FAIL_RANK: String(failRank), FAIL_CODE: '3' } })
  expect(run.exitCode).toBe(3)
  const fail = run.cases.find((c) => c.failAt)!
  expect(run.stderr).toMatch(new RegExp(`tsrun: rank ${failRank} \\(pid ${fail.pid}, host \\S+\\) exited with code 3; stopped the other ${np - 1} rank`))
  expect(await leftoversAfter(run.mark, 100)).toEqual([])
})

test('the job ends within 2 s of the failure (measured from the failing rank to tsrun exit)', async () => {
  let endedAt = 0
  const run = await runRanks(3, 'exit-code.ts', {
    env: { FAIL_RANK: '1', FAIL_CODE: '7' },
    onStart: (child) => child.on('exit', () => (endedAt = Date.now())),
  })
  expect(run.exitCode).toBe(7)
  const fail = run.cases.find((c) => c.failAt)!
  expect(endedAt - fail.failAt).toBeLessThan(2000)
})

test('a rank killed by SIGKILL ends the job with 137 and a message naming the signal', async () => {
  const run = await runRanks(3, 'exit-code.ts', { env: { FAIL_RANK: '0', FAIL_SIGNAL: 'SIGKILL' } })
  expect(run.exitCode).toBe(137)
  expect(run.stderr).toMatch(/tsrun: rank 0 \(pid \d+, host \S+\) was killed by SIGKILL; stopped the other 2 ranks/)
  expect(await leftoversAfter(run.mark, 100)).toEqual([])
})

test('--timeout ends the job, exits 124 and names the ranks still running', async () => {
  const run = await runRanks(2, 'sleep-forever.ts', { flags: ['--timeout', '3'], timeoutMs: 30_000 })
  expect(run.exitCode).toBe(124)
  expect(run.stderr).toMatch(/tsrun: job timed out after 3 s; ranks \[0, 1\] were still running; stopped them/)
  expect(run.elapsedMs).toBeLessThan(10_000)
  expect(await leftoversAfter(run.mark, 100)).toEqual([])
})

/** Sends `signal` to tsrun once every rank printed ready; again after `againMs` if given. */
function signalWhenReady(np: number, signal: NodeJS.Signals, againMs?: number) {
  return (child: import('node:child_process').ChildProcess, output: () => string) => {
    const poll = setInterval(() => {
      if ((output().match(/"ready"/g) ?? []).length < np) return
      clearInterval(poll)
      child.kill(signal)
      if (againMs !== undefined) setTimeout(() => child.kill(signal), againMs)
    }, 50)
    child.on('exit', () => clearInterval(poll))
  }
}

test('Ctrl-C (SIGINT) is forwarded to every rank; tsrun ends an open progress line, says how the ranks ended, exits 130', async () => {
  const run = await runRanks(3, 'sleep-forever.ts', { env: { BAR: '1' }, onStart: signalWhenReady(3, 'SIGINT'), timeoutMs: 30_000 })
  expect(run.exitCode).toBe(130)
  expect(run.stderr).toMatch(/50%\ntsrun: received SIGINT; forwarded it to 3 ranks/)
  expect(run.stderr).toMatch(/tsrun: stopped 3 ranks \(3 killed by SIGINT\)\n$/)
  expect(await leftoversAfter(run.mark, 100)).toEqual([])
})

test('ranks that ignore Ctrl-C are killed by a second Ctrl-C at once', async () => {
  let first = 0
  let ended = 0
  const run = await runRanks(2, 'sleep-forever.ts', {
    env: { IGNORE_SIGINT: '1' },
    onStart: (child, output) => {
      signalWhenReady(2, 'SIGINT', 500)(child, output)
      child.on('exit', () => (ended = Date.now()))
      const t = setInterval(() => {
        if (/ignores SIGINT/.test(output())) {
          first ||= Date.now()
          clearInterval(t)
        }
      }, 20)
    },
    timeoutMs: 30_000,
  })
  expect(run.stdout).toMatch(/ignores SIGINT/)
  expect(run.stderr).toMatch(/received SIGINT again; killing 2 ranks now/)
  expect(run.stderr).toMatch(/tsrun: stopped 2 ranks \(2 killed by SIGKILL\)/)
  expect(run.exitCode).toBe(130)
  expect(ended - first).toBeLessThan(2500) // well before the 3 s grace
  expect(await leftoversAfter(run.mark, 100)).toEqual([])
})

test('SIGTERM to tsrun is forwarded and ends the job with 143', async () => {
  const run = await runRanks(2, 'sleep-forever.ts', { onStart: signalWhenReady(2, 'SIGTERM'), timeoutMs: 30_000 })
  expect(run.exitCode).toBe(143)
  expect(await leftoversAfter(run.mark, 100)).toEqual([])
})

test('no orphans: when tsrun is killed with SIGKILL, ranks and their children die too', async () => {
  const run = await runRanks(3, 'sleep-forever.ts', { env: { GRANDCHILD: '1' }, onStart: signalWhenReady(3, 'SIGKILL'), timeoutMs: 30_000 })
  expect(run.signal).toBe('SIGKILL')
  expect(run.cases.filter((c) => c.grandchild)).toHaveLength(3)
  // Ranks notice within their 250 ms watchdog period and kill their process groups.
  expect(await leftoversAfter(run.mark, 3000)).toEqual([])
})

test('no orphans: when a rank fails, the children that ranks started die too', async () => {
  const run = await runRanks(3, 'sleep-forever.ts', { env: { GRANDCHILD: '1' }, flags: ['--timeout', '4'], timeoutMs: 30_000 })
  expect(run.exitCode).toBe(124)
  expect(run.cases.filter((c) => c.grandchild)).toHaveLength(3)
  expect(await leftoversAfter(run.mark, 100)).toEqual([])
})

test.each([
  ['job.mts', 'import { init } from "tsrun"\nconst world = await init()\nconst x: number = ;\n', /cannot run \S+job\.mts: \S+:3:18: Unexpected ";"$/],
  ['job.mjs', 'import { nothing } from "node:path"\nconsole.log(nothing)\n', /cannot run \S+job\.mjs: .*does not provide an export named 'nothing'$/],
  ['job.ts', 'import "./missing.ts"\n', /cannot run \S+job\.ts: Cannot find module '\S+missing\.ts'/],
])('a script that cannot be loaded (%s): one line saying where and why, once, no stack trace', async (name, text, line) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-broken-'))
  try {
    writeFileSync(join(dir, name), text)
    const run = await runRanks(3, join(dir, name), { timeoutMs: 30_000 })
    expect(run.exitCode).toBe(1)
    const lines = run.stderr.trim().split('\n')
    expect(lines.filter((l) => l.includes('cannot run'))).toHaveLength(1)
    expect(lines[0]).toMatch(line)
    expect(run.stderr).not.toMatch(/^\s+at /m)
    expect(lines.at(-1)).toMatch(/tsrun: rank \d \(pid \d+, host \S+\) exited with code 1; stopped the other 2 ranks/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test("--max-restarts 2 with a rank that fails every time: three attempts, then one line listing each attempt's root cause", async () => {
  const run = await runRanks(3, 'exit-code.ts', { flags: ['--max-restarts', '2'], env: { FAIL_RANK: '2' }, timeoutMs: 60_000 })
  expect(run.exitCode).toBe(3)
  expect(run.cases.filter((c) => c.failAt)).toHaveLength(3) // started three times
  expect(run.stderr.match(/tsrun: restarting the job/g)).toHaveLength(2)
  expect(run.stderr).toMatch(/restarting the job \(restart 2 of 2, TSRUN_RESTART_COUNT=2\) after: rank 2 \(pid \d+, host [^)]+\) exited with code 3/)
  const last = run.stderr.trim().split('\n').at(-1)!
  expect(last).toMatch(
    /^tsrun: the job failed 3 times \(--max-restarts 2\); giving up\. Attempt 1: rank 2 \(pid \d+, host [^)]+\) exited with code 3\. Attempt 2: rank 2 .* exited with code 3\. Attempt 3: rank 2 .* exited with code 3$/,
  )
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('--max-restarts must be a whole number', async () => {
  const run = await runRanks(2, 'exit-code.ts', { flags: ['--max-restarts', '-1'] })
  expect(run.exitCode).toBe(2)
  expect(run.stderr).toBe('tsrun: --max-restarts must be a whole number >= 0, got "-1"\n')
})

/** The launcher under `ulimit` (bash), with its own limit on open files. */
const underUlimit = (ulimit: string, np: number, script: string, opts: { env?: Record<string, string> } = {}) =>
  runProcess('bash', (mark) => ['-c', `ulimit ${ulimit} || exit 99; exec "$0" "$@"`, process.execPath, BIN, '-np', String(np), fixture(script), mark], opts)

test('a soft limit on open files below what the job needs is raised to the hard limit, and the job runs', async () => {
  const run = await underUlimit('-Sn 50', 12, 'env-report.ts')
  expect(run.stderr).toBe('')
  expect(run.exitCode).toBe(0)
  expect(run.cases).toHaveLength(12)
})

test('a hard limit on open files too low for the job: one line saying how many are needed and what to run, before any rank starts', async () => {
  const run = await underUlimit('-n 50', 12, 'env-report.ts')
  expect(run.exitCode).toBe(2)
  expect(run.cases).toEqual([]) // no rank ran
  expect(run.stderr).toMatch(/^tsrun: the launcher, starting 12 ranks, needs about \d+ open files, but the limit is 50; run 'ulimit -n \d+' before tsrun/)
  expect(run.stderr.trim().split('\n')).toHaveLength(1)
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('a rank started by another launcher (srun, ssh) with too few open files fails in init() saying how many it needs', async () => {
  const env = { TSRUN_RANK: '0', TSRUN_SIZE: '64', TSRUN_LOCAL_RANK: '0', TSRUN_LOCAL_SIZE: '64', TSRUN_STORE: 'tcp://127.0.0.1:9', TSRUN_JOB_ID: 'fd-test' }
  const run = await runProcess(
    'bash',
    (mark) => ['-c', 'ulimit -n 100 || exit 99; exec "$0" "$@"', process.execPath, '--conditions=tsrun-dev', '--import', 'tsx', fixture('env-report.ts'), mark],
    { env },
  )
  expect(run.exitCode).not.toBe(0)
  expect(run.stderr).toMatch(/UsageError: rank 0, one of 64 on [^,]+, needs about 166 open files, but the limit is 100; run 'ulimit -n 166' before tsrun/)
})
