/**
 * `fitDistributed`: the one-call path for Keras-style `model.fit` users. Shards every epoch across the ranks,
 * prefetches batches, steps a {@link DistributedOptimizer}, averages the metrics over the ranks, draws a
 * progress bar on rank 0, evaluates on validation data, and writes and resumes checkpoints.
 */
import type { Communicator } from '../comm/communicator.ts'
import { UsageError } from '../errors.ts'
import { tf, type LayersModel, type Optimizer, type Tensor } from './backend.ts'
import { broadcastVariables } from './broadcast.ts'
import { restoreCheckpoint, saveCheckpoint } from './checkpoint.ts'
import { arrayDataset, batchCount, epochBatches, gatherRows, prefetch, type ArrayBatch, type ArrayDataset } from './data.ts'
import { averageMetrics } from './metrics.ts'
import { DistributedOptimizer, type StepTimes } from './optimizer.ts'
import { ProgressBar } from './progress.ts'

/** Built-in losses by their Keras names; each has a matching accuracy where one makes sense. */
const LOSSES = {
  categoricalCrossentropy: { loss: (y: Tensor, p: Tensor) => tf.metrics.categoricalCrossentropy(y, p), acc: (y: Tensor, p: Tensor) => tf.metrics.categoricalAccuracy(y, p) },
  binaryCrossentropy: { loss: (y: Tensor, p: Tensor) => tf.metrics.binaryCrossentropy(y, p), acc: (y: Tensor, p: Tensor) => tf.metrics.binaryAccuracy(y, p) },
  meanSquaredError: { loss: (y: Tensor, p: Tensor) => tf.metrics.meanSquaredError(y, p), acc: undefined },
  meanAbsoluteError: { loss: (y: Tensor, p: Tensor) => tf.metrics.meanAbsoluteError(y, p), acc: undefined },
} as const

/** A loss by Keras name, or a function of (targets, predictions) giving per-sample losses or their mean. */
export type LossSpec = keyof typeof LOSSES | ((yTrue: Tensor, yPred: Tensor) => Tensor)

/** Training data: an {@link ArrayDataset}, or Keras-style tensors whose first axis is the sample. */
export type FitData = ArrayDataset | { x: Tensor; y: Tensor }

/** Options of {@link fitDistributed}. */
export interface FitOptions {
  /** The ranks that train together. */
  comm: Communicator
  /** Passes over the training data (default 1). */
  epochs?: number
  /** Samples per rank per step (default 32); the global batch is `batchSize * comm.size`. */
  batchSize?: number
  /** The tfjs optimizer (default: the one `model.compile` was given). */
  optimizer?: Optimizer
  /** The loss (default: the one `model.compile` was given, if it is one of the built-in names). */
  loss?: LossSpec
  /** Hybrid groups: see {@link DistributedOptimizer}. */
  groupSize?: number
  averageEvery?: number
  averageOptimizerState?: boolean
  bucketBytes?: number
  /** Seed of the per-epoch shuffles, the same on every rank (default 0). */
  seed?: number
  shuffle?: boolean
  /** Evaluated at the end of every epoch, split across the ranks. */
  validationData?: FitData
  /** Write a checkpoint into `dir` every `every` steps (rank 0) and at the end; keep the newest `keep`. */
  checkpoint?: { dir: string; every: number; keep?: number }
  /** Start from the latest checkpoint in `checkpoint.dir` if there is one (default false). */
  resume?: boolean
  /** Stop after this many steps in all (counted from step 0, so a resumed run stops at the same place). */
  maxSteps?: number
  /** 1: progress bar and a line per epoch on rank 0 (default); 0: quiet. */
  verbose?: 0 | 1
  /** Build the next batch while the step runs (default true). */
  prefetch?: boolean
  /** Called on every rank after each step with the step count so far and this rank's loss. */
  onStep?: (step: number, loss: number) => void | Promise<void>
  /** Called on every rank after each epoch with the averaged logs. */
  onEpochEnd?: (logs: EpochLogs) => void | Promise<void>
}

