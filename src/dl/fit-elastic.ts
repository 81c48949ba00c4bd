/**
 * `fitDistributed` in an elastic job (`tsrun --elastic MIN:MAX`, `fitDistributed(…, { elastic: true })`):
 * synchronous SGD that goes on through lost and joining ranks without a restart or a disk read.
 * - Each step takes the next global batch of the epoch's order (`elasticSlice`), split over the current world,
 *   each rank's loss weighted by its share, so a step is the same update whatever the world's size; with
 *   `elasticBatch: 'keep'` (default) the global batch stays what it was at the start (more per rank after a
 *   loss), with `'scale'` it is `batchSize` per rank and the learning rate follows the global batch (linear rule).
 * - A step is committed once its allreduce has been applied, with no await between: after a change the members
 *   with the most commits send the model, the optimizer's state and the position (epoch, offset, step) to the
 *   others (new ranks, survivors whose last step failed), so a step that did not complete everywhere is lost,
 *   never half applied, and every sample of an epoch is used exactly once.
 * - With `backwardPassesPerStep: k` a committed step is k global batches, their gradients summed on each rank and
 *   allreduced once; the commit follows that update, so a change in the middle of the k passes discards them all
 *   (the position goes back to the last commit, and the new world's optimizer starts with nothing summed).
 * - Callbacks and the learning-rate options behave as without `--elastic`. The callbacks' context holds the
 *   current world; a rank that joins runs `onTrainBegin` when it starts and `onEpochBegin` for the epoch it joins
 *   in. The linear rule scales by the global batch over `batchSize`, and the warm-up counts committed steps, so
 *   every member sets the same rate for a step whatever world it joined.
 */
import { ElasticState, elasticSlice, runElastic, syncPlan, transferArrays, UsageError, type Communicator, type Resumable } from '../index.ts'
import { tf, type LayersModel, type Optimizer } from './backend.ts'
import { CallbackRunner, type FitCallback } from './callbacks.ts'
import { gatherRows, permutation, type ArrayDataset } from './data.ts'
import { formatEpoch, timingAcrossRanks, type EpochLogs } from './epoch-logs.ts'
import { evaluateDistributed, meansOf } from './evaluate.ts'
import type { LossSpec, PerSample } from './losses.ts'
import { averageMetrics } from './metrics.ts'
import { learningRateOr, LearningRateSchedule, setLearningRate, type LearningRateOptions } from './lr.ts'
import { DistributedOptimizer, type StepTimes } from './optimizer.ts'
import { trainStep } from './step.ts'
import { allVariables, assignFrom, fuse, readInto } from './variables.ts'

/** Where training stands: what a change of world carries over, besides the model and the optimizer. */
interface Position {
  epoch: number
  /** Positions of the epoch's order that committed steps took. */
  offset: number
  step: number
  /** The global batch (samples per step over all ranks). */
  globalBatch: number
  history: EpochLogs[]
  /** A callback asked to stop (agreed over the members). */
  stopped: boolean
}

/** The model, its optimizer and the position, synchronised from the member with the newest commit. */
class TrainingState implements Resumable {
  readonly position: ElasticState<Position>
  private readonly model: LayersModel
  private readonly optimizer: Optimizer

  constructor(model: LayersModel, optimizer: Optimizer, position: Position) {
    this.model = model
    this.optimizer = optimizer
    this.position = new ElasticState({ values: position })
  }

  get step(): number {
    return this.position.values.step
  }

  /** The model and optimizer are never half updated (see the file's comment): only the position goes back. */
  restore(): void {
    this.position.restore()
  }

  /**
   * The model and the optimizer's state from the members holding the newest commit to those lacking it (a joiner,
   * a survivor whose last step failed; elastic/transfer.ts says from which holders); then the position.
   */
  async sync(world: Communicator): Promise<void> {
    const plan = await syncPlan(world, this.position.commits)
    if (plan.needers.length > 0) {
      const holder = plan.holders.includes(world.rank)
      const vars = allVariables(this.model)
      const { layout, buffer } = fuse(vars)
      if (holder) readInto(layout, buffer, vars)
      const slots = await optimizerSlots(this.optimizer, world, plan.holders[0]!, holder)
      await transferArrays(world, plan, [buffer, ...slots.buffers])
      if (!holder) {
        assignFrom(layout, buffer, vars)
        await slots.apply()
      }
    }
    await this.position.sync(world)
  }
}

/**
 * The optimizer's state (slots, iteration count) as arrays to transfer: the layout comes from `root` (a new
 * rank's optimizer has none yet), the values from each holder's own optimizer; `apply` sets them on a member
 * that lacked them.
 */
