/**
 * Trains a digit classifier on MNIST with data-parallel SGD.
 *
 *   npx tsrun -np 4 examples/mnist/train.ts                      # synchronous SGD on 4 ranks
 *   npx tsrun -np 4 examples/mnist/train.ts --group-size 2 --average-every 4   # hybrid groups
 *
 * Ends with `test accuracy: 0.9xxx` on rank 0 (and a JSON summary with --json).
 */
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { init } from 'tsrun'
import { backendInfo, evaluateDistributed, fitDistributed, tf } from 'tsrun/dl'
import { loadMnist } from './data.ts'

const args = await yargs(hideBin(process.argv))
  .scriptName('examples/mnist/train.ts')
  .usage('tsrun -np N $0 [options]')
  .options({
    epochs: { type: 'number', default: 5, describe: 'passes over the training set' },
    'batch-size': { type: 'number', default: 32, describe: 'samples per rank per step' },
    lr: { type: 'number', default: 0.05, describe: 'learning rate (SGD with momentum 0.9)' },
    'group-size': { type: 'number', describe: 'ranks per synchronous group (default: all ranks)' },
    'average-every': { type: 'number', default: 8, describe: 'steps between model averages across groups' },
    model: { choices: ['mlp', 'cnn'] as const, default: 'mlp' as const, describe: 'a 784-128-10 MLP or a small CNN' },
    seed: { type: 'number', default: 1, describe: 'seed of the data order' },
    checkpoint: { type: 'string', describe: 'directory for checkpoints (written every --checkpoint-every steps)' },
    'checkpoint-every': { type: 'number', default: 50 },
    resume: { type: 'boolean', default: false, describe: 'start from the latest checkpoint in --checkpoint' },
    'max-steps': { type: 'number', describe: 'stop after this many steps' },
    compression: { choices: ['none', 'fp16', 'bf16'] as const, default: 'none' as const, describe: 'gradients on the wire as 16-bit floats' },
    json: { type: 'boolean', default: false, describe: 'print a JSON summary at the end' },
  })
  .strictOptions()
  .parserConfiguration({ 'duplicate-arguments-array': false }) // a repeated option: the last one wins
  .help()
  .parse()

const world = await init()
const { train, test } = loadMnist()

// Every rank builds the same architecture; fitDistributed starts them all from rank 0's weights.
const model =
  args.model === 'cnn'
    ? tf.sequential({
        layers: [
          tf.layers.reshape({ inputShape: [784], targetShape: [28, 28, 1] }),
          tf.layers.conv2d({ filters: 8, kernelSize: 5, activation: 'relu' }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 10, activation: 'softmax' }),
        ],
      })
    : tf.sequential({
        layers: [tf.layers.dense({ inputShape: [784], units: 128, activation: 'relu' }), tf.layers.dense({ units: 10, activation: 'softmax' })],
      })
model.compile({ optimizer: tf.train.momentum(args.lr, 0.9), loss: 'categoricalCrossentropy' })

const result = await fitDistributed(model, train, {
  comm: world,
  epochs: args.epochs,
  batchSize: args['batch-size'],
  groupSize: args['group-size'],
  averageEvery: args['average-every'],
  seed: args.seed,
  validationData: test,
  checkpoint: args.checkpoint ? { dir: args.checkpoint, every: args['checkpoint-every'] } : undefined,
  resume: args.resume,
  maxSteps: args['max-steps'],
  compression: args.compression,
})
// In an elastic job (tsrun --elastic MIN:MAX) training may end on another world than it began on.
const final = result.comm
const evaluated = await evaluateDistributed(model, test, final)

if (final.rank === 0) {
  console.log(`test accuracy: ${evaluated.acc!.toFixed(4)}`)
  if (args.json) {
    const last = result.history.at(-1)
    console.log(
      JSON.stringify({
        ranks: final.size,
        backend: backendInfo.name,
        model: args.model,
        params: model.countParams(),
        epochs: args.epochs,
        steps: result.steps,
        batchSize: args['batch-size'],
        groupSize: args['group-size'] ?? world.size,
        averageEvery: args['average-every'],
        testAccuracy: evaluated.acc,
        testLoss: evaluated.loss,
        trainLoss: last?.loss,
        samplesPerSecond: last?.samplesPerSecond,
        commShare: last?.commShare,
      }),
    )
  }
}
await final.finalize()
