/** Distributed evaluation: each rank evaluates a slice of the data, and the results are averaged. */
import { UsageError, type Communicator } from '../index.ts'
import { tf, type LayersModel, type Tensor } from './backend.ts'
import { arrayDataset, gatherRows, type ArrayDataset } from './data.ts'
import { resolveLoss, type LossSpec } from './losses.ts'
import { averageMetrics } from './metrics.ts'

/** Training data: an {@link ArrayDataset}, or Keras-style tensors whose first axis is the sample. */
export type FitData = ArrayDataset | { x: Tensor; y: Tensor }

/** The data as an ArrayDataset (tensors are copied out once). */
export function toDataset(data: FitData, what: string): ArrayDataset {
  if ('length' in data && data.x instanceof Float32Array) return data
  const { x, y } = data as { x: Tensor; y: Tensor }
  if (!x || !y || typeof x.dataSync !== 'function' || typeof y.dataSync !== 'function') {
    throw new UsageError(`${what} must be { x, y } tensors (first axis: samples) or an ArrayDataset from arrayDataset()`)
  }
  if (x.shape[0] !== y.shape[0]) throw new UsageError(`${what}: x has ${x.shape[0]} samples but y has ${y.shape[0]}`)
  return arrayDataset(Float32Array.from(x.dataSync()), Float32Array.from(y.dataSync()), x.shape.slice(1), y.shape.slice(1))
}

/** Loss and accuracy sums over `n` samples as means. */
export function meansOf(lossSum: number, accSum: number | undefined, n: number): { loss: number; acc?: number } {
  const d = Math.max(1, n)
  return accSum === undefined ? { loss: lossSum / d } : { loss: lossSum / d, acc: accSum / d }
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
export async function evaluateDistributed(
  model: LayersModel,
  data: FitData,
  comm: Communicator,
  options: { loss?: LossSpec; batchSize?: number } = {},
): Promise<{ loss: number; acc?: number; samples: number }> {
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
