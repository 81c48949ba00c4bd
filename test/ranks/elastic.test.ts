// Elastic jobs (--elastic MIN:MAX) on real ranks of this host: survivors go on after a rank is killed, the lost
// slot restarts and joins, every position of every epoch is used exactly once (test/fixtures/elastic-ids.ts sums
// them by allreduce into ElasticState), and what cannot go on fails with one line.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import type { ChromeTrace } from '../../src/trace-offline/merge.ts'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'

const RESULT = /ELASTIC-RESULT (\{.*\})/
const resultOf = (stdout: string) =>
  JSON.parse(RESULT.exec(stdout)?.[1] ?? 'null') as {
    ok: boolean
    bad: number
    steps: number
    size: number
    generation: number
    pids: number[]
    same: boolean
  } | null

test('a rank killed at a step: the survivors go on (same processes), its slot restarts and joins, every position used once', async () => {
  const run = await runRanks(3, 'elastic-ids.ts', {
    flags: ['--elastic', '2:3', '--inject-fault', '1:10'],
    args: ['600', '2', '24', '20'],
    env: { READY: '1' },
    timeoutMs: 60_000,
  })
  expect(run.stderr).toMatch(/tsrun: rank 1 \(pid \d+, host \S+\) was killed by SIGKILL; the elastic job goes on without it/)
  expect(run.stderr).toMatch(/tsrun: world 3 → 2 after rank 1 \(host \S+\) was lost; resumed at step 1[01] in \d+\.\d+ s/)
  expect(run.stderr).toMatch(/tsrun: world 2 → 3 with 1 joining; resumed at step \d+ in \d+\.\d+ s/)
  expect(run.exitCode).toBe(0)
  const r = resultOf(run.stdout)!
  // The joiner took the counts from the two survivors (half from each): every member holds the same.
  expect(r).toMatchObject({ ok: true, bad: 0, steps: 50, size: 3, generation: 2, same: true })
  // Each world's ranks: 3, then the 2 survivors, then 3 again; TSRUN_ELASTIC_RANK/SIZE say where each rank is.
  const ready = run.cases.filter((c) => c.ready !== undefined) as { ready: number; generation: number; size: number; env: { rank: number; size: number } }[]
  expect(ready.map((c) => `${c.generation}:${c.ready}/${c.size}`).sort()).toEqual(['0:0/3', '0:1/3', '0:2/3', '1:0/2', '1:1/2', '2:0/3', '2:1/3', '2:2/3'])
  for (const c of ready) expect(c.env).toEqual({ rank: c.ready, size: c.size })
  const killed = Number(/rank 1 \(pid (\d+)/.exec(run.stderr)![1])
  expect(r.pids).not.toContain(killed)
  expect(await leftoversAfter(run.mark, 100)).toEqual([])
})

test('--timeline in an elastic job: a track per member with its rank in each generation, the changes as spans, calls told apart by generation', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-elastic-timeline-'))
  try {
    const file = join(dir, 'trace.json')
    const run = await runRanks(3, 'elastic-ids.ts', {
      flags: ['--elastic', '2:3', '--inject-fault', '1:10', '--timeline', file, '--report'],
      args: ['600', '2', '24', '20'],
      timeoutMs: 60_000,
    })
    expect(run.exitCode).toBe(0)
    expect(run.stderr).toMatch(/tsrun: timeline of 4 members written to /)
    expect(run.stderr).toMatch(/tsrun report: 4 members \(processes of an elastic job\) on 1 host/)
    const trace = JSON.parse(readFileSync(file, 'utf8')) as ChromeTrace
    const info = trace.otherData.tsrun.ranks
    expect(info.map((r) => r.member)).toEqual(['s0.0', 's1.0', 's1.1', 's2.0'])
    const ranksOf = (m: string) => info.find((r) => r.member === m)!.generations!.map((g) => [g.gen, g.rank, g.size])
    expect(ranksOf('s0.0')).toEqual([
      [0, 0, 3],
      [1, 0, 2],
      [2, 0, 3],
    ])
    expect(ranksOf('s1.0')).toEqual([[0, 1, 3]])
    expect(ranksOf('s1.1')).toEqual([[2, 2, 3]])
    expect(ranksOf('s2.0')).toEqual([
      [0, 2, 3],
      [1, 1, 2],
      [2, 1, 3],
    ])
    // Each change is a span on every member that went through it (the joiner: its join).
    const spans = trace.traceEvents.filter((e) => e.cat === 'elastic').map((e) => [info.find((r) => r.rank === e.tid % 10000)!.member, e.name, e.args])
    expect(spans).toHaveLength(5)
    for (const m of ['s0.0', 's2.0']) {
      expect(spans).toContainEqual([
        m,
        'world 3 → 2',
        { generation: 1, step: expect.any(Number), lost: [expect.stringMatching(/^rank 1 \(host \S+\)$/)], joined: 0 },
      ])
      expect(spans).toContainEqual([m, 'world 2 → 3', { generation: 2, step: expect.any(Number), lost: [], joined: 1 }])
    }
    expect(spans).toContainEqual(['s1.1', 'joined a world of 3', expect.objectContaining({ generation: 2 })])
    // Generation 1's allreduces are the two survivors' (ranks 0 and 1 there), each call on both.
    const gen1 = trace.traceEvents.filter((e) => e.cat === 'collective' && e.name === 'allreduce' && e.args!.generation === 1)
    const bySeq = new Map<number, string[]>()
    for (const e of gen1) bySeq.set(e.args!.seq as number, [...(bySeq.get(e.args!.seq as number) ?? []), `${e.tid % 10000}:${e.args!.rank}`])
    expect(bySeq.size).toBeGreaterThan(0)
    for (const who of bySeq.values()) expect(who.sort()).toEqual(['0:0', '3:1'])
    expect(await leftoversAfter(run.mark, 100)).toEqual([])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('rank 0 lost with --elastic-no-respawn: the world shrinks to 3 for good and the data is still used exactly once', async () => {
  const run = await runRanks(4, 'elastic-ids.ts', {
    flags: ['--elastic', '2:4', '--elastic-no-respawn', '--inject-fault', '0:5'],
    args: ['1000', '2', '40', '10'],
    timeoutMs: 60_000,
  })
  expect(run.exitCode).toBe(0)
  expect(run.stderr).toMatch(/world 4 → 3 after rank 0 \(host \S+\) was lost/)
  expect(run.stderr).not.toMatch(/joining/)
  expect(resultOf(run.stdout)).toMatchObject({ ok: true, size: 3, generation: 1 })
})

test('below MIN for longer than --elastic-timeout: the job fails with one line saying so', async () => {
  const run = await runRanks(2, 'elastic-ids.ts', {
    flags: ['--elastic', '2:2', '--elastic-no-respawn', '--elastic-timeout', '1', '--inject-fault', '1:5'],
    args: ['600', '2', '24', '20'],
    timeoutMs: 60_000,
  })
  expect(run.exitCode).not.toBe(0)
  expect(run.stderr).toMatch(/the elastic job has 1 ranks, below its minimum of 2; waiting up to 1 s for ranks to join/)
  expect(run.stderr).toMatch(/tsrun: the elastic job stayed below its minimum of 2 ranks for 1 s \(TSRUN_ELASTIC_TIMEOUT\)/)
  expect(run.elapsedMs).toBeLessThan(20_000)
  expect(await leftoversAfter(run.mark, 100)).toEqual([])
})

test('a rank that fails with an error of its own (exit 3) still ends an elastic job, as without --elastic', async () => {
  const run = await runRanks(3, 'exit-code.ts', { flags: ['--elastic', '2:3'], env: { FAIL_RANK: '2', FAIL_CODE: '3' }, timeoutMs: 30_000 })
  expect(run.exitCode).toBe(3)
  expect(run.stderr).toMatch(/tsrun: rank 2 \(pid \d+, host \S+\) exited with code 3; stopped the other 2 ranks/)
})

test.each([
  [['--elastic', '5:3'], 3, /--elastic: MAX \(3\) is below MIN \(5\)/],
  [['--elastic', '2:3'], 4, /--elastic 2:3 needs -np between 2 and 3, got -np 4/],
  [['--elastic', 'two'], 2, /--elastic takes MIN:MAX, e\.g\. --elastic 2:4, got 'two'/],
  [['--inject-fault', 'x'], 2, /--inject-fault takes RANK:STEP\[:SIGNAL\]/],
])('bad input %j with -np %i: one line, exit 2, nothing started', async (flags, np, message) => {
  const run = await runRanks(np, 'elastic-ids.ts', { flags, timeoutMs: 20_000 })
  expect(run.exitCode).toBe(2)
  expect(run.stderr).toMatch(message)
  expect(run.stderr).not.toMatch(/\n\s+at /) // no stack trace
})

const fitCases = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes('"final"'))
    .map(
      (l) =>
        JSON.parse(l) as {
          rank: number
          size: number
          steps: number
          final: string
          loss: number
          lr: number
          rates: [number, number][]
          epochEnds: number
          stopped: boolean
        },
    )

test('fitDistributed in an elastic job: after a kill, the final world holds bitwise-equal weights after every step of 3 epochs', async () => {
  const run = await runRanks(3, 'dl-train.ts', {
    flags: ['--elastic', '2:3', '--inject-fault', '1:5'],
    args: ['elastic', 'batch=8', 'epochs=3'],
    timeoutMs: 90_000,
  })
  expect(run.exitCode).toBe(0)
  expect(run.stderr).toMatch(/world 3 → 2 after rank 1 \(host \S+\) was lost; resumed at step [45] in/)
  const ranks = fitCases(run.stdout)
  const size = ranks[0]!.size
  expect(ranks.length).toBe(size)
  // 96 samples, a global batch of 8 × 3 = 24: 4 steps an epoch, whatever the world's size.
  for (const r of ranks) expect(r.steps).toBe(12)
  expect(new Set(ranks.map((r) => r.final)).size).toBe(1)
}, 120_000)

test('fitDistributed elastic: a step is the same update at any world size (np=1 batch 16 against np=2 batch 8)', async () => {
  const one = await runRanks(1, 'dl-train.ts', { flags: ['--elastic', '1:1'], args: ['elastic', 'batch=16', 'epochs=2'], timeoutMs: 60_000 })
  const two = await runRanks(2, 'dl-train.ts', { flags: ['--elastic', '1:2'], args: ['elastic', 'batch=8', 'epochs=2'], timeoutMs: 60_000 })
  expect(one.exitCode).toBe(0)
  expect(two.exitCode).toBe(0)
  const [a] = fitCases(one.stdout)
  const [b] = fitCases(two.stdout)
  expect(a!.steps).toBe(12)
  expect(b!.steps).toBe(12)
  // Not bitwise (the allreduce sums in another order), but the same update to float precision.
  expect(Math.abs(a!.loss - b!.loss) / a!.loss).toBeLessThan(1e-4)
}, 120_000)

test('fitDistributed elastic with backwardPassesPerStep 2: an update sums two global batches (the same update as one batch twice the size), and goes on through a kill', async () => {
  const two = await runRanks(1, 'dl-train.ts', { flags: ['--elastic', '1:1'], args: ['elastic', 'batch=8', 'epochs=2', 'accumulate=2'], timeoutMs: 60_000 })
  const one = await runRanks(1, 'dl-train.ts', { flags: ['--elastic', '1:1'], args: ['elastic', 'batch=16', 'epochs=2'], timeoutMs: 60_000 })
  expect(two.exitCode).toBe(0)
  expect(one.exitCode).toBe(0)
  const [a] = fitCases(two.stdout)
  const [b] = fitCases(one.stdout)
  // 96 samples: 12 batches of 8 an epoch, 6 updates of two; 6 batches of 16.
  expect(a!.steps).toBe(12)
  expect(b!.steps).toBe(12)
  expect(Math.abs(a!.loss - b!.loss) / b!.loss).toBeLessThan(1e-4)
  // k=5 over 12 batches an epoch: two updates of 5 and the epoch's last of 2 (a flush), 3 an epoch.
  const five = await runRanks(1, 'dl-train.ts', { flags: ['--elastic', '1:1'], args: ['elastic', 'batch=8', 'epochs=2', 'accumulate=5'], timeoutMs: 60_000 })
  expect(five.exitCode).toBe(0)
  expect(fitCases(five.stdout)[0]).toMatchObject({ steps: 6, epochEnds: 2 })
  // np=3, batch 8: 4 global batches of 24 an epoch, 2 updates; rank 1 killed at its 3rd update, its slot rejoins.
  const run = await runRanks(3, 'dl-train.ts', {
    flags: ['--elastic', '2:3', '--inject-fault', '1:3'],
    args: ['elastic', 'batch=8', 'epochs=3', 'accumulate=2'],
    timeoutMs: 90_000,
  })
  expect(run.exitCode).toBe(0)
  expect(run.stderr).toMatch(/world 3 → 2 after rank 1 \(host \S+\) was lost; resumed at step [23] in/)
  const ranks = fitCases(run.stdout)
  expect(ranks.length).toBe(ranks[0]!.size)
  for (const r of ranks) expect(r.steps).toBe(6)
  expect(new Set(ranks.map((r) => r.final)).size).toBe(1)
}, 180_000)

test('fitDistributed elastic: a stop asked for while its agreement is cut off by a loss is agreed in the next world, one update later', async () => {
  // Rank 1 dies at its 4th commit, before the agreement of step 4 in which rank 0 asks to stop.
  const run = await runRanks(2, 'dl-train.ts', {
    flags: ['--elastic', '1:2', '--elastic-no-respawn', '--inject-fault', '1:4'],
    args: ['elastic', 'batch=8', 'epochs=3', 'stopAt=4'],
    timeoutMs: 60_000,
  })
  expect(run.exitCode).toBe(0)
  expect(run.stderr).toMatch(/world 2 → 1 after rank 1 .* resumed at step 4/)
  const [r] = fitCases(run.stdout)
  expect(r).toMatchObject({ size: 1, steps: 5, stopped: true })
}, 120_000)

test("fitDistributed elastic: a loss during an epoch's stop agreement does not run that epoch's onEpochEnd twice on the survivors", async () => {
  const run = await runRanks(2, 'dl-train.ts', {
    flags: ['--elastic', '1:2', '--elastic-no-respawn'],
    args: ['elastic', 'batch=8', 'epochs=3', 'dieAtEpochEnd=0'],
    timeoutMs: 60_000,
  })
  expect(run.exitCode).toBe(0)
  expect(run.stderr).toMatch(/world 2 → 1 after rank 1/)
  const [r] = fitCases(run.stdout)
  expect(r).toMatchObject({ size: 1, steps: 18, epochEnds: 3 })
}, 120_000)

test("fitDistributed elastic with elasticBatch 'scale': after a loss the learning rate follows the world (0.2 × 1/2)", async () => {
  const run = await runRanks(2, 'dl-train.ts', {
    flags: ['--elastic', '1:2', '--elastic-no-respawn', '--inject-fault', '1:3'],
    args: ['elastic', 'batch=8', 'epochs=2', 'elasticBatch=scale'],
    timeoutMs: 60_000,
  })
  expect(run.exitCode).toBe(0)
  const [r] = fitCases(run.stdout)
  expect(r).toMatchObject({ size: 1 })
  expect(r!.lr).toBeCloseTo(0.1, 10)
}, 120_000)

test('fitDistributed elastic with lrScaling, warm-up and a stop callback: through a loss every step gets its scheduled rate, the stop is agreed', async () => {
  // 96 samples, global batch 2 × 8 = 16 kept after the loss: 6 steps an epoch; base 0.2 scaled × 2, warm-up of one epoch.
  const run = await runRanks(2, 'dl-train.ts', {
    flags: ['--elastic', '1:2', '--elastic-no-respawn', '--inject-fault', '1:3'],
    args: ['elastic', 'batch=8', 'epochs=3', 'lrScaling=linear', 'warmup=1', 'stopAt=10'],
    timeoutMs: 60_000,
  })
  expect(run.exitCode).toBe(0)
  expect(run.stderr).toMatch(/world 2 → 1 after rank 1/)
  const [r] = fitCases(run.stdout)
  expect(r).toMatchObject({ size: 1, steps: 10, stopped: true, epochEnds: 1 })
  // The rate is put back after training.
  expect(r!.lr).toBeCloseTo(0.2, 10)
  const expected = (step: number) => (step <= 6 ? 0.2 + (0.2 * step) / 6 : 0.4)
  expect(r!.rates.length).toBeGreaterThanOrEqual(10)
  for (const [step, lr] of r!.rates) expect(lr).toBeCloseTo(expected(step), 6)
  expect(r!.rates.at(-1)![0]).toBe(10)
}, 120_000)
