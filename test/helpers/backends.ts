// Comparing a computation on the wasm backend with the cpu backend's (the kernels tsrun/dl registers for wasm).
import { expect } from 'vitest'
import { tf } from '../../src/dl/backend.ts'

/** Largest |a − b| / (|b| + 1) over the elements. */
export function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (Math.abs(b[i]!) + 1))
  return m
}

/** `f` on backend `name`, its tensors disposed. */
export function onBackend<T>(name: string, f: () => T): T {
  tf.setBackend(name)
  return tf.tidy(f as () => never) as T
}

/**
 * Runs `run(backend)` on wasm, then on cpu: wasm leaves no tensor behind, gives a result that is not all zeros,
 * and matches cpu's to `tolerance`. Returns wasm's result.
 */
export function matchesCpu(run: (backend: string) => ArrayLike<number>, tolerance = 1e-5): ArrayLike<number> {
  tf.setBackend('wasm')
  const tensors = tf.memory().numTensors
  const wasm = run('wasm')
  expect(tf.memory().numTensors).toBe(tensors)
  expect(Array.from(wasm).some((v) => v !== 0)).toBe(true)
  expect(maxRel(wasm, run('cpu'))).toBeLessThan(tolerance)
  return wasm
}
