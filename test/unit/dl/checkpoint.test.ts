import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { init } from '../../../src/index.ts'
import { tf, type Scalar, type Tensor } from '../../../src/dl/backend.ts'
import { listCheckpoints, restoreCheckpoint, saveCheckpoint } from '../../../src/dl/checkpoint.ts'

const dir = mkdtempSync(join(tmpdir(), 'tsrun-ckpt-unit-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function model() {
  return tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 })] })
}

describe('checkpoints (a world of one)', () => {
  it('round-trips weights, optimizer state and position; keeps the newest; ignores incomplete directories', async () => {
    const world = await init()
    const a = model()
    const opt = tf.train.adam(0.01)
    // One step so that Adam has moments to save.
    opt.minimize(() => tf.sum(tf.square(a.apply(tf.ones([1, 3])) as Tensor)) as Scalar)
    const d = join(dir, 'a')
    for (const step of [1, 2, 3, 4]) await saveCheckpoint(d, a, opt, { step, extra: { note: `s${step}` } }, { keep: 2 })
    mkdirSync(join(d, 'ckpt-000000009')) // no manifest (a copy cut short): not a checkpoint
    mkdirSync(join(d, '.tmp-123-000000010'))
    expect((await listCheckpoints(d)).map((c) => c.step)).toEqual([3, 4])

    const b = model()
    const opt2 = tf.train.adam(0.01)
    const at = await restoreCheckpoint(d, b, opt2, world)
    expect(at).toEqual({ step: 4, extra: { note: 's4' } })
    expect(b.getWeights().map((w) => [...w.dataSync()])).toEqual(a.getWeights().map((w) => [...w.dataSync()]))
    const [s1, s2] = [await opt.getWeights(), await opt2.getWeights()]
    expect(s2.map((n) => [...n.tensor.dataSync()])).toEqual(s1.map((n) => [...n.tensor.dataSync()]))
  })

  it('an empty or missing directory restores nothing', async () => {
    const world = await init()
    expect(await restoreCheckpoint(join(dir, 'none'), model(), tf.train.sgd(0.1), world)).toBeUndefined()
  })

  it('a damaged checkpoint is a clear error, and so is one from another architecture', async () => {
    const world = await init()
    const d = join(dir, 'bad')
    const path = await saveCheckpoint(d, model(), tf.train.sgd(0.1), { step: 7 })
    const other = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 }), tf.layers.dense({ units: 1 })] })
    await expect(restoreCheckpoint(d, other, tf.train.sgd(0.1), world)).rejects.toThrow(
      /has 2 model variables, the model has 4; it was saved from another architecture/,
    )
    truncateSync(join(path, 'tensors.bin'), 4)
    await expect(restoreCheckpoint(d, model(), tf.train.sgd(0.1), world)).rejects.toThrow(
      /tensors.bin has 4 bytes, its manifest says \d+; the checkpoint is damaged/,
    )
    writeFileSync(join(path, 'manifest.json'), '{"format":"something-else"}')
    await expect(restoreCheckpoint(d, model(), tf.train.sgd(0.1), world)).rejects.toThrow(/is not a tsrun checkpoint/)
    expect(readdirSync(d)).toEqual(['ckpt-000000007'])
  })
})
