// Gradient accumulation, the learning-rate schedule and callbacks in a world of one (the real-rank tests are
// in test/ranks/dl.test.ts).
import { describe, expect, it } from 'vitest'
import { init } from '../../../src/index.ts'
import { tf, type LayersModel, type Tensor } from '../../../src/dl/backend.ts'
import { earlyStopping } from '../../../src/dl/callbacks.ts'
import type { EpochLogs } from '../../../src/dl/epoch-logs.ts'
import { fitDistributed } from '../../../src/dl/fit.ts'
import { LearningRateSchedule, learningRateOf } from '../../../src/dl/lr.ts'
import { DistributedOptimizer } from '../../../src/dl/optimizer.ts'

function model(seed: number) {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [3], units: 4, activation: 'tanh', kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
      tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  })
}
const rows = (n: number, off: number) => Float32Array.from({ length: n * 3 }, (_, i) => Math.sin(i + off))
const weights = (m: LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()))

describe('gradient accumulation (backwardPassesPerStep)', () => {
  it('k passes of b samples make the same update as one pass of k*b samples', async () => {
    const world = await init()
    const x = rows(8, 0)
    const y = Float32Array.from({ length: 8 }, (_, i) => Math.cos(i))
    const loss = (m: LayersModel, xs: Float32Array, ys: Float32Array) => () =>
      tf.losses.meanSquaredError(tf.tensor(ys, [ys.length, 1]), m.apply(tf.tensor(xs, [ys.length, 3])) as Tensor)
    const big = model(7)
    const optBig = new DistributedOptimizer(tf.train.sgd(0.5), world, { model: big })
    await optBig.step(loss(big, x, y))
    const acc = model(7)
    const optAcc = new DistributedOptimizer(tf.train.sgd(0.5), world, { model: acc, backwardPassesPerStep: 4 })
    for (let i = 0; i < 4; i++) {
      await optAcc.step(loss(acc, x.subarray(i * 6, i * 6 + 6), y.subarray(i * 2, i * 2 + 2)))
      expect(optAcc.stepCount).toBe(i === 3 ? 1 : 0)
    }
    const a = weights(big).flat()
    const b = weights(acc).flat()
    expect(b.length).toBe(a.length)
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i]!, 5)
    expect(weights(acc).flat()).not.toEqual(weights(model(7)).flat()) // an update was applied
  })

  it('flush applies fewer passes than k, averaged over those taken; bad k is refused', async () => {
    const world = await init()
    const m = model(3)
    expect(() => new DistributedOptimizer(tf.train.sgd(0.1), world, { model: m, backwardPassesPerStep: 0 })).toThrow(
      'backwardPassesPerStep must be a positive integer, got 0',
    )
    const opt = new DistributedOptimizer(tf.train.sgd(0.1), world, { model: m, backwardPassesPerStep: 3 })
    const before = weights(m).flat()
    await opt.step(() => tf.sum(m.apply(tf.ones([1, 3])) as Tensor))
    expect(opt.pendingPasses).toBe(1)
    expect(weights(m).flat()).toEqual(before)
    await opt.flush()
    expect(opt.pendingPasses).toBe(0)
    expect(opt.stepCount).toBe(1)
    expect(weights(m).flat()).not.toEqual(before)
  })
})

