/**
 * `fitDistributed`: the one-call path for Keras-style `model.fit` users. Shards every epoch across the ranks,
 * prefetches batches, steps a {@link DistributedOptimizer}, averages the metrics over the ranks, draws a
 * progress bar on rank 0, evaluates on validation data, and writes and resumes checkpoints.
 */
import { elasticInfo, UsageError, type Communicator } from '../index.ts'
import type { LayersModel, Optimizer } from './backend.ts'
import { broadcastVariables } from './broadcast.ts'
import { CallbackRunner, type FitCallback } from './callbacks.ts'
import { restoreCheckpoint, saveCheckpoint } from './checkpoint.ts'
import { batchCount, epochBatches, prefetch } from './data.ts'
import { arrivalsAcrossRanks, formatEpoch, timingAcrossRanks, type EpochLogs } from './epoch-logs.ts'
import { evaluateDistributed, meansOf, toDataset, type FitData } from './evaluate.ts'
import { fitElastic } from './fit-elastic.ts'
import { resolveLoss, type LossSpec } from './losses.ts'
import { checkLearningRateOptions, learningRateOf, learningRateOr, LearningRateSchedule, type LearningRateOptions } from './lr.ts'
import { averageMetrics } from './metrics.ts'
import { DistributedOptimizer, type DistributedOptimizerOptions, type StepTimes } from './optimizer.ts'
import { ProgressBar } from './progress.ts'
import { trainStep } from './step.ts'

/** Options of {@link fitDistributed}: those of {@link DistributedOptimizer} (hybrid groups, buckets) and the loop's own. */
export interface FitOptions extends Omit<DistributedOptimizerOptions, 'model'>, LearningRateOptions {
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
  /**
   * Default: true in a job started with `tsrun --elastic MIN:MAX`. Keep training through lost and joining ranks (fit-elastic.ts).
   * Synchronous SGD only (no groupSize); the state moves between ranks, so no checkpoint options.
   */
  elastic?: boolean
  /** Keras-style callbacks (callbacks.ts): run on every rank; `onRankZero(cb)` for rank 0 only. */
  callbacks?: FitCallback[]
  /** Elastic: keep the global batch of the start (`'keep'`, default) or keep `batchSize` per rank and scale the learning rate with the world (`'scale'`). */
  elasticBatch?: 'keep' | 'scale'
}

/** What {@link fitDistributed} resolves to. */
export interface FitResult {
  history: EpochLogs[]
  /** Optimizer steps in all, including those before a resume. */
  steps: number
  times: StepTimes
  /** The optimizer used (its state, its `times`). */
  optimizer: DistributedOptimizer
  /** The world training ended on: in an elastic job, the current generation's (use it, not the one passed in). */
  comm: Communicator
  /** True when a callback stopped training before `epochs` (early stopping). */
  stopped?: boolean
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
  if (options.elastic ?? elasticInfo() !== undefined) {
    if (options.groupSize !== undefined && options.groupSize !== comm.size)
      throw new UsageError('fitDistributed: elastic training is synchronous SGD; drop groupSize')
    if (options.checkpoint || options.resume)
      throw new UsageError('fitDistributed: elastic training takes its state from the surviving ranks; drop checkpoint and resume')
    checkLearningRateOptions(options)
    if (LearningRateSchedule.wanted(options)) learningRateOf(optimizer) // an optimizer without a numeric rate: say so now
    const elasticBatch = options.elasticBatch ?? 'keep'
    if (elasticBatch !== 'keep' && elasticBatch !== 'scale') throw new UsageError(`elasticBatch must be "keep" or "scale", got ${JSON.stringify(elasticBatch)}`)
    return fitElastic(model, train, optimizer, lossFn, accFn, {
      comm,
      epochs,
      batchSize,
      seed,
      shuffle,
      verbose,
      maxSteps: options.maxSteps,
      elasticBatch,
      backwardPassesPerStep: options.backwardPassesPerStep ?? 1,
      bucketBytes: options.bucketBytes,
      compression: options.compression,
      validation,
      loss: options.loss,
      onStep: options.onStep,
      onEpochEnd: options.onEpochEnd,
      callbacks: options.callbacks,
      lr: { lrScaling: options.lrScaling, warmupEpochs: options.warmupEpochs, lrSchedule: options.lrSchedule },
    })
  }

  const k = options.backwardPassesPerStep ?? 1
  const opt = new DistributedOptimizer(optimizer, comm, {
    model,
    groupSize: options.groupSize,
    averageEvery: options.averageEvery,
    averageOptimizerState: options.averageOptimizerState,
    bucketBytes: options.bucketBytes,
    compression: options.compression,
    backwardPassesPerStep: k,
  })
  checkLearningRateOptions(options)
  const restored = options.resume ? await restoreCheckpoint(options.checkpoint!.dir, model, optimizer, comm) : undefined
  if (!restored) await broadcastVariables(model, comm)
  opt.stepCount = restored?.step ?? 0

