/**
 * Keras-style callbacks for `fitDistributed`. They run on every rank with the same (averaged) logs, so a
 * decision taken from the logs is the same everywhere; `onRankZero` wraps a callback that should print or save
 * once. A stop asked for by any rank (`ctx.stopTraining = true`) is agreed over the ranks before it is acted on,
 * so every rank stops after the same update.
 */
import type { Communicator } from '../index.ts'
import { UsageError } from '../index.ts'
import { tf, type LayersModel, type Optimizer, type Tensor } from './backend.ts'
import type { EpochLogs } from './epoch-logs.ts'

/** What a callback sees and may change. */
export interface TrainingContext {
  /** The ranks training together. */
  readonly comm: Communicator
  readonly model: LayersModel
  readonly optimizer: Optimizer
  /** Set to true to end training: after this update (onBatchEnd) or this epoch (onEpochEnd), on every rank. */
  stopTraining: boolean
}

/** One update's logs, this rank's. */
export interface BatchLogs {
  epoch: number
  /** This rank's loss on its last batch. */
  loss: number
  /** The learning rate the update used. */
  lr: number
}

/** A callback: any of these hooks, each may be async. */
export interface FitCallback {
  onTrainBegin?(ctx: TrainingContext): void | Promise<void>
  onEpochBegin?(epoch: number, ctx: TrainingContext): void | Promise<void>
  /** After each optimizer update (with `backwardPassesPerStep: k`, every k batches); `step` counts updates. */
  onBatchEnd?(step: number, logs: BatchLogs, ctx: TrainingContext): void | Promise<void>
  /** After each epoch, with the logs averaged over the ranks (and validation, if any). */
  onEpochEnd?(epoch: number, logs: EpochLogs, ctx: TrainingContext): void | Promise<void>
  onTrainEnd?(history: EpochLogs[], ctx: TrainingContext): void | Promise<void>
}

/**
 * The callback run on rank 0 of the training communicator only (printing, saving, sending metrics away).
 *
 * @example
 * ```ts
 * callbacks: [onRankZero({ onEpochEnd: (e, logs) => console.log(`epoch ${e}: ${logs.loss}`) })]
 * ```
 */
export function onRankZero(cb: FitCallback): FitCallback {
  const out: FitCallback = {}
  for (const name of ['onTrainBegin', 'onEpochBegin', 'onBatchEnd', 'onEpochEnd', 'onTrainEnd'] as const) {
    const hook = cb[name] as ((...args: unknown[]) => void | Promise<void>) | undefined
    if (!hook) continue
    ;(out as Record<string, unknown>)[name] = (...args: unknown[]) => {
      const ctx = args[args.length - 1] as TrainingContext
      return ctx.comm.rank === 0 ? hook.apply(cb, args) : undefined
    }
  }
  return out
}

/** Options of {@link earlyStopping}. */
export interface EarlyStoppingOptions {
  /** The averaged epoch log to watch (default 'valLoss', or 'loss' when there is no validation data). */
  monitor?: 'loss' | 'acc' | 'valLoss' | 'valAcc'
  /** Epochs without improvement before stopping (default 0). */
  patience?: number
  /** The least change that counts as an improvement (default 0). */
  minDelta?: number
  /** Whether lower or higher is better (default: 'max' for accuracies, else 'min'). */
  mode?: 'min' | 'max'
  /** On stopping, put back the weights of the best epoch (default false). */
  restoreBestWeights?: boolean
}

/**
 * Stops training when the monitored log has not improved for `patience` epochs (Keras' EarlyStopping). The
 * logs are averaged over the ranks, so every rank stops at the same epoch.
 *
 * @example
 * ```ts
 * await fitDistributed(model, train, { comm: world, epochs: 50, validationData: val, callbacks: [earlyStopping({ patience: 3 })] })
 * ```
 */
