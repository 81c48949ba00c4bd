/** The losses `fitDistributed` and `evaluateDistributed` accept: Keras names, or a function of the user's. */
import { UsageError } from '../index.ts'
import { tf, type Tensor } from './backend.ts'

/** Built-in losses by their Keras names; each has a matching accuracy where one makes sense. */
const LOSSES: Record<LossName, { loss: PerSample; acc: PerSample | undefined }> = {
  categoricalCrossentropy: {
    loss: (y: Tensor, p: Tensor) => tf.metrics.categoricalCrossentropy(y, p),
    acc: (y: Tensor, p: Tensor) => tf.metrics.categoricalAccuracy(y, p),
  },
  binaryCrossentropy: { loss: (y: Tensor, p: Tensor) => tf.metrics.binaryCrossentropy(y, p), acc: (y: Tensor, p: Tensor) => tf.metrics.binaryAccuracy(y, p) },
  meanSquaredError: { loss: (y: Tensor, p: Tensor) => tf.metrics.meanSquaredError(y, p), acc: undefined },
  meanAbsoluteError: { loss: (y: Tensor, p: Tensor) => tf.metrics.meanAbsoluteError(y, p), acc: undefined },
}

/** The built-in losses by their Keras names. */
export type LossName = 'categoricalCrossentropy' | 'binaryCrossentropy' | 'meanSquaredError' | 'meanAbsoluteError'

/** A loss by Keras name, or a function of (targets, predictions) giving per-sample losses or their mean. */
export type LossSpec = LossName | ((yTrue: Tensor, yPred: Tensor) => Tensor)

/** Per-sample values of (targets, predictions). */
export type PerSample = (y: Tensor, p: Tensor) => Tensor

/** The loss and, for the built-in classification losses, the accuracy of a spec. */
export function resolveLoss(spec: LossSpec | undefined): { lossFn: PerSample; accFn: PerSample | undefined } {
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