describe('learning rate: linear scaling, warm-up, schedule', () => {
  it('warms up linearly from the unscaled rate to the scaled one, then follows the schedule', () => {
    const opt = tf.train.sgd(0.1)
    const s = new LearningRateSchedule(opt, { lrScaling: 'linear', warmupEpochs: 2, lrSchedule: (e, lr) => (e >= 3 ? lr / 10 : lr) }, 4, 5)
    expect(s.factor).toBe(4)
    const rates = Array.from({ length: 20 }, (_, u) => s.rateAt(Math.floor(u / 5), u))
    expect(rates[0]).toBeCloseTo(0.1 + 0.3 / 10, 10)
    expect(rates[9]).toBeCloseTo(0.4, 10) // the last warm-up update reaches the target
    for (let u = 1; u < 10; u++) expect(rates[u]! - rates[u - 1]!).toBeCloseTo(0.03, 10)
    expect(rates.slice(10, 15)).toEqual([0.4, 0.4, 0.4, 0.4, 0.4])
    for (const r of rates.slice(15)) expect(r).toBeCloseTo(0.04, 10)
    s.atUpdate(3, 15)
    expect(learningRateOf(opt)).toBeCloseTo(0.04, 10)
    s.restore()
    expect(learningRateOf(opt)).toBe(0.1)
  })

  it('sets the rate an Adam optimizer uses; refuses bad options', () => {
    let adam = tf.train.adam(0.01)
    new LearningRateSchedule(adam, { lrScaling: 'linear' }, 8, 10).atUpdate(0, 0)
    expect(learningRateOf(adam)).toBeCloseTo(0.08, 10)
    adam = tf.train.adam(0.01)
    expect(() => new LearningRateSchedule(adam, { lrScaling: 'square' as never }, 2, 1)).toThrow('lrScaling must be "none" or "linear"')
    expect(() => new LearningRateSchedule(adam, { warmupEpochs: -1 }, 2, 1)).toThrow('warmupEpochs must be a number of epochs')
    const bad = new LearningRateSchedule(adam, { lrSchedule: () => Number.NaN }, 1, 1)
    expect(() => bad.rateAt(0, 0)).toThrow('lrSchedule(0, 0.01) returned NaN')
  })
})

describe('callbacks in fitDistributed', () => {
  const data = () => {
    const x = rows(64, 1)
    const y = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i))
    return { x: tf.tensor(x, [64, 3]), y: tf.tensor(y, [64, 1]) }
  }

  it('runs the hooks in order, and ctx.stopTraining in onBatchEnd ends training after that update', async () => {
    const world = await init()
    const m = model(11)
    m.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError' })
    const seen: string[] = []
    const r = await fitDistributed(m, data(), {
      comm: world,
      epochs: 5,
      batchSize: 8,
      verbose: 0,
      callbacks: [
        {
          onTrainBegin: () => void seen.push('train'),
          onEpochBegin: (e) => void seen.push(`epoch ${e}`),
          onBatchEnd: (step, logs, ctx) => {
            seen.push(`step ${step} lr ${logs.lr}`)
            if (step === 10) ctx.stopTraining = true
          },
          onEpochEnd: (e) => void seen.push(`end ${e}`),
          onTrainEnd: (h) => void seen.push(`done ${h.length}`),
        },
      ],
    })
    expect(r.steps).toBe(10)
    expect(r.stopped).toBe(true)
    expect(seen.slice(0, 3)).toEqual(['train', 'epoch 0', 'step 1 lr 0.05'])
    expect(seen.slice(-3)).toEqual(['step 10 lr 0.05', 'end 1', 'done 2'])
    expect(seen.filter((s) => s.startsWith('epoch'))).toEqual(['epoch 0', 'epoch 1'])
    expect(seen.at(-1)).toBe('done 2')
    expect(seen.at(-2)).toBe('end 1')
  })

  it('earlyStopping stops once the monitored loss has not improved for patience epochs, and can restore the best weights', async () => {
    const world = await init()
    const m = model(5)
    // A learning rate this large makes the loss grow after the first epochs.
    m.compile({ optimizer: tf.train.sgd(3), loss: 'meanSquaredError' })
    const stopper = earlyStopping({ monitor: 'loss', patience: 1, restoreBestWeights: true })
    const losses: number[] = []
    const snapshots: number[][] = []
    // Listed before the stopper: it sees each epoch's weights before a restore.
    const capture = {
      onEpochEnd: (_: number, l: EpochLogs) => {
        losses.push(l.loss)
        snapshots.push(weights(m).flat())
      },
    }
    const r = await fitDistributed(m, data(), { comm: world, epochs: 30, batchSize: 8, verbose: 0, callbacks: [capture, stopper] })
    expect(r.stopped).toBe(true)
    expect(stopper.stoppedEpoch).toBe(r.history.length - 1)
    // The best epoch, then patience + 1 epochs without improvement (a loss gone to NaN is no improvement).
    const at = losses.reduce((best, l, i) => (l < losses[best]! ? i : best), 0)
    expect(r.history.length).toBe(at + 3)
    expect(weights(m).flat()).toEqual(snapshots[at])
    expect(snapshots[at]).not.toEqual(snapshots.at(-1))
    expect(() => earlyStopping({ patience: -1 })).toThrow('patience must be a whole number of epochs')
  })
})
