/**
 * Data-parallel SGD. Every rank computes gradients on its own batch; the gradients are averaged over the
 * rank's group by fused allreduces (a few large buffers instead of one message per tensor, as Horovod's tensor
 * fusion does) and applied by the wrapped tfjs optimizer, so every member of a group takes the same step.
 *
 * Hybrid groups (the fix the DL4J-on-Spark study proposes for synchronous SGD's scaling wall): ranks are split
 * into groups of `groupSize` consecutive ranks; gradients are averaged within the group every step and the
 * model (and, by default, the optimizer's state) is averaged across all ranks every `averageEvery` steps.
 * `groupSize = size` is plain synchronous SGD; `groupSize = 1` is parameter averaging with that frequency.
 */
import { timeline, UsageError, type Communicator } from '../index.ts'
import { tf, type Optimizer, type Scalar, type Tensor, type Variable } from './backend.ts'
import { ModelAverager } from './average.ts'
import { fuse, type FusedLayout, trainableVariables, type Trainable } from './variables.ts'

/**
 * `tf.variableGrads`, with a backend that lacks a gradient kernel (the wasm backend has none for convolutions)
 * reported as what to do instead of a stack trace from inside tfjs.
 */
function gradients(loss: () => Tensor, vars: Variable[]) {
  try {
    return tf.variableGrads(loss as () => Scalar, vars)
  } catch (e) {
    const m = /Kernel '(\w+)' not registered for backend '(\w+)'/.exec((e as Error).message)
    if (!m) throw e
    throw new UsageError(
      `the ${m[2]} backend of TensorFlow.js cannot train this model: it has no ${m[1]} kernel. ` +
        `Run with TSRUN_DL_BACKEND=cpu (every kernel, slower), or install @tensorflow/tfjs-node`,
      { cause: e },
    )
  }
}

/** Default size of one fused gradient buffer: 4 MiB (Horovod's default fusion threshold is 64 MiB; ours is smaller because zeromq.js pipelines messages of a few MiB best). */
export const DEFAULT_BUCKET_BYTES = 4 << 20

/** Options of {@link DistributedOptimizer}. */
export interface DistributedOptimizerOptions {
  /** The model (or its variables in creation order) whose trainable variables the optimizer updates. */
  model: Trainable
  /** Ranks per group, consecutive ranks together (default: all ranks, plain synchronous SGD). */
  groupSize?: number
  /** With groups smaller than the world: average the model across all ranks every this many steps (default 8). */
  averageEvery?: number
  /** Also average the optimizer's slot variables (momentum, Adam moments) when averaging models (default true, as DL4J does). */
  averageOptimizerState?: boolean
  /** Size of one fused gradient buffer in bytes (default 4 MiB). */
  bucketBytes?: number
  /**
   * Gradient compression on the wire (Horovod's `Compression.fp16`): `'fp16'` or `'bf16'` sends and sums the
   * averaged gradients in 16-bit floats, half the bytes of float32; `'none'` (default) sends float32. Model
   * averages stay in float32.
   */
  compression?: 'none' | 'fp16' | 'bf16'
  /**
   * Gradient accumulation (Horovod's `backward_passes_per_step`, DDP's `no_sync`): `step` sums the gradients of
   * this many calls on this rank without communicating, then averages them over the calls and the group in one
   * allreduce and applies them once: the same update as one batch this many times larger. Default 1.
   */
  backwardPassesPerStep?: number
}

/** Where the time of the steps so far went, in milliseconds. */
export interface StepTimes {
  steps: number
  /** Forward, backward, copying gradients out and applying them. */
  computeMs: number
  /** Waiting for gradient allreduces and model averaging (the part not hidden behind copying). */
  commMs: number
}

/**
 * Wraps a tfjs optimizer for data-parallel training on `comm`.
 *
 * @example
 * ```ts
 * import { init } from 'tsrun'
 * import { tf, broadcastVariables, DistributedOptimizer, type Tensor } from 'tsrun/dl'
 * const world = await init()
 * await broadcastVariables(model, world)
 * const opt = new DistributedOptimizer(tf.train.sgd(0.1), world, { model })
 * for (const { x, y } of batches) await opt.step(() => tf.losses.softmaxCrossEntropy(y, model.apply(x) as Tensor))
 * await opt.finish()
 * ```
 */
