/**
 * tsrun/dl: data-parallel training of TensorFlow.js models on tsrun ranks. Synchronous SGD with fused gradient
 * allreduce, hybrid groups (synchronous within a group, model averaging across groups), sharded and prefetched
 * input, averaged metrics, checkpoints, gradient accumulation, learning-rate scaling and warm-up, callbacks,
 * and `fitDistributed` for Keras-style users.
 *
 * @example
 * ```ts
 * import { init } from 'tsrun'
 * import { tf, fitDistributed } from 'tsrun/dl'
 * const world = await init()
 * const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [784], units: 10, activation: 'softmax' })] })
 * model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' })
 * await fitDistributed(model, { x, y }, { comm: world, epochs: 3, batchSize: 32 })
 * await world.finalize()
 * ```
 */
export { tf, backendInfo, type BackendInfo, type Tf, type Tensor, type Scalar, type Variable, type LayersModel, type Optimizer } from './backend.ts'
export { broadcastVariables } from './broadcast.ts'
export { DistributedOptimizer, DEFAULT_BUCKET_BYTES, type DistributedOptimizerOptions, type StepTimes } from './optimizer.ts'
export {
  shardIndices,
  shardDataset,
  permutation,
  seededRandom,
  batchCount,
  arrayDataset,
  gatherRows,
  epochBatches,
  prefetch,
  type ShardOptions,
  type ArrayDataset,
  type ArrayBatch,
} from './data.ts'
export { averageMetrics } from './metrics.ts'
export { saveCheckpoint, restoreCheckpoint, listCheckpoints, type TrainingPosition, type SaveOptions } from './checkpoint.ts'
export { fitDistributed, type FitOptions, type FitResult } from './fit.ts'
export { earlyStopping, onRankZero, type FitCallback, type TrainingContext, type BatchLogs, type EarlyStoppingOptions } from './callbacks.ts'
export type { LearningRateOptions } from './lr.ts'
export { evaluateDistributed, type FitData } from './evaluate.ts'
export type { EpochLogs } from './epoch-logs.ts'
export type { LossName, LossSpec } from './losses.ts'
export { ProgressBar, type ProgressState } from './progress.ts'
export { allVariables, trainableVariables, type Trainable } from './variables.ts'
