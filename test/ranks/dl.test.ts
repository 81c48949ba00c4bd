// tsrun/dl on real ranks (wasm backend): data-parallel SGD gives the same model as one rank with the whole
// batch, ranks hold bitwise-identical weights, hybrid groups average on schedule, checkpoints resume exactly,
// and the MNIST example learns.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { leftoversAfter, ROOT, runRanks, type Run } from '../helpers/run-ranks.ts'

const dir = mkdtempSync(join(tmpdir(), 'tsrun-dl-test-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const train = (np: number, args: string[], timeoutMs = 60_000) => runRanks(np, 'dl-train.ts', { args, timeoutMs })
const weights = (path: string) => {
  const b = readFileSync(path)
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))
}
function ok(run: Run, np: number) {
  expect(run.stderr).not.toMatch(/Error/)
  expect(run.exitCode).toBe(0)
  expect(run.cases.filter((c) => c.done)).toHaveLength(np)
  return run.cases.filter((c) => c.rank !== undefined && !c.done).sort((a, b) => a.rank - b.rank)
}
/** Largest |a-b| / (|a| + 1e-3) over all weights. */
function maxRelDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (Math.abs(a[i]!) + 1e-3))
  return m
}

describe('large batches: accumulation, learning-rate scaling and warm-up, callbacks', () => {
  it('backwardPassesPerStep 4 at np=2 gives the weights of a 4x batch at np=2 (12 updates from 48 batches)', async () => {
    const acc = join(dir, 'acc4.bin')
    const big = join(dir, 'big.bin')
    const a = ok(await train(2, ['fit', 'epochs=2', 'batch=2', 'accumulate=4', `out=${acc}`]), 2)
    const b = ok(await train(2, ['fit', 'epochs=2', 'batch=8', `out=${big}`]), 2)
    // 48 samples a rank: 24 batches of 2 make 6 updates an epoch, as 6 batches of 8 do.
    expect(a.map((r) => r.steps)).toEqual([12, 12])
    expect(b.map((r) => r.steps)).toEqual([12, 12])
    expect(new Set(a.map((r) => r.final)).size).toBe(1)
    expect(maxRelDiff(weights(acc), weights(big))).toBeLessThan(1e-5)
  })

  it('lrScaling linear with warmupEpochs 1: the rate ramps over the first epoch to lr x world, the same on every rank, and is the rate used', async () => {
    const ramp = ok(await train(2, ['fit', 'epochs=2', 'batch=8', 'lr=0.2', 'lrScaling=linear', 'warmup=1']), 2)
    const expected = [...Array.from({ length: 6 }, (_, u) => 0.2 + (0.2 * (u + 1)) / 6), ...Array(6).fill(0.4)]
    for (const r of ramp) {
      expect(r.lrs).toHaveLength(12)
      for (const [i, lr] of (r.lrs as number[]).entries()) expect(lr).toBeCloseTo(expected[i]!, 10)
    }
    // Scaling 0.2 by the world of 2 trains exactly as 0.4 unscaled does.
    const scaled = join(dir, 'scaled.bin')
    const plain = join(dir, 'plain.bin')
    ok(await train(2, ['fit', 'epochs=2', 'batch=8', 'lr=0.2', 'lrScaling=linear', `out=${scaled}`]), 2)
    ok(await train(2, ['fit', 'epochs=2', 'batch=8', 'lr=0.4', `out=${plain}`]), 2)
    expect(maxRelDiff(weights(scaled), weights(plain))).toBeLessThan(1e-6)
  })

  it('a stop asked for on rank 0 only (onRankZero) ends training on every rank after the same step', async () => {
    const run = ok(await train(2, ['fit', 'epochs=3', 'batch=8', 'stopAt=5']), 2)
    expect(run.map((r) => [r.steps, r.stopped, r.epochs])).toEqual([
      [5, true, 1],
      [5, true, 1],
    ])
    expect(new Set(run.map((r) => r.final)).size).toBe(1)
  })
})

