// Real Slurm: slurmctld and one slurmd per namespace host (node1..node3).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import type { ChromeTrace } from '../../src/trace-offline/merge.ts'
import { BIN, fixture, leftoversAfter, ROOT, type Run, runProcess } from '../helpers/run-ranks.ts'
import { clusterEnv } from './cluster-env.ts'
import { COLLECTIVE_CASES } from '../helpers/collective-cases.ts'

const cluster = clusterEnv()
const srun = (args: string[], script: (mark: string) => string[], timeoutMs = 90_000, env: Record<string, string> = {}) =>
  runProcess('srun', (mark) => [...args, ...script(mark), mark], { env: { ...cluster.slurmEnv, ...env }, timeoutMs })
const ranksOf = (cases: Run['cases']) => cases.filter((c) => c.env).sort((a, b) => a.rank - b.rank)

test('srun -N 3 -n 3 tsrun: each task is one rank; collectives work across the nodes', async () => {
  const run = await srun(['-N', '3', '-n', '3'], () => [process.execPath, BIN, fixture('collective-cases.ts')], 150_000)
  expect(run.cases.filter((c) => c.case && !c.ok)).toEqual([])
  expect(run.cases.filter((c) => c.done).map((c) => c.count)).toEqual(Array(3).fill(COLLECTIVE_CASES))
  expect(run.exitCode).toBe(0)
})

test('srun -n 6 without tsrun: the script joins from Slurm variables alone (rank 0 serves the store)', async () => {
  const run = await srun(['-N', '3', '-n', '6', '--overcommit'], () => [process.execPath, '--import', 'tsx', fixture('env-report.ts')])
  expect(run.exitCode).toBe(0)
  expect(ranksOf(run.cases).map((r) => [r.rank, r.size, r.hostname, r.nodeRank, r.localRank, r.localSize])).toEqual([
    [0, 6, 'node1', 0, 0, 2],
    [1, 6, 'node1', 0, 1, 2],
    [2, 6, 'node2', 1, 0, 2],
    [3, 6, 'node2', 1, 1, 2],
    [4, 6, 'node3', 2, 0, 2],
    [5, 6, 'node3', 2, 1, 2],
  ])
})

test("TSRUN_RANK/TSRUN_SIZE set by hand win over Slurm's", async () => {
  const run = await srun(['-N', '1', '-n', '1'], () => [process.execPath, '--import', 'tsx', fixture('singleton.ts')], 60_000, {
    TSRUN_RANK: '0',
    TSRUN_SIZE: '1',
  })
  expect(run.exitCode).toBe(0)
  expect(run.cases).toEqual([{ rank: 0, size: 1, echo: 42 }])
})

test('a rank failing under srun --kill-on-bad-exit ends the step; tsrun names the rank and host', async () => {
  const run = await srun(['-K', '-N', '3', '-n', '3'], () => [process.execPath, BIN, '-x', 'X=1', fixture('exit-code.ts')], 60_000, { FAIL_RANK: '2' })
  expect(run.exitCode).not.toBe(0)
  expect(run.stderr).toMatch(/tsrun: rank 2 \(pid \d+, host node3\) exited with code 3/)
  expect(await leftoversAfter(run.mark, 5000)).toEqual([])
})

function batchScript(body: string): { script: string; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-sbatch-'))
  const script = join(dir, 'job.sh')
  writeFileSync(script, `#!/bin/bash\ncd ${ROOT}\n${body}\n`)
  return { script, out: join(dir, 'out.txt') }
}