export function earlyStopping(o: EarlyStoppingOptions = {}): FitCallback & { readonly stoppedEpoch: number | undefined } {
  const patience = o.patience ?? 0
  const minDelta = Math.abs(o.minDelta ?? 0)
  if (!Number.isInteger(patience) || patience < 0) throw new UsageError(`earlyStopping: patience must be a whole number of epochs, got ${patience}`)
  let best = Number.NaN
  let wait = 0
  let bestWeights: Tensor[] | undefined
  let stoppedEpoch: number | undefined
  const drop = () => {
    if (bestWeights) tf.dispose(bestWeights)
    bestWeights = undefined
  }
  return {
    get stoppedEpoch() {
      return stoppedEpoch
    },
    onTrainBegin() {
      best = Number.NaN
      wait = 0
      stoppedEpoch = undefined
      drop()
    },
    onEpochEnd(epoch, logs, ctx) {
      const monitor = o.monitor ?? (logs.valLoss !== undefined ? 'valLoss' : 'loss')
      const value = logs[monitor]
      if (value === undefined)
        throw new UsageError(`earlyStopping monitors "${monitor}", which the epoch logs do not have (validationData, or a loss with accuracy?)`)
      const max = (o.mode ?? (monitor.endsWith('cc') ? 'max' : 'min')) === 'max'
      const better = Number.isNaN(best) || (max ? value > best + minDelta : value < best - minDelta)
      if (better) {
        best = value
        wait = 0
        if (o.restoreBestWeights) {
          drop()
          bestWeights = ctx.model.getWeights().map((w) => tf.clone(w))
        }
        return
      }
      wait++
      if (wait > patience) {
        stoppedEpoch = epoch
        ctx.stopTraining = true
        if (bestWeights) ctx.model.setWeights(bestWeights)
      }
    },
    onTrainEnd() {
      drop()
    },
  }
}

/** The callbacks of one `fitDistributed` call, and the agreement on stopping. */
export class CallbackRunner {
  readonly ctx: TrainingContext
  private readonly list: FitCallback[]
  private readonly perBatch: boolean

  constructor(list: readonly FitCallback[] | undefined, ctx: Omit<TrainingContext, 'stopTraining'>) {
    if (list !== undefined && !Array.isArray(list)) throw new UsageError('callbacks must be an array of callback objects')
    this.list = [...(list ?? [])]
    this.ctx = { ...ctx, stopTraining: false }
    this.perBatch = this.list.some((c) => c.onBatchEnd)
  }

  async trainBegin(): Promise<void> {
    for (const c of this.list) await c.onTrainBegin?.(this.ctx)
  }

  async epochBegin(epoch: number): Promise<void> {
    for (const c of this.list) await c.onEpochBegin?.(epoch, this.ctx)
  }

  /** Runs onBatchEnd; true if training is to stop now (agreed over the ranks). */
  async batchEnd(step: number, logs: BatchLogs): Promise<boolean> {
    if (!this.perBatch) return false
    for (const c of this.list) await c.onBatchEnd?.(step, logs, this.ctx)
    return this.agree()
  }

  /** Runs onEpochEnd (unless `seen`: this rank ran them for this epoch already); true if training is to stop (agreed over the ranks). */
  async epochEnd(epoch: number, logs: EpochLogs, seen = false): Promise<boolean> {
    if (!seen) for (const c of this.list) await c.onEpochEnd?.(epoch, logs, this.ctx)
    return this.list.length > 0 ? this.agree() : false
  }

  async trainEnd(history: EpochLogs[]): Promise<void> {
    for (const c of this.list) await c.onTrainEnd?.(history, this.ctx)
  }

  /** Whether any rank asked to stop; every rank calls it at the same point. */
  private async agree(): Promise<boolean> {
    const flag = Int32Array.of(this.ctx.stopTraining ? 1 : 0)
    if (this.ctx.comm.size > 1) await this.ctx.comm.allreduce(flag, 'max')
    this.ctx.stopTraining = flag[0] === 1
    return this.ctx.stopTraining
  }
}