describe('synchronous SGD', () => {
  it.each(['sgd', 'momentum'])('np=2 with batch B/2 gives the weights of np=1 with batch B (%s)', async (optimizer) => {
    const one = join(dir, `eq1-${optimizer}.bin`)
    const two = join(dir, `eq2-${optimizer}.bin`)
    const [single] = ok(await train(1, ['sync', 'steps=8', 'batch=8', `optimizer=${optimizer}`, `out=${one}`]), 1)
    ok(await train(2, ['sync', 'steps=8', 'batch=4', `optimizer=${optimizer}`, `out=${two}`]), 2)
    // Every step moved the weights, so agreeing at the end means something...
    expect(new Set(single.hashes).size).toBe(8)
    const a = weights(one)
    expect(a.length).toBe(20 * 16 + 16 + 16 * 3 + 3)
    // ...and the two runs agree to float rounding.
    expect(maxRelDiff(a, weights(two))).toBeLessThan(1e-5)
  })

  it('every rank holds bitwise-identical weights after every step (several fused buckets, uneven shards)', async () => {
    // 97 samples on 3 ranks: shards of 33 (padded), batches of 8 with a last one of 1, across two epochs.
    const run = await train(3, ['sync', 'steps=10', 'batch=8', 'n=97', 'optimizer=adam', 'bucketBytes=256'])
    const ranks = ok(run, 3)
    expect(ranks).toHaveLength(3)
    expect(ranks[0].buckets).toBeGreaterThan(1)
    expect(ranks[0].hashes).toHaveLength(10)
    expect(new Set(ranks[0].hashes).size).toBe(10) // the weights changed at every step
    for (const r of ranks) expect(r.hashes).toEqual(ranks[0].hashes)
  })

  it.each(['fp16', 'bf16'])('with %s gradient compression the ranks stay bitwise identical and land close to the float32 run', async (compression) => {
    const full = join(dir, `c-none.bin`)
    const half = join(dir, `c-${compression}.bin`)
    ok(await train(2, ['sync', 'steps=8', 'batch=4', `out=${full}`]), 2)
    const ranks = ok(await train(2, ['sync', 'steps=8', 'batch=4', `compression=${compression}`, `out=${half}`]), 2)
    expect(ranks[1].hashes).toEqual(ranks[0].hashes)
    const diff = maxRelDiff(weights(full), weights(half))
    expect(diff).toBeGreaterThan(0) // the gradients really went through 16 bits...
    expect(diff).toBeLessThan(compression === 'fp16' ? 0.02 : 0.1) // ...and training still went the same way
  })
})

describe('hybrid groups', () => {
  it('groupSize 1 with averageEvery 1 equals synchronous SGD for plain SGD', async () => {
    const sync = join(dir, 'h-sync.bin')
    const avg = join(dir, 'h-avg.bin')
    ok(await train(2, ['sync', 'steps=8', 'batch=4', `out=${sync}`]), 2)
    ok(await train(2, ['sync', 'steps=8', 'batch=4', 'groupSize=1', 'averageEvery=1', `out=${avg}`]), 2)
    expect(maxRelDiff(weights(sync), weights(avg))).toBeLessThan(1e-5)
  })

  it('with averageEvery 3, groups drift apart between averages and agree bitwise after each', async () => {
    const run = await train(4, ['sync', 'steps=7', 'batch=4', 'groupSize=2', 'averageEvery=3', 'optimizer=momentum'], 90_000)
    const [r0, r1, r2, r3] = ok(run, 4)
    // Within a group: identical after every step.
    expect(r1.hashes).toEqual(r0.hashes)
    expect(r3.hashes).toEqual(r2.hashes)
    // Across groups: identical exactly at the averaging steps (3 and 6), different in between.
    expect(r0.pending).toEqual([1, 2, 0, 1, 2, 0, 1])
    r0.hashes.forEach((h: string, i: number) => {
      if (r0.pending[i] === 0) expect(r2.hashes[i]).toBe(h)
      else expect(r2.hashes[i]).not.toBe(h)
    })
    // finish() averages the last step too.
    expect(new Set([r0.final, r1.final, r2.final, r3.final]).size).toBe(1)
  })
})

describe('checkpoints', () => {
  it.each([
    ['synchronous', []],
    ['hybrid', ['groupSize=1', 'averageEvery=4']],
  ])('a run stopped at step 10 and resumed ends with the weights of an uninterrupted run (%s)', async (name, extra) => {
    const whole = join(dir, `whole-${name}.bin`)
    const resumed = join(dir, `resumed-${name}.bin`)
    const ckptA = join(dir, `ckpt-a-${name}`)
    const ckptB = join(dir, `ckpt-b-${name}`)
    const common = ['fit', 'epochs=3', 'batch=8', 'optimizer=momentum', 'every=5', ...(extra as string[])]
    const a = ok(await train(2, [...common, `ckpt=${ckptA}`, `out=${whole}`]), 2)
    expect(a[0].steps).toBe(18) // 96 samples / 2 ranks / batch 8 = 6 steps per epoch
    const b = ok(await train(2, [...common, `ckpt=${ckptB}`, 'maxSteps=10']), 2)
    expect(b[0].steps).toBe(10)
    expect(readdirSync(ckptB).sort()).toEqual(['ckpt-000000005', 'ckpt-000000010'])
    const c = ok(await train(2, [...common, `ckpt=${ckptB}`, 'resume=1', `out=${resumed}`]), 2)
    expect(c[0].steps).toBe(18)
    expect(c[0].epochs).toBe(3) // the history of the first run came back with the checkpoint
    expect(Buffer.from(weights(resumed).buffer)).toEqual(Buffer.from(weights(whole).buffer))
    // Only complete checkpoints, the newest three; no temporary directories left behind.
    expect(readdirSync(ckptB).sort()).toEqual(['ckpt-000000010', 'ckpt-000000015', 'ckpt-000000018'])
  })
})