test('sbatch --wait with tsrun inside: tsrun uses the allocation and starts the ranks with srun', async () => {
  const job = batchScript(`"${process.execPath}" "${BIN}" "${fixture('env-report.ts')}"`)
  const run = await runProcess('sbatch', () => ['-N', '3', '--ntasks-per-node', '2', '-O', '--wait', '-o', job.out, job.script], {
    env: cluster.slurmEnv,
    timeoutMs: 120_000,
  })
  expect(run.exitCode).toBe(0)
  const lines = readFileSync(job.out, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
  expect(ranksOf(lines).map((r) => [r.rank, r.size, r.hostname])).toEqual([
    [0, 6, 'node1'],
    [1, 6, 'node1'],
    [2, 6, 'node2'],
    [3, 6, 'node2'],
    [4, 6, 'node3'],
    [5, 6, 'node3'],
  ])
  for (const r of lines) expect(r.hasSecret).toBe(true) // tsrun made a secret for the step
})

test('sbatch with tsrun --elastic inside: a rank killed on another node is started again there through its srun step and joins; every position used once', async () => {
  const job = batchScript(`READY=1 "${process.execPath}" "${BIN}" --elastic 2:3 --inject-fault 1:40 "${fixture('elastic-ids.ts')}" 3000 2 24 20`)
  const run = await runProcess('sbatch', () => ['-N', '3', '--ntasks-per-node', '1', '-O', '--wait', '-o', job.out, job.script], {
    env: cluster.slurmEnv,
    timeoutMs: 150_000,
  })
  const out = readFileSync(job.out, 'utf8')
  if (run.exitCode !== 0) console.log(out)
  expect(run.exitCode).toBe(0)
  expect(out).toMatch(/tsrun: rank 1 \(pid \d+, host node2\) was killed by SIGKILL; the elastic job goes on without it/)
  expect(out).toMatch(/tsrun: world 3 → 2 after rank 1 \(host node2\) was lost; resumed at step \d+ in \d+\.\d+ s/)
  expect(out).toMatch(/tsrun: world 2 → 3 with 1 joining; resumed at step \d+ in \d+\.\d+ s/)
  const r = JSON.parse(/ELASTIC-RESULT (\{.*\})/.exec(out)![1]!)
  expect(r).toMatchObject({ ok: true, bad: 0, size: 3, same: true })
  // The ranks of the first world: one per node, node2's and node3's started by their srun steps.
  const ready = out
    .split('\n')
    .filter((l) => l.startsWith('{"ready"'))
    .map((l) => JSON.parse(l) as { generation: number })
  expect(ready.filter((x) => x.generation === 0)).toHaveLength(3)
}, 180_000)

test("sbatch with tsrun --elastic inside: node3's srun step cancelled (its ranks gone with it) — the job goes on without them, node3 is started again and rejoins", async () => {
  // The batch script starts tsrun, waits for the first world to train, then cancels the step that runs node3's ranks.
  const job = batchScript(
    [
      `READY=1 "${process.execPath}" "${BIN}" --elastic 2:3 "${fixture('elastic-ids.ts')}" 3000 2 24 20 &`,
      'tsrun=$!',
      'for i in $(seq 1 200); do [ "$(grep -c \'"generation":0\' "$OUT")" -ge 3 ] && break; sleep 0.1; done',
      'step=$(squeue -h -s -j "$SLURM_JOB_ID" -o "%i %N" | awk \'$2 == "node3" { print $1; exit }\')',
      'echo "cancelling step $step on node3"',
      'scancel "$step"',
      'wait $tsrun',
    ].join('\n'),
  )
  const run = await runProcess(
    'sbatch',
    () => ['-N', '3', '--ntasks-per-node', '1', '-O', '--wait', '-o', job.out, '--export', `ALL,OUT=${job.out}`, job.script],
    {
      env: cluster.slurmEnv,
      timeoutMs: 150_000,
    },
  )
  const out = readFileSync(job.out, 'utf8')
  if (run.exitCode !== 0) console.log(out)
  expect(run.exitCode).toBe(0)
  expect(out).toMatch(/cancelling step \d+\.\d+ on node3/)
  expect(out).toMatch(/tsrun: world 3 → 2 after rank 2 \(host node3\) was lost; resumed at step \d+ in \d+\.\d+ s/)
  expect(out).toMatch(/tsrun: world 2 → 3 with 1 joining; resumed at step \d+ in \d+\.\d+ s/)
  const r = JSON.parse(/ELASTIC-RESULT (\{.*\})/.exec(out)![1]!)
  expect(r).toMatchObject({ ok: true, bad: 0, size: 3, same: true })
}, 180_000)

test('srun tsrun --elastic: one line saying to run it from the batch script, exit 2', async () => {
  const run = await srun(['-N', '1', '-n', '1'], () => [process.execPath, BIN, '--elastic', '1:2', fixture('elastic-ids.ts')], 60_000)
  expect(run.exitCode).toBe(2)
  expect(run.stderr).toMatch(/--elastic under srun: each task is one rank.*run tsrun --elastic from the batch script/)
})

test('sbatch: a failing rank fails the job, and the output names it', async () => {
  const job = batchScript(`FAIL_RANK=3 "${process.execPath}" "${BIN}" "${fixture('exit-code.ts')}"`)
  const run = await runProcess('sbatch', () => ['-N', '2', '--ntasks-per-node', '2', '-O', '--wait', '-o', job.out, job.script], {
    env: cluster.slurmEnv,
    timeoutMs: 120_000,
  })
  expect(run.exitCode).not.toBe(0)
  expect(readFileSync(job.out, 'utf8')).toMatch(/tsrun: rank 3 \(pid \d+, host node2\) exited with code 3/)
})

test('the example job script in examples/slurm runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-example-'))
  const out = join(dir, 'out.txt')
  const run = await runProcess(
    'sbatch',
    () => ['-N', '3', '--ntasks-per-node', '1', '-O', '--wait', '-o', out, '--chdir', ROOT, join(ROOT, 'examples', 'slurm', 'job.sh')],
    { env: cluster.slurmEnv, timeoutMs: 120_000 },
  )
  expect(run.exitCode).toBe(0)
  expect(readFileSync(out, 'utf8')).toMatch(/ring: the token came back as 3 \(expected 3\) ok/)
})

