/**
 * Loads TensorFlow.js: the only file of tsrun that imports it. `@tensorflow/tfjs-node` (native libtensorflow)
 * when it is installed and loads; otherwise `@tensorflow/tfjs` on the WebAssembly backend; otherwise its plain
 * JavaScript cpu backend. Rank 0 says once, on stderr, which one it uses and why.
 *
 * `TSRUN_DL_BACKEND=node|wasm|cpu` asks for one; a backend that was asked for and fails to load is an error.
 */
import type * as TfModule from '@tensorflow/tfjs'
import { UsageError } from '../index.ts'
import { setting } from '../settings.ts'
import { registerWasmTrainingKernels } from './wasm-kernels.ts'
import { registerWasmMatMul } from './wasm-matmul.ts'
import { registerWasmMaxPoolGrad } from './wasm-pool.ts'

/** The TensorFlow.js namespace (`@tensorflow/tfjs` or `@tensorflow/tfjs-node`, which has the same API). */
export type Tf = typeof TfModule
export type Tensor = TfModule.Tensor
export type Variable = TfModule.Variable
export type LayersModel = TfModule.LayersModel
export type Optimizer = TfModule.Optimizer
export type NamedTensorMap = TfModule.NamedTensorMap
export type Scalar = TfModule.Scalar

/** Which backend runs, and why that one. */
export interface BackendInfo {
  /** 'tensorflow' (tfjs-node), 'wasm' or 'cpu'. */
  name: string
  /** One sentence: why this backend (e.g. "@tensorflow/tfjs-node is not installed"). */
  reason: string
}

async function load(): Promise<{ tf: Tf; info: BackendInfo }> {
  const wanted = setting('TSRUN_DL_BACKEND') // node, wasm or cpu (checked); undefined: the first that loads
  let whyNotNode = 'TSRUN_DL_BACKEND asks for another backend'
  if (wanted === undefined || wanted === 'node') {
    try {
      const tf = (await import(/* @vite-ignore */ '@tensorflow/tfjs-node' as string)) as Tf
      return { tf, info: { name: tf.getBackend(), reason: '@tensorflow/tfjs-node loaded' } }
    } catch (e) {
      const err = e as NodeJS.ErrnoException
      whyNotNode =
        err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND'
          ? '@tensorflow/tfjs-node is not installed (its install needs to download libtensorflow)'
          : `@tensorflow/tfjs-node did not load (${firstLine(err.message)})`
      if (wanted === 'node') throw new UsageError(`TSRUN_DL_BACKEND=node, but ${whyNotNode}`)
    }
  }
  const tf = (await import('@tensorflow/tfjs')) as Tf
  if (wanted === undefined || wanted === 'wasm') {
    try {
      await import('@tensorflow/tfjs-backend-wasm')
      if (await tf.setBackend('wasm')) {
        await tf.ready()
        const faster = setting('TSRUN_DL_WASM_KERNELS')
        registerWasmTrainingKernels(tf, faster)
        if (faster) {
          registerWasmMatMul(tf)
          registerWasmMaxPoolGrad(tf as never)
        }
        return { tf, info: { name: 'wasm', reason: whyNotNode } }
      }
      throw new Error('setBackend("wasm") returned false')
    } catch (e) {
      if (wanted === 'wasm') throw new UsageError(`TSRUN_DL_BACKEND=wasm, but the wasm backend did not start: ${firstLine((e as Error).message)}`)
      whyNotNode += `, and the wasm backend did not start (${firstLine((e as Error).message)})`
    }
  }
  await tf.setBackend('cpu')
  await tf.ready()
  return { tf, info: { name: 'cpu', reason: whyNotNode } }
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.slice(0, 200)
}

const loaded = await load()

/**
 * The loaded TensorFlow.js namespace. Use it instead of importing tfjs yourself, so that the model and tsrun
 * share one tfjs instance and backend.
 *
 * @example
 * ```ts
 * import { tf } from 'tsrun/dl'
 * const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [784], units: 10, activation: 'softmax' })] })
 * ```
 */
export const tf: Tf = loaded.tf

/**
 * Which backend tsrun/dl runs on and why.
 *
 * @example
 * ```ts
 * console.log(backendInfo.name)   // "wasm"
 * ```
 */
export const backendInfo: BackendInfo = loaded.info

if ((setting('TSRUN_RANK') ?? setting('SLURM_PROCID') ?? 0) === 0 && !setting('TSRUN_DL_QUIET')) {
  process.stderr.write(`tsrun/dl: TensorFlow.js backend "${backendInfo.name}": ${backendInfo.reason}\n`)
}
