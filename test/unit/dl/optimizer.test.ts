import { describe, expect, it } from 'vitest'
import { init } from '../../../src/index.ts'
import { backendInfo, tf, type Tensor } from '../../../src/dl/backend.ts'
import { DistributedOptimizer } from '../../../src/dl/optimizer.ts'

describe('DistributedOptimizer (a world of one)', () => {
  it('rejects bad options with what was expected', async () => {
    const world = await init()
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1 })] })
    expect(() => new DistributedOptimizer(tf.train.sgd(0.1), world, { model, groupSize: 2 })).toThrow(
      'groupSize must be an integer from 1 to the number of ranks (1), got 2',
    )
    expect(() => new DistributedOptimizer(tf.train.sgd(0.1), world, { model, averageEvery: 0 })).toThrow('averageEvery must be a positive integer')
    expect(() => new DistributedOptimizer(tf.train.sgd(0.1), world, {} as never)).toThrow('DistributedOptimizer needs { model }')
  })

  it.runIf(backendInfo.name === 'wasm')('says what to do when the backend lacks a gradient kernel (wasm has none for depthwise convolutions)', async () => {
    const world = await init()
    const model = tf.sequential({
      layers: [tf.layers.depthwiseConv2d({ inputShape: [6, 6, 1], kernelSize: 3 }), tf.layers.flatten(), tf.layers.dense({ units: 1 })],
    })
    const opt = new DistributedOptimizer(tf.train.sgd(0.1), world, { model })
    const x = tf.ones([1, 6, 6, 1])
    await expect(opt.step(() => tf.sum(model.apply(x) as Tensor))).rejects.toThrow(
      /the wasm backend of TensorFlow.js cannot train this model: it has no DepthwiseConv2dNativeBackpropFilter kernel. Run with TSRUN_DL_BACKEND=cpu/,
    )
  })
})
