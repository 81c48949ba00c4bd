/**
 * MaxPoolGrad for the TensorFlow.js wasm backend in one pass: each output position's window is scanned once for
 * its first maximum, and its gradient is added there. The backend's own kernel took 15 ms of a 67 ms torch-cnn
 * step on this project's 2-core machine (`tf.profile`); this one reads and writes the backend's heap directly.
 * The first maximum in scan order gets the gradient, as the cpu backend does; where windows overlap, the sums run
 * in another order (checked against the cpu backend in test/unit/dl/wasm-kernels.test.ts).
 */
import type { KernelArgs, KernelRegistry, TensorInfo } from './wasm-kernels.ts'

type Kernel = (args: KernelArgs) => TensorInfo

/** The part of the wasm backend this reads and writes. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: string): TensorInfo
  typedArrayFromHeap(t: TensorInfo): Float32Array
}

interface Pool2DInfo {
  batchSize: number
  inHeight: number
  inWidth: number
  inChannels: number
  outHeight: number
  outWidth: number
  strideHeight: number
  strideWidth: number
  effectiveFilterHeight: number
  effectiveFilterWidth: number
  padInfo: { top: number; left: number }
}

const replaced = new WeakSet<object>()

/** Replaces the wasm backend's MaxPoolGrad (float32 input) with the one-pass kernel. Idempotent. */
export function registerWasmMaxPoolGrad(tf: KernelRegistry & { backend_util: { computePool2DInfo(...args: unknown[]): Pool2DInfo } }): void {
  const own = tf.getKernel('MaxPoolGrad', 'wasm')
  if (!own || replaced.has(own.kernelFunc as object)) return
  const backendKernel = own.kernelFunc as Kernel
  const maxPoolGrad: Kernel = (args) => {
    const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo }
    if (input.dtype !== 'float32' || dy.dtype !== 'float32') return backendKernel(args)
    const { filterSize, strides, pad, dimRoundingMode } = args.attrs as { filterSize: unknown; strides: unknown; pad: unknown; dimRoundingMode: unknown }
    const info = tf.backend_util.computePool2DInfo(input.shape, filterSize, strides, 1, pad, dimRoundingMode)
    const backend = args.backend as unknown as WasmBackend
    const out = backend.makeOutput(input.shape, 'float32')
    // Views after the allocation: it may have grown the heap.
    const dx = backend.typedArrayFromHeap(out).fill(0)
    backPropagate(info, backend.typedArrayFromHeap(input), backend.typedArrayFromHeap(dy), dx)
    return out
  }
  replaced.add(maxPoolGrad)
  tf.unregisterKernel('MaxPoolGrad', 'wasm')
  tf.registerKernel({ ...own, kernelName: 'MaxPoolGrad', backendName: 'wasm', kernelFunc: maxPoolGrad as never })
}

/** dx[first maximum of each window] += dy[window], NHWC (pools have no dilation: computePool2DInfo is given 1). */
function backPropagate(p: Pool2DInfo, x: Float32Array, dy: Float32Array, dx: Float32Array): void {
  const { inHeight: h, inWidth: w, inChannels: ch, outHeight: oh, outWidth: ow } = p
  for (let b = 0; b < p.batchSize; b++) {
    const xb = b * h * w * ch
    for (let r = 0; r < oh; r++) {
      const r0 = r * p.strideHeight - p.padInfo.top
      const rLo = Math.max(0, r0)
      const rHi = Math.min(h, r0 + p.effectiveFilterHeight)
      for (let c = 0; c < ow; c++) {
        const c0 = c * p.strideWidth - p.padInfo.left
        const cLo = Math.max(0, c0)
        const cHi = Math.min(w, c0 + p.effectiveFilterWidth)
        const o = ((b * oh + r) * ow + c) * ch
        for (let k = 0; k < ch; k++) {
          let best = Number.NEGATIVE_INFINITY
          let at = -1
          for (let y = rLo; y < rHi; y++) {
            for (let z = cLo; z < cHi; z++) {
              const i = xb + (y * w + z) * ch + k
              if (x[i]! > best) {
                best = x[i]!
                at = i
              }
            }
          }
          if (at >= 0) dx[at]! += dy[o + k]!
        }
      }
    }
  }
}
