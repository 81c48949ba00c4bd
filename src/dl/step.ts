/** One training step of a data-parallel model on one batch: forward, loss, fused allreduce, apply. */
import { tf, type LayersModel, type Tensor } from './backend.ts'
import type { ArrayBatch, ArrayDataset } from './data.ts'
import type { PerSample } from './losses.ts'
import type { DistributedOptimizer } from './optimizer.ts'

/** One step on batch `b`; `weight` scales this rank's loss (its share of an elastic step's global batch), and the loss reported is unscaled. */
export async function trainStep(
  model: LayersModel,
  opt: DistributedOptimizer,
  data: ArrayDataset,
  b: ArrayBatch,
  lossFn: PerSample,
  accFn: PerSample | undefined,
  weight = 1,
) {
  const xs = tf.tensor(b.x, [b.size, ...data.xShape])
  const ys = tf.tensor(b.y, [b.size, ...data.yShape])
  let correct: Tensor | undefined
  try {
    const loss = await opt.step(() => {
      const pred = model.apply(xs, { training: true }) as Tensor
      if (accFn) correct = tf.keep(tf.sum(accFn(ys, pred)))
      const mean = tf.mean(lossFn(ys, pred))
      return weight === 1 ? mean : tf.mul(mean, weight)
    })
    return { loss: weight === 1 ? loss : weight > 0 ? loss / weight : 0, correct: correct ? (await correct.data())[0]! : 0 }
  } finally {
    tf.dispose([xs, ys])
    correct?.dispose()
  }
}
