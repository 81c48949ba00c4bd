// The wasm backend's Conv2DBackpropFilter (src/dl/wasm-kernels.ts) against the cpu backend's, kernel by kernel
// and through a whole gradient of a small CNN.
import { afterEach, describe, expect, it } from 'vitest'
import type { Tensor4D } from '@tensorflow/tfjs'
import { backendInfo, tf, type Tensor } from '../../../src/dl/backend.ts'
import { matchesCpu, maxRel, onBackend } from '../../helpers/backends.ts'
import { registerWasmTrainingKernels } from '../../../src/dl/wasm-kernels.ts'
import { registerWasmMaxPoolGrad } from '../../../src/dl/wasm-pool.ts'

/** Explicit, uneven pads (NHWC: batch, height, width, channels). */
const EXPLICIT_PADS = [
  [0, 0],
  [1, 2],
  [2, 0],
  [0, 0],
]

describe.runIf(backendInfo.name === 'wasm')('Conv2DBackpropFilter on wasm', () => {
  afterEach(() => void tf.setBackend('wasm'))

  it.each([
    { x: [2, 9, 9, 3], f: [3, 3, 3, 4], strides: 1, pad: 'valid' },
    { x: [2, 9, 9, 3], f: [3, 3, 3, 4], strides: 2, pad: 'valid' },
    { x: [2, 10, 8, 2], f: [5, 3, 2, 3], strides: [2, 1], pad: 'same' },
    { x: [3, 28, 28, 1], f: [5, 5, 1, 8], strides: 1, pad: 'valid' },
    { x: [1, 7, 7, 2], f: [2, 2, 2, 2], strides: 3, pad: 'same' },
    {
      x: [2, 6, 6, 2],
      f: [3, 3, 2, 2],
      strides: 1,
      pad: EXPLICIT_PADS,
    },
  ])("x $x, filter $f, strides $strides, pad $pad: the cpu backend's result", ({ x, f, strides, pad }) => {
    const info = tf.backend_util.computeConv2DInfo(x as never, f as never, strides as never, 1, pad as never)
    const xs = Float32Array.from({ length: x.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37))
    const dys = Float32Array.from({ length: info.outShape.reduce((a, b) => a * b) }, (_, i) => Math.cos(i * 0.11))
    const run = (name: string) =>
      onBackend(name, () => {
        const out = tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(xs, x), dy: tf.tensor(dys, info.outShape) }, {
          strides,
          pad,
          dataFormat: 'NHWC',
          dimRoundingMode: undefined,
          filterShape: f,
        } as never) as Tensor
        expect(out.shape).toEqual(f)
        return out.dataSync().slice()
      })
    matchesCpu(run)
  })

  it.each([
    { x: [2, 9, 9, 3], f: [3, 3, 3, 4], strides: 1, pad: 'same' },
    { x: [2, 9, 9, 3], f: [3, 3, 3, 4], strides: 1, pad: 'valid' },
    { x: [3, 12, 10, 2], f: [5, 3, 2, 3], strides: 1, pad: 'same' },
    { x: [1, 8, 8, 16], f: [2, 2, 16, 8], strides: 1, pad: 'same' },
    { x: [2, 9, 9, 3], f: [3, 3, 3, 4], strides: 2, pad: 'same' },
    {
      x: [2, 6, 7, 2],
      f: [3, 3, 2, 2],
      strides: 1,
      pad: EXPLICIT_PADS,
    },
  ])("Conv2DBackpropInput x $x, filter $f, strides $strides, pad $pad: the cpu backend's result", ({ x, f, strides, pad }) => {
    const info = tf.backend_util.computeConv2DInfo(x as never, f as never, strides as never, 1, pad as never)
    const ws = Float32Array.from({ length: f.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.29))
    const dys = Float32Array.from({ length: info.outShape.reduce((a, b) => a * b) }, (_, i) => Math.cos(i * 0.13))
    const run = (name: string) =>
      onBackend(name, () => {
        const attrs = { strides, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape: x }
        const out = tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(dys, info.outShape), filter: tf.tensor(ws, f) }, attrs as never) as Tensor
        expect(out.shape).toEqual(x)
        return out.dataSync().slice()
      })
    matchesCpu(run)
  })

  it.each([
    { x: [2, 8, 8, 3], size: 2, strides: 2, pad: 'valid' },
    { x: [2, 9, 7, 2], size: 2, strides: 2, pad: 'same' },
    { x: [1, 9, 9, 4], size: 3, strides: 2, pad: 'same' },
    { x: [2, 6, 6, 1], size: 3, strides: 1, pad: 'valid' },
  ])("MaxPoolGrad x $x, window $size, strides $strides, pad $pad: the cpu backend's result, ties included", ({ x, size, strides, pad }) => {
    // Values rounded to a few levels, so that windows hold ties: the first maximum gets the gradient.
    const xs = Float32Array.from({ length: x.reduce((a, b) => a * b) }, (_, i) => Math.round(Math.sin(i * 0.61) * 3))
    const run = (name: string) =>
      onBackend(name, () => {
        const input = tf.tensor4d(xs, x as [number, number, number, number])
        const pool = (t: Tensor) => tf.maxPool(t as Tensor4D, size, strides, pad as 'same')
        const shape = pool(input).shape
        // A distinct weight per output, so a gradient sent to the wrong position shows.
        const weights = tf.range(1, 1 + shape.reduce((a, b) => a * b)).reshape(shape)
        const [dx] = tf.grads((t: Tensor) => tf.sum(tf.mul(pool(t), weights)))([input])
        return dx!.dataSync().slice()
      })
    matchesCpu(run, 1e-6)
  })

  it('the wasm MaxPoolGrad and Conv2DBackpropInput are the replaced ones (registering again keeps them)', () => {
    const names = ['MaxPoolGrad', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']
    const before = names.map((k) => tf.getKernel(k, 'wasm')?.kernelFunc)
    registerWasmTrainingKernels(tf)
    registerWasmMaxPoolGrad(tf as never)
    expect(names.map((k) => tf.getKernel(k, 'wasm')?.kernelFunc)).toEqual(before)
    expect(before.map((f) => (f as { name?: string } | undefined)?.name)).toEqual(['maxPoolGrad', 'conv2DBackpropInput', 'conv2DBackpropFilter'])
  })

  it('the gradients of a small CNN (conv, relu, max pool, dense) match the cpu backend, and nothing leaks', () => {
    const xs = Float32Array.from({ length: 4 * 12 * 12 }, (_, i) => Math.sin(i * 0.7))
    const k1 = Float32Array.from({ length: 3 * 3 * 1 * 4 }, (_, i) => Math.cos(i) * 0.3)
    const k2 = Float32Array.from({ length: 2 * 2 * 4 * 3 }, (_, i) => Math.sin(i + 1) * 0.3)
    const grads = (name: string) =>
      onBackend(name, () => {
        const w1 = tf.tensor(k1, [3, 3, 1, 4])
        const w2 = tf.tensor(k2, [2, 2, 4, 3])
        const x = tf.tensor(xs, [4, 12, 12, 1])
        const loss = (a: Tensor, b: Tensor) => {
          const h = tf.maxPool(tf.relu(tf.conv2d(x as Tensor4D, a as Tensor4D, 1, 'same')), 2, 2, 'valid')
          return tf.sum(tf.square(tf.conv2d(h, b as Tensor4D, 2, 'valid')))
        }
        return tf
          .grads(loss)([w1, w2])
          .map((g) => g.dataSync().slice())
      })
    tf.setBackend('wasm')
    const before = tf.memory().numTensors
    const wasm = grads('wasm')
    expect(tf.memory().numTensors).toBe(before)
    const cpu = grads('cpu')
    for (let i = 0; i < 2; i++) expect(maxRel(wasm[i]!, cpu[i]!)).toBeLessThan(1e-4)
  })
})