test('the example training job in examples/slurm trains across 3 nodes and, submitted again, resumes from its checkpoint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-example-'))
  const submit = (out: string) =>
    runProcess(
      'sbatch',
      () => [
        '-N',
        '3',
        '--ntasks-per-node',
        '1',
        '-O',
        '--wait',
        '-o',
        out,
        '--chdir',
        ROOT,
        join(ROOT, 'examples', 'slurm', 'train.sh'),
        '--epochs',
        '2',
        '--json',
      ],
      {
        env: { ...cluster.slurmEnv, CKPT: join(dir, 'ckpt') },
        timeoutMs: 150_000,
      },
    )
  const first = await submit(join(dir, 'first.txt'))
  expect(first.exitCode).toBe(0)
  const one = readFileSync(join(dir, 'first.txt'), 'utf8')
  expect(one).toMatch(/^test accuracy: 0\.9\d{3}$/m)
  const again = await submit(join(dir, 'again.txt'))
  expect(again.exitCode).toBe(0)
  // Everything was done already: the second job restores the final checkpoint and trains no further.
  const summary = (text: string) => JSON.parse(text.split('\n').find((l) => l.startsWith('{"ranks"'))!)
  expect(summary(readFileSync(join(dir, 'again.txt'), 'utf8')).steps).toBe(summary(one).steps)
  expect(summary(readFileSync(join(dir, 'again.txt'), 'utf8')).testAccuracy).toBe(summary(one).testAccuracy)
})

test('srun without --kill-on-bad-exit: a killed rank does not leave the others hanging (the transport notices)', async () => {
  const run = await srun(['-N', '3', '-n', '3'], () => [process.execPath, BIN, fixture('allreduce-loop.ts')], 60_000, {
    KILL_RANK: '2',
    KILL_AFTER: '2',
    MIB: '4',
  })
  expect(run.timedOut).toBe(false)
  const killed = run.cases.find((c) => c.killedAt)!
  const survivors = run.cases.filter((c) => c.code)
  expect(survivors.map((s) => [s.rank, s.code, s.peer]).sort()).toEqual([
    [0, 'TSRUN_PEER_LOST', 2],
    [1, 'TSRUN_PEER_LOST', 2],
  ])
  for (const s of survivors) {
    expect(s.message).toMatch(/lost rank 2 \(pid \d+, host node3\)/)
    expect(s.at - killed.killedAt).toBeLessThan(5000)
  }
  expect(run.exitCode).not.toBe(0)
  expect(await leftoversAfter(run.mark, 5000)).toEqual([])
})

