// The wasm backend's products with a transposed operand (src/dl/wasm-matmul.ts) against the cpu backend's, and
// through the gradients of a dense layer.
import { afterEach, describe, expect, it } from 'vitest'
import { backendInfo, tf, type Tensor } from '../../../src/dl/backend.ts'
import { matchesCpu, maxRel, onBackend } from '../../helpers/backends.ts'
import { registerWasmMatMul } from '../../../src/dl/wasm-matmul.ts'

const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed))
const count = (shape: number[]) => shape.reduce((p, d) => p * d, 1)

describe.runIf(backendInfo.name === 'wasm')('products with a transposed operand on wasm', () => {
  afterEach(() => void tf.setBackend('wasm'))

  it('the wasm BatchMatMul and _FusedMatMul are the replaced ones, and registering again changes nothing', () => {
    const before = ['BatchMatMul', '_FusedMatMul'].map((k) => tf.getKernel(k, 'wasm')?.kernelFunc)
    registerWasmMatMul(tf)
    const after = ['BatchMatMul', '_FusedMatMul'].map((k) => tf.getKernel(k, 'wasm')?.kernelFunc)
    expect(after).toEqual(before)
    expect(before.every((f) => typeof f === 'function')).toBe(true)
  })

  it.each([
    { a: [5, 7], b: [7, 3], tA: false, tB: false },
    { a: [7, 5], b: [7, 3], tA: true, tB: false },
    { a: [5, 7], b: [3, 7], tA: false, tB: true },
    { a: [7, 5], b: [3, 7], tA: true, tB: true },
    { a: [32, 784], b: [32, 128], tA: true, tB: false },
    { a: [32, 128], b: [784, 128], tA: false, tB: true },
    { a: [2, 6, 4], b: [2, 6, 5], tA: true, tB: false },
    { a: [3, 4, 6], b: [3, 5, 6], tA: false, tB: true },
    { a: [2, 6, 4], b: [1, 5, 6], tA: true, tB: true },
  ])("matMul $a × $b (transposeA $tA, transposeB $tB): the cpu backend's result", ({ a, b, tA, tB }) => {
    const [xa, xb] = [values(count(a), 1), values(count(b), 2)]
    const run = (name: string) => onBackend(name, () => tf.matMul(tf.tensor(xa, a), tf.tensor(xb, b), tA, tB).dataSync().slice())
    matchesCpu(run)
  })

  it('a fused product with bias and relu, transposed operands: the cpu backend', () => {
    const run = (name: string) =>
      onBackend(name, () =>
        tf.fused
          .matMul({
            a: tf.tensor(values(24, 3), [6, 4]),
            b: tf.tensor(values(30, 4), [5, 6]),
            transposeA: true,
            transposeB: true,
            bias: tf.tensor(values(5, 5), [5]),
            activation: 'relu',
          })
          .dataSync()
          .slice(),
      )
    expect(Array.from(matchesCpu(run)).some((v) => v > 0)).toBe(true)
  })

  it('the gradients of a dense layer (xᵀ·dy and dy·Wᵀ) match the cpu backend', () => {
    const grads = (name: string) =>
      onBackend(name, () => {
        const x = tf.tensor(values(16 * 20, 6), [16, 20])
        const loss = (w: Tensor, bias: Tensor) => tf.sum(tf.square(tf.relu(tf.add(tf.matMul(x, w), bias))))
        return tf
          .grads(loss)([tf.tensor(values(20 * 8, 7), [20, 8]), tf.tensor(values(8, 8), [8])])
          .map((g) => g.dataSync().slice())
      })
    const wasm = grads('wasm')
    const cpu = grads('cpu')
    for (let i = 0; i < 2; i++) expect(maxRel(wasm[i]!, cpu[i]!)).toBeLessThan(1e-5)
  })
})
