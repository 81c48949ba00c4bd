/**
 * The learning rate of large-batch data-parallel training (Goyal et al. 2017, "Accurate, Large Minibatch SGD";
 * Horovod's `LearningRateWarmupCallback`): the linear scaling rule (a k-times-larger global batch takes a
 * k-times-larger learning rate), a linear warm-up to it over the first epochs, and a schedule per epoch.
 */
import { UsageError } from '../index.ts'
import type { Optimizer } from './backend.ts'

/** The learning-rate options of {@link fitDistributed}. */
export interface LearningRateOptions {
  /**
   * `'linear'`: multiply the optimizer's learning rate by the samples of one update over `batchSize` (the ranks
   * that average gradients × `backwardPassesPerStep`), as the linear scaling rule says. Default `'none'`.
   */
  lrScaling?: 'none' | 'linear'
  /**
   * Ramp the learning rate linearly, update by update, from the unscaled rate (the target divided by the scaling
   * factor, as Horovod's warm-up does) to the target over this many epochs (fractions allowed). Default 0.
   */
  warmupEpochs?: number
  /** The target learning rate of each epoch (from 0), given the (scaled) base rate, as Keras' LearningRateScheduler takes it. */
  lrSchedule?: (epoch: number, lr: number) => number
}

/** The learning rate a tfjs optimizer uses now. */
export function learningRateOf(optimizer: Optimizer): number {
  const lr = (optimizer as unknown as { learningRate?: unknown }).learningRate
  if (typeof lr !== 'number')
    throw new UsageError(`this optimizer (${optimizer.getClassName()}) has no numeric learningRate, so tsrun/dl cannot scale or schedule it`)
  return lr
}

/** The optimizer's learning rate, or NaN for one without a numeric rate (for logs). */
export function learningRateOr(optimizer: Optimizer): number {
  const v = (optimizer as unknown as { learningRate?: unknown }).learningRate
  return typeof v === 'number' ? v : Number.NaN
}

/** Sets a tfjs optimizer's learning rate (SGD and momentum keep it in a cached tensor, which `setLearningRate` renews). */
export function setLearningRate(optimizer: Optimizer, lr: number): void {
  const o = optimizer as unknown as { learningRate: number; setLearningRate?: (lr: number) => void }
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr)
  else o.learningRate = lr
}

/** Checks the options; undefined when none of them is asked for. */
export function checkLearningRateOptions(o: LearningRateOptions): void {
  if (o.lrScaling !== undefined && o.lrScaling !== 'none' && o.lrScaling !== 'linear') {
    throw new UsageError(`lrScaling must be "none" or "linear", got ${JSON.stringify(o.lrScaling)}`)
  }
  if (o.warmupEpochs !== undefined && !(Number.isFinite(o.warmupEpochs) && o.warmupEpochs >= 0)) {
    throw new UsageError(`warmupEpochs must be a number of epochs, 0 or more, got ${o.warmupEpochs}`)
  }
  if (o.lrSchedule !== undefined && typeof o.lrSchedule !== 'function') throw new UsageError('lrSchedule must be a function (epoch, lr) => lr')
}

/**
 * Drives an optimizer's learning rate through training: `atUpdate(epoch, update)` before each update sets the
 * rate for it. Every rank computes the same rates from the same counts.
 */
export class LearningRateSchedule {
  /** The optimizer's rate before training, unscaled. */
  readonly base: number
  /** The scaling factor applied to `base` (1 without `lrScaling: 'linear'`). */
  readonly factor: number
  private readonly optimizer: Optimizer
  private readonly o: LearningRateOptions
  private readonly warmupUpdates: number
  private epoch = -1
  private target = 0

  /**
   * `factor`: samples per update over samples per pass of one rank; `updatesPerEpoch`: for the warm-up's length;
   * `base`: the unscaled rate (default: the optimizer's now).
   */
  constructor(optimizer: Optimizer, o: LearningRateOptions, factor: number, updatesPerEpoch: number, base = learningRateOf(optimizer)) {
    checkLearningRateOptions(o)
    this.optimizer = optimizer
    this.o = o
    this.base = base
    this.factor = o.lrScaling === 'linear' ? factor : 1
    this.warmupUpdates = Math.round((o.warmupEpochs ?? 0) * updatesPerEpoch)
  }

  /** True when any option changes the rate (otherwise the optimizer is left alone). */
  static wanted(o: LearningRateOptions): boolean {
    return (o.lrScaling ?? 'none') !== 'none' || (o.warmupEpochs ?? 0) > 0 || o.lrSchedule !== undefined
  }

  /** The rate of update number `update` (from 0, counted over the whole training) in `epoch`. */
  rateAt(epoch: number, update: number): number {
    if (epoch !== this.epoch) {
      this.epoch = epoch
      const scaled = this.base * this.factor
      this.target = this.o.lrSchedule ? this.o.lrSchedule(epoch, scaled) : scaled
      if (!(Number.isFinite(this.target) && this.target >= 0)) {
        throw new UsageError(`lrSchedule(${epoch}, ${scaled}) returned ${this.target}; it must return a learning rate of 0 or more`)
      }
    }
    if (update >= this.warmupUpdates) return this.target
    const start = this.target / this.factor
    return start + ((this.target - start) * (update + 1)) / this.warmupUpdates
  }

  /** Sets the optimizer's rate for update `update` of `epoch`; resolves to it. */
  atUpdate(epoch: number, update: number): number {
    const lr = this.rateAt(epoch, update)
    setLearningRate(this.optimizer, lr)
    return lr
  }

  /** Puts back the rate the optimizer had before training. */
  restore(): void {
    setLearningRate(this.optimizer, this.base)
  }
}