test('srun -N 3 tsrun examples/mnist/train.ts: training across Slurm nodes, resumed from a checkpoint', async () => {
  const ckpt = mkdtempSync(join(tmpdir(), 'tsrun-ckpt-'))
  const args = ['--epochs', '3', '--json', '--checkpoint', ckpt, '--checkpoint-every', '40']
  const first = await srun(['-N', '3', '-n', '3'], () => [process.execPath, BIN, join(ROOT, 'examples/mnist/train.ts'), ...args, '--max-steps', '120'], 150_000)
  expect(first.exitCode).toBe(0)
  expect(first.cases.find((c) => c.testAccuracy !== undefined)!.steps).toBe(120)
  const second = await srun(['-N', '3', '-n', '3'], () => [process.execPath, BIN, join(ROOT, 'examples/mnist/train.ts'), ...args, '--resume'], 150_000)
  expect(second.exitCode).toBe(0)
  expect(second.stderr).toContain(`resumed from checkpoint step 120 (epoch 2 of 3) in ${ckpt}\n`)
  const summary = second.cases.find((c) => c.testAccuracy !== undefined)!
  expect(summary.ranks).toBe(3)
  expect(summary.steps).toBe(3 * 94) // 9,003 training images: 3,001 per rank, 94 steps of up to 32 per epoch
  expect(summary.testAccuracy).toBeGreaterThanOrEqual(0.9)
})

test('srun without tsrun: a script that never calls finalize() still exits once its work is done', async () => {
  const run = await srun(['-N', '2', '-n', '2'], () => [process.execPath, '--import', 'tsx', fixture('no-finalize.ts'), 'unawaited'], 60_000)
  expect(run.timedOut).toBe(false)
  expect(run.exitCode).toBe(0)
  expect(run.cases.filter((c) => 'done' in c).map((c) => c.done)).toEqual([3, 3])
  expect(run.elapsedMs).toBeLessThan(20_000)
})

test("srun -N 3 -n 3 tsrun --timeline --report: rank 0 merges every node's file at finalize and prints the report", async () => {
  const trace = join(mkdtempSync(join(tmpdir(), 'tsrun-srun-trace-')), 'srun.json')
  const run = await srun(['-N', '3', '-n', '3'], () => [process.execPath, BIN, '--timeline', trace, '--report', fixture('timeline-job.ts')])
  expect(run.exitCode, run.stderr).toBe(0)
  const t = JSON.parse(readFileSync(trace, 'utf8')) as ChromeTrace
  expect(t.otherData.tsrun.ranks.map((r) => [r.rank, r.host, r.complete])).toEqual([
    [0, 'node1', true],
    [1, 'node2', true],
    [2, 'node3', true],
  ])
  expect(run.stderr).toMatch(/stragglers on world \(12 collectives\): rank 2 last in/)
  expect(await leftoversAfter(run.mark, 5000)).toEqual([])
})

test('tsrun --max-restarts inside sbatch: a failed srun step is run again, then the job gives up naming each attempt', async () => {
  const job = batchScript(`FAIL_RANK=3 "${process.execPath}" "${BIN}" --max-restarts 1 "${fixture('exit-code.ts')}"`)
  const run = await runProcess('sbatch', () => ['-N', '2', '--ntasks-per-node', '2', '-O', '--wait', '-o', job.out, job.script], {
    env: cluster.slurmEnv,
    timeoutMs: 120_000,
  })
  expect(run.exitCode).not.toBe(0)
  const out = readFileSync(job.out, 'utf8')
  expect(out.match(/"failAt"/g)).toHaveLength(2)
  expect(out).toMatch(/tsrun: restarting the job \(restart 1 of 1, TSRUN_RESTART_COUNT=1\) after: the srun step ended with code \d+ /)
  expect(out).toMatch(/tsrun: the job failed 2 times \(--max-restarts 1\); giving up\./)
})

test('examples/slurm/train.sbatch runs as written (one short epoch)', async () => {
  const script = join(ROOT, 'examples', 'slurm', 'train.sbatch')
  const out = join(mkdtempSync(join(tmpdir(), 'tsrun-sbatch-')), 'out.txt')
  const run = await runProcess('sbatch', () => ['-N', '2', '--ntasks-per-node', '1', '-O', '--wait', '-o', out, '-D', ROOT, script], {
    env: { ...cluster.slurmEnv, EPOCHS: '1' },
    timeoutMs: 170_000,
  })
  expect(run.exitCode, readFileSync(out, 'utf8')).toBe(0)
  expect(readFileSync(out, 'utf8')).toMatch(/test accuracy: 0\.\d+/)
})