async function optimizerSlots(optimizer: Optimizer, world: Communicator, root: number, holder: boolean) {
  const mine = holder ? await optimizer.getWeights() : []
  const meta = await world.broadcastObject(
    mine.map((n) => ({ name: n.name, shape: n.tensor.shape, dtype: n.tensor.dtype })),
    root,
  )
  const buffers = meta.map((m, i) => {
    if (holder) return (mine[i]!.tensor.dataSync() as Float32Array | Int32Array).slice()
    const size = m.shape.reduce((a, b) => a * b, 1)
    return m.dtype === 'int32' ? new Int32Array(size) : new Float32Array(size)
  })
  for (const n of mine) if (typeof (n.tensor as { assign?: unknown }).assign !== 'function') n.tensor.dispose()
  return {
    buffers,
    async apply(): Promise<void> {
      if (meta.length === 0) return
      const values = meta.map((m, i) => ({ name: m.name, tensor: tf.tensor(buffers[i]!, m.shape, m.dtype as 'float32' | 'int32') }))
      await optimizer.setWeights(values)
      for (const n of values) if (n.tensor.dtype === 'int32') n.tensor.dispose()
    },
  }
}

/** What fitElastic needs from fitDistributed's options, checked there. */
export interface ElasticFit {
  comm: Communicator
  epochs: number
  batchSize: number
  seed: number
  shuffle: boolean
  verbose: 0 | 1
  maxSteps?: number
  elasticBatch: 'keep' | 'scale'
  /** Global batches per committed update (gradient accumulation). */
  backwardPassesPerStep: number
  bucketBytes?: number
  compression?: 'none' | 'fp16' | 'bf16'
  validation?: ArrayDataset
  loss?: LossSpec
  onStep?: (step: number, loss: number) => void | Promise<void>
  onEpochEnd?: (logs: EpochLogs) => void | Promise<void>
  callbacks?: FitCallback[]
  lr: LearningRateOptions
}