/** One epoch's results, averaged over all ranks (the same on every rank). */
export interface EpochLogs {
  epoch: number
  loss: number
  acc?: number
  valLoss?: number
  valAcc?: number
  /** Samples processed by all ranks in the epoch. */
  samples: number
  seconds: number
  samplesPerSecond: number
  /** Share of step time spent waiting for communication, averaged over the ranks. */
  commShare: number
  /** The straggler: the rank that spent the most time computing in this epoch... */
  slowestRank: number
  /** ...and how much longer than the average rank it took, as a fraction (0.1: 10 % longer). */
  slowestExcess: number
}

/** What {@link fitDistributed} resolves to. */
export interface FitResult {
  history: EpochLogs[]
  /** Optimizer steps in all, including those before a resume. */
  steps: number
  times: StepTimes
  /** The optimizer used (its state, its `times`). */
  optimizer: DistributedOptimizer
}

/**
 * Trains `model` on `data` with data-parallel SGD across the ranks of `options.comm`; every rank calls it
 * with the same arguments (each with the whole data set, or at least the same one).
 *
 * @example
 * ```ts
 * model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' })
 * const { history } = await fitDistributed(model, { x, y }, { comm: world, epochs: 5, batchSize: 32 })
 * ```
 */
export async function fitDistributed(model: LayersModel, data: FitData, options: FitOptions): Promise<FitResult> {
  const { comm, epochs = 1, batchSize = 32, seed = 0, shuffle = true, verbose = 1 } = options
  if (!comm) throw new UsageError('fitDistributed needs { comm }: the communicator to train on, e.g. the world from init()')
  if (!Number.isInteger(epochs) || epochs < 1) throw new UsageError(`epochs must be a positive integer, got ${epochs}`)
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batchSize must be a positive integer, got ${batchSize}`)
  if (options.checkpoint && !(Number.isInteger(options.checkpoint.every) && options.checkpoint.every > 0)) {
    throw new UsageError(`checkpoint.every must be a positive number of steps, got ${options.checkpoint.every}`)
  }
  if (options.resume && !options.checkpoint) throw new UsageError('resume needs checkpoint: { dir, every } to know where to look')
  const optimizer = options.optimizer ?? (model.optimizer as Optimizer | undefined)
  if (!optimizer) throw new UsageError('fitDistributed needs an optimizer: pass { optimizer } or call model.compile({ optimizer, loss }) first')
  const { lossFn, accFn } = resolveLoss(options.loss ?? (model.loss as LossSpec | undefined))
  const train = toDataset(data, 'training data')
  const validation = options.validationData ? toDataset(options.validationData, 'validation data') : undefined

  const opt = new DistributedOptimizer(optimizer, comm, {
    model,
    groupSize: options.groupSize,
    averageEvery: options.averageEvery,
    averageOptimizerState: options.averageOptimizerState,
    bucketBytes: options.bucketBytes,
  })
  const restored = options.resume ? await restoreCheckpoint(options.checkpoint!.dir, model, optimizer, comm) : undefined
  if (!restored) await broadcastVariables(model, comm)
  opt.stepCount = restored?.step ?? 0

  const shardLength = Math.ceil(train.length / comm.size)
  const stepsPerEpoch = batchCount(shardLength, batchSize)
  // Logs of the epochs finished before the checkpoint; a partly done epoch is logged again when it ends.
  const firstEpoch = Math.floor(opt.stepCount / stepsPerEpoch)
  const history = ((restored?.extra?.history as EpochLogs[] | undefined) ?? []).filter((h) => h.epoch < firstEpoch)
  const maxSteps = Math.min(options.maxSteps ?? Number.POSITIVE_INFINITY, epochs * stepsPerEpoch)
  const show = verbose >= 1 && comm.rank === 0
  const save = async () => {
    if (opt.hybrid) await opt.average()
    if (comm.rank === 0) await saveCheckpoint(options.checkpoint!.dir, model, optimizer, { step: opt.stepCount, extra: { history } }, { keep: options.checkpoint!.keep })
  }

  for (let epoch = firstEpoch; epoch < epochs && opt.stepCount < maxSteps; epoch++) {
    const skip = opt.stepCount - epoch * stepsPerEpoch
    const bar = new ProgressBar(`epoch ${epoch + 1}/${epochs}`, stepsPerEpoch, show)
    const batches = epochBatches(train, batchSize, { rank: comm.rank, size: comm.size, seed, epoch, shuffle, skip })
    const times0 = { ...opt.times }
    const t0 = performance.now()
    let lossSum = 0
    let accSum = 0
    let count = 0
    let step = skip
    for await (const b of options.prefetch === false ? toAsync(batches) : prefetch(batches)) {
      const { loss, correct } = await trainStep(model, opt, train, b, lossFn, accFn)
      lossSum += loss * b.size
      accSum += correct
      count += b.size
      step++
      bar.update({ step, samples: count * comm.size, values: accFn ? { loss: lossSum / count, acc: accSum / count } : { loss: lossSum / count } })
      if (options.checkpoint && opt.stepCount % options.checkpoint.every === 0) await save()
      await options.onStep?.(opt.stepCount, loss)
      if (opt.stepCount >= maxSteps) break
    }
    const seconds = (performance.now() - t0) / 1000
    const avg = await averageMetrics(comm, meansOf(lossSum, accFn ? accSum : undefined, count), count)
    const computeMs = opt.times.computeMs - times0.computeMs
    const commMs = opt.times.commMs - times0.commMs
    const timing = await timingAcrossRanks(comm, computeMs, commMs)
    const logs: EpochLogs = {
      epoch,
      ...avg,
      samples: count * comm.size,
      seconds,
      samplesPerSecond: (count * comm.size) / seconds,
      ...timing,
    }
    if (validation) {
      await opt.finish()
      const v = await evaluateDistributed(model, validation, comm, { batchSize: Math.max(batchSize, 256), loss: options.loss ?? (model.loss as LossSpec) })
      logs.valLoss = v.loss
      if (v.acc !== undefined) logs.valAcc = v.acc
    }
    history.push(logs)
    bar.done({ step, samples: count * comm.size, values: {} }, describe(logs))
    await options.onEpochEnd?.(logs)
  }
  await opt.finish()
  if (options.checkpoint && comm.rank === 0) {
    await saveCheckpoint(options.checkpoint.dir, model, optimizer, { step: opt.stepCount, extra: { history } }, { keep: options.checkpoint.keep })
  }
  return { history, steps: opt.stepCount, times: { ...opt.times }, optimizer: opt }
}

/** Comm share averaged over the ranks, and the rank that computed longest (each step waits for it). */
async function timingAcrossRanks(comm: Communicator, computeMs: number, commMs: number) {
  const all = comm.size > 1 ? await comm.allgather(new Float64Array([computeMs, commMs])) : new Float64Array([computeMs, commMs])
  let slowestRank = 0
  let shareSum = 0
  let computeSum = 0
  for (let r = 0; r < comm.size; r++) {
    const [cp, cm] = [all[2 * r]!, all[2 * r + 1]!]
    if (cp > all[2 * slowestRank]!) slowestRank = r
    shareSum += cm / Math.max(1e-9, cp + cm)
    computeSum += cp
  }
  const mean = computeSum / comm.size
  return { commShare: shareSum / comm.size, slowestRank, slowestExcess: mean > 0 ? all[2 * slowestRank]! / mean - 1 : 0 }
}

function meansOf(lossSum: number, accSum: number | undefined, n: number): { loss: number; acc?: number } {
  const d = Math.max(1, n)
  return accSum === undefined ? { loss: lossSum / d } : { loss: lossSum / d, acc: accSum / d }
}

async function* toAsync<T>(it: Iterable<T>): AsyncGenerator<T> {
  yield* it
}

function describe(l: EpochLogs): string {
  const parts = [`loss ${l.loss.toFixed(4)}`]
  if (l.acc !== undefined) parts.push(`acc ${l.acc.toFixed(4)}`)
  if (l.valLoss !== undefined) parts.push(`val_loss ${l.valLoss.toFixed(4)}`)
  if (l.valAcc !== undefined) parts.push(`val_acc ${l.valAcc.toFixed(4)}`)
  parts.push(`${Math.round(l.samplesPerSecond)} samples/s`, `comm ${(100 * l.commShare).toFixed(1)}%`)
  if (l.slowestExcess >= 0.05) parts.push(`slowest rank ${l.slowestRank} (+${Math.round(100 * l.slowestExcess)}% compute)`)
  return parts.join('  ')
}

type PerSample = (y: Tensor, p: Tensor) => Tensor

function resolveLoss(spec: LossSpec | undefined): { lossFn: PerSample; accFn: PerSample | undefined } {
  if (typeof spec === 'function') return { lossFn: spec, accFn: undefined }
  if (typeof spec === 'string' && spec in LOSSES) {
    const l = LOSSES[spec]
    return { lossFn: l.loss, accFn: l.acc }
  }
  throw new UsageError(
    `fitDistributed needs a loss: pass { loss } as one of ${Object.keys(LOSSES).join(', ')} or a function (yTrue, yPred) => tensor` +
      (spec === undefined ? '' : `; got ${JSON.stringify(spec)}`),
  )
}

function toDataset(data: FitData, what: string): ArrayDataset {
  if ('length' in data && data.x instanceof Float32Array) return data
  const { x, y } = data as { x: Tensor; y: Tensor }
  if (!x || !y || typeof x.dataSync !== 'function' || typeof y.dataSync !== 'function') {
    throw new UsageError(`${what} must be { x, y } tensors (first axis: samples) or an ArrayDataset from arrayDataset()`)
  }
  if (x.shape[0] !== y.shape[0]) throw new UsageError(`${what}: x has ${x.shape[0]} samples but y has ${y.shape[0]}`)
  return arrayDataset(Float32Array.from(x.dataSync()), Float32Array.from(y.dataSync()), x.shape.slice(1), y.shape.slice(1))
}

async function trainStep(model: LayersModel, opt: DistributedOptimizer, data: ArrayDataset, b: ArrayBatch, lossFn: PerSample, accFn: PerSample | undefined) {
  const xs = tf.tensor(b.x, [b.size, ...data.xShape])
  const ys = tf.tensor(b.y, [b.size, ...data.yShape])
  let correct: Tensor | undefined
  try {
    const loss = await opt.step(() => {
      const pred = model.apply(xs, { training: true }) as Tensor
      if (accFn) correct = tf.keep(tf.sum(accFn(ys, pred)))
      return tf.mean(lossFn(ys, pred))
    })
    return { loss, correct: correct ? (await correct.data())[0]! : 0 }
  } finally {
    tf.dispose([xs, ys])
    correct?.dispose()
  }
}

/**
 * Loss (and accuracy, for the built-in classification losses) of `model` on `data`, each rank evaluating a
 * contiguous slice and the results averaged: the same numbers on every rank. Collective.
 *
 * @example
 * ```ts
 * const { acc } = await evaluateDistributed(model, test, world, { loss: 'categoricalCrossentropy' })
 * ```
 */
export async function evaluateDistributed(model: LayersModel, data: FitData, comm: Communicator, options: { loss?: LossSpec; batchSize?: number } = {}): Promise<{ loss: number; acc?: number; samples: number }> {
  const { lossFn, accFn } = resolveLoss(options.loss ?? (model.loss as LossSpec | undefined))
  const set = toDataset(data, 'evaluation data')
  const batchSize = options.batchSize ?? 256
  const from = Math.floor((set.length * comm.rank) / comm.size)
  const to = Math.floor((set.length * (comm.rank + 1)) / comm.size)
  let lossSum = 0
  let accSum = 0
  for (let i = from; i < to; i += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, to - i) }, (_, k) => i + k)
    const b = gatherRows(set, idx)
    const [l, a] = tf.tidy(() => {
      const xs = tf.tensor(b.x, [b.size, ...set.xShape])
      const ys = tf.tensor(b.y, [b.size, ...set.yShape])
      const pred = model.apply(xs, { training: false }) as Tensor
      const losses = lossFn(ys, pred)
      // A custom loss may return the batch mean instead of one loss per sample.
      return [losses.rank === 0 ? tf.mul(losses, b.size) : tf.sum(losses), accFn ? tf.sum(accFn(ys, pred)) : tf.scalar(0)]
    })
    lossSum += (await l.data())[0]!
    accSum += (await a.data())[0]!
    tf.dispose([l, a])
  }
  const n = to - from
  const avg = await averageMetrics(comm, meansOf(lossSum, accFn ? accSum : undefined, n), n)
  return { ...avg, samples: set.length }
}