export class DistributedOptimizer {
  /** The wrapped tfjs optimizer (its learning rate and state). */
  readonly optimizer: Optimizer
  readonly comm: Communicator
  readonly groupSize: number
  readonly averageEvery: number
  /** Steps taken so far (set from a checkpoint by `restoreCheckpoint` in `fitDistributed`). */
  stepCount = 0
  readonly times: StepTimes = { steps: 0, computeMs: 0, commMs: 0 }
  /** When this rank reached each step's gradient exchange (timeline.now(), µs): who arrives last holds the others up. */
  readonly arrivals: number[] = []
  private readonly vars: Variable[]
  private readonly layout: FusedLayout
  private readonly grads: Float32Array
  private readonly averageState: boolean
  private readonly compression: 'none' | 'fp16' | 'bf16'
  /** Calls of `step` per update (gradient accumulation). */
  readonly backwardPassesPerStep: number
  private group: Communicator | undefined
  private stepsSinceAverage = 0
  /** Backward passes summed into `grads` since the last update. */
  private passes = 0
  private readonly averager: ModelAverager

  constructor(optimizer: Optimizer, comm: Communicator, options: DistributedOptimizerOptions) {
    if (!options || options.model === undefined) {
      throw new UsageError('DistributedOptimizer needs { model }: the model (or its variables) it trains')
    }
    const groupSize = options.groupSize ?? comm.size
    if (!Number.isInteger(groupSize) || groupSize < 1 || groupSize > comm.size) {
      throw new UsageError(`groupSize must be an integer from 1 to the number of ranks (${comm.size}), got ${groupSize}`)
    }
    const averageEvery = options.averageEvery ?? 8
    if (!Number.isInteger(averageEvery) || averageEvery < 1) {
      throw new UsageError(`averageEvery must be a positive integer (steps between model averages), got ${averageEvery}`)
    }
    this.optimizer = optimizer
    this.comm = comm
    this.groupSize = groupSize
    this.averageEvery = averageEvery
    this.averageState = options.averageOptimizerState ?? true
    const compression = options.compression ?? 'none'
    if (compression !== 'none' && compression !== 'fp16' && compression !== 'bf16') {
      throw new UsageError(`compression must be "none", "fp16" or "bf16", got ${JSON.stringify(compression)}`)
    }
    this.compression = compression
    const k = options.backwardPassesPerStep ?? 1
    if (!Number.isInteger(k) || k < 1) throw new UsageError(`backwardPassesPerStep must be a positive integer, got ${k}`)
    this.backwardPassesPerStep = k
    this.averager = new ModelAverager(options.model, optimizer, comm, this.averageState)
    this.vars = trainableVariables(options.model)
    if (this.vars.length === 0) throw new UsageError('DistributedOptimizer: the model has no trainable variables')
    const fused = fuse(this.vars, options.bucketBytes ?? DEFAULT_BUCKET_BYTES)
    this.layout = fused.layout
    this.grads = fused.buffer
  }

  /** True when groups are smaller than the world, so models are averaged every `averageEvery` steps. */
  get hybrid(): boolean {
    return this.groupSize < this.comm.size
  }

  /** Number of fused buffers one step communicates. */
  get bucketCount(): number {
    return this.layout.buckets.length
  }

  /**
   * One training step: gradients of `loss` on this rank's batch, averaged over the group, applied. In hybrid
   * mode every `averageEvery`-th step also averages the model across all ranks. With `backwardPassesPerStep: k`
   * only every k-th call communicates and updates; the others add their gradients to this rank's sum. Every rank
   * of `comm` must call it the same number of times. Resolves to this rank's loss before the step.
   */
  async step(loss: () => Tensor): Promise<number> {
    const t0 = performance.now()
    const { value, grads } = timeline.span('forward + backward', () => gradients(loss, this.vars), 'dl')
    const tensors = this.vars.map((v) => {
      const g = grads[v.name]
      if (g === undefined) throw new UsageError(`the loss does not depend on variable "${v.name}"; every trainable variable needs a gradient`)
      return g
    })
    const first = this.passes === 0
    this.passes++
    let waitMs = 0
    if (this.passes < this.backwardPassesPerStep) {
      for (const b of this.layout.buckets) (first ? this.layout.pack : this.layout.accumulate).call(this.layout, this.grads, tensors, b)
      tf.dispose(grads)
    } else {
      waitMs = await this.exchange(tensors, first)
      tf.dispose(grads)
      this.apply()
    }
    const lossValue = (await value.data())[0]!
    value.dispose()
    const t1 = performance.now()
    this.times.computeMs += t1 - t0 - waitMs
    this.times.commMs += waitMs
    if (this.passes === 0 && this.hybrid && this.stepsSinceAverage >= this.averageEvery) await this.average()
    return lossValue
  }