describe('recovery', () => {
  it('a rank killed at step 12 ends the job; restarting resumes from step 10 and ends with the uninterrupted weights', async () => {
    const whole = join(dir, 'crash-whole.bin')
    const resumed = join(dir, 'crash-resumed.bin')
    const ckpt = join(dir, 'crash-ckpt')
    const common = ['fit', 'epochs=3', 'batch=8', 'optimizer=momentum', 'every=5']
    ok(await train(2, [...common, `ckpt=${join(dir, 'crash-ckpt-whole')}`, `out=${whole}`]), 2)
    const crashed = await train(2, [...common, `ckpt=${ckpt}`, 'dieAt=12'])
    expect(crashed.exitCode).toBe(137)
    expect(crashed.stderr).toMatch(/tsrun: rank 1 \(pid \d+, host [^)]+\) was killed by SIGKILL/)
    expect(readdirSync(ckpt).sort()).toEqual(['ckpt-000000005', 'ckpt-000000010'])
    const again = ok(await train(2, [...common, `ckpt=${ckpt}`, 'resume=1', `out=${resumed}`]), 2)
    expect(again[0].steps).toBe(18)
    expect(Buffer.from(weights(resumed).buffer)).toEqual(Buffer.from(weights(whole).buffer))
  })

  it('--max-restarts 1: a rank killed at step 12 → the launcher restarts the job, it resumes from step 10 and ends with the uninterrupted weights, bitwise', async () => {
    const whole = join(dir, 'restart-whole.bin')
    const restarted = join(dir, 'restart-resumed.bin')
    const ckpt = join(dir, 'restart-ckpt')
    const common = ['fit', 'epochs=3', 'batch=8', 'optimizer=momentum', 'every=5']
    ok(await train(2, [...common, `ckpt=${join(dir, 'restart-ckpt-whole')}`, `out=${whole}`]), 2)
    const run = await runRanks(2, 'dl-train.ts', {
      flags: ['--max-restarts', '1'],
      args: [...common, `ckpt=${ckpt}`, 'dieAt=12', 'resume=1', `out=${restarted}`],
      timeoutMs: 90_000,
    })
    expect(run.exitCode, run.stderr).toBe(0)
    expect(run.stderr).toMatch(
      /tsrun: restarting the job \(restart 1 of 1, TSRUN_RESTART_COUNT=1\) after: rank 1 \(pid \d+, host [^)]+\) was killed by SIGKILL/,
    )
    // The second attempt's ranks resumed at step 10 and went to 18.
    expect(run.cases.filter((c) => c.steps !== undefined).map((c) => c.steps)).toEqual([18, 18])
    expect(Buffer.from(weights(restarted).buffer)).toEqual(Buffer.from(weights(whole).buffer))
    expect(await leftoversAfter(run.mark)).toEqual([])
  })
})

describe('backend', () => {
  it('says which backend it uses and why; a backend that is asked for and missing is a one-line error', async () => {
    const run = await train(2, ['sync', 'steps=1'], 60_000)
    expect(run.stderr).toMatch(/tsrun\/dl: TensorFlow.js backend "(wasm|tensorflow)": /)
    expect(run.stderr.match(/TensorFlow.js backend/g)).toHaveLength(1) // rank 0 only
    const bad = await runRanks(1, 'dl-train.ts', { args: ['sync', 'steps=1'], env: { TSRUN_DL_BACKEND: 'gpu' } })
    expect(bad.exitCode).not.toBe(0)
    expect(bad.stderr).toContain('tsrun: rank 0: UsageError: TSRUN_DL_BACKEND must be one of node, wasm, cpu, got "gpu"')
    expect(bad.stderr).not.toMatch(/\n\s+at /)
  })
})

describe('examples/mnist/train.ts', () => {
  it('reaches at least 90% test accuracy on 4 ranks', async () => {
    const run = await runRanks(4, join(ROOT, 'examples/mnist/train.ts'), { args: ['--epochs', '3', '--json'], timeoutMs: 120_000 })
    expect(run.exitCode).toBe(0)
    const summary = run.cases.find((c) => c.testAccuracy !== undefined)
    expect(summary).toBeDefined()
    expect(summary!.ranks).toBe(4)
    expect(summary!.testAccuracy).toBeGreaterThanOrEqual(0.9)
    expect(run.stdout).toMatch(/^test accuracy: 0\.9\d{3}$/m)
    expect(run.stderr).toMatch(/^epoch 3\/3 \[=+\] 71\/71 {2}loss \d\.\d{4} {2}acc 0\.9\d{3} /m)
  })

  it('the CNN trains on the default (wasm) backend: at least 90% test accuracy after one epoch on 2 ranks', async () => {
    const run = await runRanks(2, join(ROOT, 'examples/mnist/train.ts'), { args: ['--model', 'cnn', '--epochs', '1', '--json'], timeoutMs: 120_000 })
    expect(run.exitCode).toBe(0)
    const summary = run.cases.find((c) => c.testAccuracy !== undefined)
    expect(summary?.backend).toBe('wasm')
    expect(summary?.testAccuracy).toBeGreaterThanOrEqual(0.9)
  })
})
