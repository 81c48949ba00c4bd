// train.ts: a training loop of your own with tsrun/dl: npx tsrun -np 2 train.ts
import { init } from 'tsrun'
import { arrayDataset, broadcastVariables, DistributedOptimizer, epochBatches, prefetch, tf, type Tensor } from 'tsrun/dl'

const world = await init()
// A small synthetic problem, the same on every rank: 256 samples of 8 features, 2 classes.
const n = 256
const x = Float32Array.from({ length: n * 8 }, (_, i) => Math.sin(i * 12.9898) % 1)
const y = new Float32Array(n * 2)
for (let s = 0; s < n; s++) y[s * 2 + (x[s * 8]! > 0 ? 1 : 0)] = 1
const train = arrayDataset(x, y, [8], [2])

const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [8], units: 16, activation: 'relu' }), tf.layers.dense({ units: 2 })] })
const opt = new DistributedOptimizer(tf.train.adam(1e-2), world, { model })
await broadcastVariables(model, world) // every rank starts from rank 0's weights
for (let epoch = 0; epoch < 3; epoch++) {
  let loss = 0
  for await (const b of prefetch(epochBatches(train, 16, { rank: world.rank, size: world.size, seed: 1, epoch }))) {
    const xs = tf.tensor(b.x, [b.size, 8])
    const ys = tf.tensor(b.y, [b.size, 2])
    loss = await opt.step(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs) as Tensor))
    tf.dispose([xs, ys])
  }
  if (world.rank === 0) console.log(`epoch ${epoch + 1}: loss ${loss.toFixed(4)}`)
}
await opt.finish()
await world.finalize()