/** fitDistributed's elastic loop; resolves with the history and the world training ended on. */
export async function fitElastic(
  model: LayersModel,
  train: ArrayDataset,
  optimizer: Optimizer,
  lossFn: PerSample,
  accFn: PerSample | undefined,
  o: ElasticFit,
): Promise<{ history: EpochLogs[]; steps: number; times: StepTimes; optimizer: DistributedOptimizer; comm: Communicator; stopped: boolean }> {
  if (train.length === 0) throw new UsageError('fitDistributed: the training data is empty')
  const startSize = o.comm.size
  const baseLr = (optimizer as { learningRate?: number }).learningRate
  if (o.elasticBatch === 'scale' && typeof (optimizer as { setLearningRate?: unknown }).setLearningRate !== 'function') {
    throw new UsageError("elasticBatch: 'scale' needs an optimizer with setLearningRate (tf.train.sgd or tf.train.momentum); use 'keep'")
  }
  const scheduled = LearningRateSchedule.wanted(o.lr)
  const k = o.backwardPassesPerStep
  const state = new TrainingState(model, optimizer, { epoch: 0, offset: 0, step: 0, globalBatch: o.batchSize * startSize, history: [], stopped: false })
  const times: StepTimes = { steps: 0, computeMs: 0, commMs: 0 }
  let opt: DistributedOptimizer | undefined
  let order: { epoch: number; order: Int32Array } | undefined
  const orderOf = (epoch: number) => {
    if (order?.epoch !== epoch)
      order = { epoch, order: o.shuffle ? permutation(train.length, o.seed, epoch) : Int32Array.from({ length: train.length }, (_, i) => i) }
    return order.order
  }
  let begun = false
  let epochBegun = -1
  let epochEndSeen = -1
  let lastCallbacks: CallbackRunner | undefined
  const comm = await runElastic(
    state,
    async (world) => {
      const p = state.position
      if (o.elasticBatch === 'scale') {
        p.values.globalBatch = o.batchSize * world.size
        setLearningRate(optimizer, ((baseLr ?? 0) * world.size) / startSize)
      }
      // A schedule per world: the linear rule's factor (the global batch over batchSize) and an epoch's steps follow it.
      let lr: LearningRateSchedule | undefined
      if (scheduled) {
        const linear = o.lr.lrScaling === 'linear'
        const base = linear || o.elasticBatch === 'keep' ? baseLr! : (baseLr! * world.size) / startSize
        // The samples one update averages: the global batch × the passes summed.
        const updatesPerEpoch = Math.ceil(Math.ceil(train.length / p.values.globalBatch) / k)
        lr = new LearningRateSchedule(optimizer, o.lr, (p.values.globalBatch * k) / o.batchSize, updatesPerEpoch, base)
      }
      let rate = lr?.base ?? 0
      const callbacks = new CallbackRunner(o.callbacks, { comm: world, model, optimizer })
      // A stop this rank asked for whose agreement the change of world cut off is asked again in this world.
      if (lastCallbacks?.ctx.stopTraining) callbacks.ctx.stopTraining = true
      lastCallbacks = callbacks
      if (!begun) {
        begun = true
        await callbacks.trainBegin()
      }
      opt = new DistributedOptimizer(optimizer, world, { model, bucketBytes: o.bucketBytes, compression: o.compression, backwardPassesPerStep: k })
      let passLoss = 0
      const show = o.verbose >= 1 && world.rank === 0
      const maxSteps = o.maxSteps ?? Number.POSITIVE_INFINITY
      let sums = { loss: 0, acc: 0, count: 0, t0: performance.now(), computeMs: 0, commMs: 0, from: p.values.offset }
      while (p.values.epoch < o.epochs && p.values.step < maxSteps && !p.values.stopped) {
        const v = p.values
        if (epochBegun !== v.epoch) {
          epochBegun = v.epoch
          await callbacks.epochBegin(v.epoch)
        }
        if (v.offset >= train.length && opt.pendingPasses > 0) {
          // The epoch's last update takes the passes left (every member has the same number).
          await opt.flush()
          v.step++
          p.commit()
          await o.onStep?.(v.step, passLoss)
          if (await callbacks.batchEnd(v.step, { epoch: v.epoch, loss: passLoss, lr: lr ? rate : learningRateOr(optimizer) })) {
            v.stopped = true
            p.commit()
          }
          continue
        }
        if (v.offset >= train.length) {
          // The epoch's end: metrics over the ranks (since this world began the epoch's part it saw).
          const avg = await averageMetrics(world, meansOf(sums.loss, accFn ? sums.acc : undefined, sums.count), sums.count)
          const seconds = (performance.now() - sums.t0) / 1000
          const timing = await timingAcrossRanks(world, opt.times.computeMs - sums.computeMs, opt.times.commMs - sums.commMs)
          const logs = {
            epoch: v.epoch,
            ...avg,
            samples: train.length - sums.from,
            seconds,
            samplesPerSecond: (train.length - sums.from) / seconds,
            ...timing,
          } as EpochLogs
          if (o.validation) {
            const r = await evaluateDistributed(model, o.validation, world, { batchSize: Math.max(o.batchSize, 256), loss: o.loss ?? (model.loss as LossSpec) })
            logs.valLoss = r.loss
            if (r.acc !== undefined) logs.valAcc = r.acc
          }
          if (show) process.stderr.write(`epoch ${v.epoch + 1}/${o.epochs} (${world.size} ranks): ${formatEpoch(logs)}\n`)
          v.history.push(logs)
          // A change of world during the stop's agreement brings this epoch's end back: this rank's callbacks
          // have seen it already (an early stop's patience must not count it twice); only the agreement is redone.
          const seen = epochEndSeen === v.epoch
          epochEndSeen = v.epoch
          if (!seen) await o.onEpochEnd?.(logs)
          if (await callbacks.epochEnd(v.epoch, logs, seen)) v.stopped = true
          v.epoch++
          v.offset = 0
          p.commit()
          sums = { loss: 0, acc: 0, count: 0, t0: performance.now(), computeMs: opt.times.computeMs, commMs: opt.times.commMs, from: 0 }
          continue
        }
        const { start, end, next } = elasticSlice({ offset: v.offset, globalBatch: v.globalBatch, length: train.length, rank: world.rank, size: world.size })
        const rows = orderOf(v.epoch).subarray(start, end)
        // A rank with no samples in an epoch's last step still takes part, with a sample weighted 0.
        const b = gatherRows(train, rows.length > 0 ? rows : orderOf(v.epoch).subarray(0, 1))
        const weight = (rows.length * world.size) / (next - v.offset)
        if (lr && opt.pendingPasses === 0) rate = lr.atUpdate(v.epoch, v.step)
        const { loss, correct } = await trainStep(model, opt, train, b, lossFn, accFn, weight)
        v.offset = next
        sums.loss += loss * rows.length
        sums.acc += rows.length > 0 ? correct : 0
        sums.count += rows.length
        passLoss = loss
        if (opt.pendingPasses > 0) continue // summed, not applied: no commit until the update
        v.step++
        p.commit() // straight after the step's update: nothing awaited in between
        await o.onStep?.(v.step, loss)
        if (await callbacks.batchEnd(v.step, { epoch: v.epoch, loss, lr: lr ? rate : learningRateOr(optimizer) })) {
          v.stopped = true
          p.commit()
        }
      }
      // Every member finished training on this world before it is handed back.
      await world.barrier()
      times.steps += opt.times.steps
      times.computeMs += opt.times.computeMs
      times.commMs += opt.times.commMs
      return world
    },
    { finalize: false },
  )
  await lastCallbacks?.trainEnd(state.position.values.history)
  // Scaling and warm-up belong to this run: the optimizer gets its own rate back (as without --elastic).
  if (scheduled && baseLr !== undefined) setLearningRate(optimizer, baseLr)
  const v = state.position.values
  return { history: v.history, steps: v.step, times, optimizer: opt!, comm, stopped: v.stopped }
}