  const shardLength = Math.ceil(train.length / comm.size)
  const batchesPerEpoch = batchCount(shardLength, batchSize)
  // Steps are optimizer updates: with accumulation, k batches each (the epoch's last one may take fewer).
  const stepsPerEpoch = Math.ceil(batchesPerEpoch / k)
  // Logs of the epochs finished before the checkpoint; a partly done epoch is logged again when it ends.
  const firstEpoch = Math.floor(opt.stepCount / stepsPerEpoch)
  const history = ((restored?.extra?.history as EpochLogs[] | undefined) ?? []).filter((h) => h.epoch < firstEpoch)
  const maxSteps = Math.min(options.maxSteps ?? Number.POSITIVE_INFINITY, epochs * stepsPerEpoch)
  const show = verbose >= 1 && comm.rank === 0
  if (restored && show) {
    process.stderr.write(`resumed from checkpoint step ${opt.stepCount} (epoch ${firstEpoch + 1} of ${epochs}) in ${options.checkpoint!.dir}\n`)
  }
  const save = async () => {
    if (opt.hybrid) await opt.average()
    if (comm.rank === 0)
      await saveCheckpoint(options.checkpoint!.dir, model, optimizer, { step: opt.stepCount, extra: { history } }, { keep: options.checkpoint!.keep })
  }
  // The linear rule scales by the samples one update averages: the group's ranks × the passes accumulated.
  const lr = LearningRateSchedule.wanted(options) ? new LearningRateSchedule(optimizer, options, opt.groupSize * k, stepsPerEpoch) : undefined
  const callbacks = new CallbackRunner(options.callbacks, { comm, model, optimizer })
  let rate = lr?.base ?? 0
  let stop = false
  // After each optimizer update: checkpoint, onStep, callbacks; true when training is to stop.
  const updated = async (epoch: number, loss: number) => {
    if (options.checkpoint && opt.stepCount % options.checkpoint.every === 0) await save()
    await options.onStep?.(opt.stepCount, loss)
    if (await callbacks.batchEnd(opt.stepCount, { epoch, loss, lr: lr ? rate : learningRateOr(optimizer) })) stop = true
    return stop || opt.stepCount >= maxSteps
  }

  try {
    await callbacks.trainBegin()
    for (let epoch = firstEpoch; epoch < epochs && opt.stepCount < maxSteps && !stop; epoch++) {
      const skip = (opt.stepCount - epoch * stepsPerEpoch) * k
      const bar = new ProgressBar(`epoch ${epoch + 1}/${epochs}`, batchesPerEpoch, show)
      await callbacks.epochBegin(epoch)
      const batches = epochBatches(train, batchSize, { rank: comm.rank, size: comm.size, seed, epoch, shuffle, skip })
      const times0 = { ...opt.times }
      const arrivals0 = opt.arrivals.length
      const t0 = performance.now()
      let lossSum = 0
      let accSum = 0
      let count = 0
      let step = skip
      let loss = 0
      for await (const b of options.prefetch === false ? toAsync(batches) : prefetch(batches)) {
        if (lr && opt.pendingPasses === 0) rate = lr.atUpdate(epoch, opt.stepCount)
        const r = await trainStep(model, opt, train, b, lossFn, accFn)
        loss = r.loss
        lossSum += r.loss * b.size
        accSum += r.correct
        count += b.size
        step++
        bar.update({ step, samples: count * comm.size, values: accFn ? { loss: lossSum / count, acc: accSum / count } : { loss: lossSum / count } })
        if (opt.pendingPasses === 0 && (await updated(epoch, r.loss))) break
      }
      if (opt.pendingPasses > 0) {
        // The epoch's last update takes the batches left (every rank has the same number).
        await opt.flush()
        await updated(epoch, loss)
      }
      const seconds = (performance.now() - t0) / 1000
      const avg = await averageMetrics(comm, meansOf(lossSum, accFn ? accSum : undefined, count), count)
      const computeMs = opt.times.computeMs - times0.computeMs
      const commMs = opt.times.commMs - times0.commMs
      const timing = await timingAcrossRanks(comm, computeMs, commMs)
      const arrivals = await arrivalsAcrossRanks(comm, opt.arrivals.splice(arrivals0))
      const logs: EpochLogs = {
        epoch,
        ...avg,
        samples: count * comm.size,
        seconds,
        samplesPerSecond: (count * comm.size) / seconds,
        ...timing,
        ...arrivals,
      }
      if (validation) {
        await opt.finish()
        const v = await evaluateDistributed(model, validation, comm, { batchSize: Math.max(batchSize, 256), loss: options.loss ?? (model.loss as LossSpec) })
        logs.valLoss = v.loss
        if (v.acc !== undefined) logs.valAcc = v.acc
      }
      history.push(logs)
      bar.done({ step, samples: count * comm.size, values: {} }, formatEpoch(logs))
      await options.onEpochEnd?.(logs)
      if (await callbacks.epochEnd(epoch, logs)) stop = true
    }
    await opt.finish()
    if (options.checkpoint && comm.rank === 0) {
      await saveCheckpoint(options.checkpoint.dir, model, optimizer, { step: opt.stepCount, extra: { history } }, { keep: options.checkpoint.keep })
    }
    await callbacks.trainEnd(history)
  } finally {
    // Scaling and warm-up belong to this run: the optimizer gets its own rate back (a second fit scales it once).
    lr?.restore()
  }
  return { history, steps: opt.stepCount, times: { ...opt.times }, optimizer: opt, comm, stopped: stop }
}

async function* toAsync<T>(it: Iterable<T>): AsyncGenerator<T> {
  yield* it
}
