/**
 * Matrix products with a transposed operand, fast on the TensorFlow.js wasm backend. Its BatchMatMul kernel runs
 * `transposeA`/`transposeB` on a slow path of its own, and training hits exactly those: the gradients of a dense
 * layer y = x·W are dW = xᵀ·dy and dx = dy·Wᵀ. Measured on this project's 2-core machine (tfjs 4.22, one
 * thread): 32×784 by 32×128 with transposeA 3.3 ms, against 0.45 ms for a Transpose kernel and then the product;
 * 64×784 by 64×512, 44 ms against 4.6 ms. So a product with a transposed operand is run as that: the operand is
 * transposed by the backend's own Transpose kernel, then the backend's own product runs without the flag.
 *
 * Checked against the cpu backend in test/unit/dl/wasm-matmul.test.ts.
 */
import type { KernelArgs, KernelRegistry, TensorInfo } from './wasm-kernels.ts'

type Kernel = (args: KernelArgs) => TensorInfo

/** Kernels whose inputs `a` and `b` carry `transposeA`/`transposeB` attributes. */
const PRODUCTS = ['BatchMatMul', '_FusedMatMul'] as const

const wrapped = new WeakSet<object>()

/**
 * Replaces the wasm backend's BatchMatMul and _FusedMatMul with ones that transpose an operand first instead of
 * taking the backend's slow transposed path. Idempotent.
 */
export function registerWasmMatMul(tf: KernelRegistry): void {
  const transpose = tf.getKernel('Transpose', 'wasm')?.kernelFunc as Kernel | undefined
  if (!transpose) return
  for (const name of PRODUCTS) {
    const config = tf.getKernel(name, 'wasm')
    if (!config || wrapped.has(config.kernelFunc as object)) continue
    const product = config.kernelFunc as Kernel
    const kernelFunc: Kernel = (args) => {
      const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean } | undefined
      if (!attrs?.transposeA && !attrs?.transposeB) return product(args)
      const temps: TensorInfo[] = []
      const plain = (t: TensorInfo, flag: boolean | undefined) => {
        if (!flag) return t
        const r = t.shape.length
        const perm = [...t.shape.keys()]
        perm[r - 2] = r - 1
        perm[r - 1] = r - 2
        const out = transpose({ inputs: { x: t }, backend: args.backend, attrs: { perm } })
        temps.push(out)
        return out
      }
      try {
        const inputs = { ...args.inputs, a: plain(args.inputs.a!, attrs.transposeA), b: plain(args.inputs.b!, attrs.transposeB) }
        return product({ inputs, backend: args.backend, attrs: { ...attrs, transposeA: false, transposeB: false } })
      } finally {
        for (const t of temps) args.backend.disposeData(t.dataId)
      }
    }
    wrapped.add(kernelFunc)
    tf.unregisterKernel(name, 'wasm')
    tf.registerKernel({ ...config, kernelName: name, backendName: 'wasm', kernelFunc: kernelFunc as never })
  }
}