  /**
   * Applies the gradients summed since the last update, if any (fewer than `backwardPassesPerStep` of them, e.g.
   * at the end of an epoch), averaged over the passes taken. Every rank calls it at the same point.
   */
  async flush(): Promise<void> {
    if (this.passes === 0) return
    const t0 = performance.now()
    const waitMs = await this.exchange(undefined, false)
    this.apply()
    this.times.computeMs += performance.now() - t0 - waitMs
    this.times.commMs += waitMs
    if (this.hybrid && this.stepsSinceAverage >= this.averageEvery) await this.average()
  }

  /** Backward passes summed but not applied yet (gradient accumulation). */
  get pendingPasses(): number {
    return this.passes
  }

  /**
   * Adds the last pass's gradients (if any) into the fused buffer, bucket by bucket, and averages each bucket
   * over the passes and the group as soon as it is complete. Resolves to the milliseconds spent waiting.
   */
  private async exchange(tensors: Tensor[] | undefined, first: boolean): Promise<number> {
    const group = await this.groupComm()
    this.arrivals.push(timeline.now())
    if (this.arrivals.length > 1 << 16) this.arrivals.splice(0, this.arrivals.length - (1 << 16)) // a custom loop never reads them
    const scale = 1 / this.passes
    const pending: Promise<unknown>[] = []
    // Start each bucket's allreduce as soon as it is copied; the next bucket is copied while it runs.
    this.layout.buckets.forEach((b, i) => {
      if (tensors) (first ? this.layout.pack : this.layout.accumulate).call(this.layout, this.grads, tensors, b)
      const grads = this.grads.subarray(b.start, b.end)
      if (scale !== 1) for (let j = 0; j < grads.length; j++) grads[j]! *= scale
      if (group.size > 1)
        pending.push(
          timeline.span(`gradient bucket ${i}`, () => group.allreduce(grads, 'avg', { compression: this.compression }), 'dl', { bytes: grads.byteLength }),
        )
    })
    if (pending.length === 0) return 0
    const w0 = performance.now()
    await Promise.all(pending)
    return performance.now() - w0
  }

  private apply(): void {
    timeline.span(
      'apply gradients',
      () => {
        const averaged = this.layout.unpack(this.grads)
        this.optimizer.applyGradients(Object.fromEntries(this.vars.map((v, i) => [v.name, averaged[i]!])))
        tf.dispose(averaged)
      },
      'dl',
    )
    this.passes = 0
    this.stepCount++
    this.stepsSinceAverage++
    this.times.steps++
  }

  /**
   * Averages the model (and optimizer state) across every rank of `comm` now. `step` calls it on schedule in
   * hybrid mode; call it yourself (or {@link finish}) before evaluating or saving.
   */
  async average(): Promise<void> {
    return timeline.span('model average', () => this.averageNow(), 'dl')
  }

  private async averageNow(): Promise<void> {
    const t0 = performance.now()
    this.stepsSinceAverage = 0
    await this.averager.average()
    this.times.commMs += performance.now() - t0
  }

  /** Ends training: applies accumulated gradients ({@link flush}) and, in hybrid mode, a last average so every rank holds the same model. */
  async finish(): Promise<void> {
    await this.flush()
    if (this.hybrid && this.stepsSinceAverage > 0) await this.average()
  }

  /** Steps since the last model average (0 in synchronous mode after every step). */
  get pendingSteps(): number {
    return this.hybrid ? this.stepsSinceAverage : 0
  }

  private async groupComm(): Promise<Communicator> {
    if (this.group) return this.group
    if (!this.hybrid) {
      this.group = this.comm
    } else {
      const g = await this.comm.split(Math.floor(this.comm.rank / this.groupSize), this.comm.rank)
      if (!g) throw new Error('split returned no communicator for a defined color')
      this.group = g
    }
    return this.group
  }
}
