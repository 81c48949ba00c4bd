// A rank that never calls a collective, or is stopped: the others say who they wait for, and with an op
// timeout they fail instead of hanging (Open MPI would wait forever).
import { expect, test } from 'vitest'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'

test('stall warnings name the rank that has not called the collective, repeated at the interval', async () => {
  const run = await runRanks(3, 'stall.ts', { flags: ['--stall-warning', '1', '--timeout', '5'], env: { SKIP_RANK: '2' }, timeoutMs: 30_000 })
  expect(run.exitCode).toBe(124) // ended by --timeout: warnings alone never end a job
  const warnings = run.stderr.split('\n').filter((l) => /waiting/.test(l))
  expect(warnings.length).toBeGreaterThanOrEqual(4) // 2 waiting ranks x at least 2 intervals
  for (const w of warnings) expect(w).toMatch(/^tsrun: rank [01]: allreduce #2 on world waiting \d+ s for ranks \[2\]; they have not called it$/)
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('--op-timeout turns the stall into a TimeoutError with the same facts on every waiting rank', async () => {
  // Supervision off, so that the first rank to give up does not end the job before the other reports.
  const run = await runRanks(3, 'stall.ts', { flags: ['--op-timeout', '3'], env: { SKIP_RANK: '0', IDLE_MS: '7000', TSRUN_SUPERVISE: '0' }, timeoutMs: 30_000 })
  const failed = run.cases.filter((c) => c.code)
  expect(failed.map((c) => c.rank).sort()).toEqual([1, 2])
  for (const f of failed) {
    expect(f.code).toBe('TSRUN_TIMEOUT')
    expect(f.message).toMatch(/allreduce #2 on world waiting 3 s for ranks \[0\]; they have not called it; gave up after the op timeout of 3 s/)
    expect(f.afterMs).toBeGreaterThanOrEqual(2900)
    expect(f.afterMs).toBeLessThan(6000)
  }
  expect(run.exitCode).toBe(8)
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('SIGSTOP of one rank: the warning names it as not answering; --op-timeout 5 fails the others in 5-10 s', async () => {
  // Supervision off, so both waiting ranks report; --timeout then ends the stopped one.
  const run = await runRanks(3, 'stall.ts', {
    flags: ['--stall-warning', '2', '--op-timeout', '5', '--timeout', '12'],
    env: { SKIP_RANK: '1', STOP: '1', TSRUN_SUPERVISE: '0' },
    timeoutMs: 30_000,
  })
  const output = run.stdout + run.stderr
  expect(run.stderr, output).toMatch(
    /tsrun: rank [02]: allreduce #2 on world waiting 2 s for ranks \[1\], which do not answer \(stopped, hung, or busy without yielding\)/,
  )
  const failed = run.cases.filter((c) => c.code)
  expect(failed.map((c) => c.rank).sort(), output).toEqual([0, 2])
  for (const f of failed) {
    expect(f.code, output).toBe('TSRUN_TIMEOUT')
    expect(f.message).toMatch(/ranks \[1\], which do not answer/)
    expect(f.afterMs, output).toBeGreaterThanOrEqual(4900)
    expect(f.afterMs, output).toBeLessThan(10_000)
  }
  expect(run.exitCode, output).toBe(8)
  expect(await leftoversAfter(run.mark)).toEqual([])
})
