/**
 * Convolution gradients for the TensorFlow.js wasm backend: Conv2DBackpropFilter (the gradient of a Conv2D with
 * respect to its filter), which the backend lacks, and Conv2DBackpropInput, which it runs slowly. Both are built
 * from the backend's own kernels, so they run in WebAssembly (XNNPACK) like the forward pass. The filter gradient of a convolution with strides s is a
 * convolution of the input with the output gradient, dilated by s, with batch and channels swapped:
 *
 *   dW[i, j, c, o] = Σ_b,y,x  xPadded[b, y·s + i, x·s + j, c] · dy[b, y, x, o]
 *                  = Conv2D(input = xPadded as [c, H, W, b], filter = dy as [oh, ow, b, o], dilations = s)[c, i, j, o]
 *
 * Checked against the cpu backend's kernel in test/unit/dl/wasm-kernels.test.ts.
 */

/** What a kernel function gets (tfjs's KernelFunc arguments, loosely typed: the wasm backend is not exported). */
export interface KernelArgs {
  inputs: Record<string, TensorInfo>
  backend: { disposeData(dataId: object): void }
  attrs?: Record<string, unknown>
}
export interface TensorInfo {
  dataId: object
  shape: number[]
  dtype: string
}
type Kernel = (args: KernelArgs) => TensorInfo

/** The part of the TensorFlow.js namespace this needs (backend.ts passes the loaded one). */
export interface KernelRegistry {
  getKernel(name: string, backend: string): { kernelFunc: unknown } | undefined
  registerKernel(config: { kernelName: string; backendName: string; kernelFunc: never }): void
  unregisterKernel(name: string, backend: string): void
  backend_util: {
    computeConv2DInfo(
      inShape: [number, number, number, number],
      filterShape: [number, number, number, number],
      strides: number | [number, number],
      dilations: number,
      pad: 'valid',
      roundingMode: 'floor' | 'round' | 'ceil' | undefined,
      depthwise: boolean,
      dataFormat: 'channelsLast',
    ): { padInfo: { top: number; bottom: number; left: number; right: number }; strideHeight: number; strideWidth: number }
  }
}

/**
 * Registers the convolution gradients for the wasm backend (a Conv2DBackpropFilter a later tfjs version has is
 * left alone); `replaceInputGradient: false` keeps the backend's own Conv2DBackpropInput. Idempotent.
 */
export function registerWasmTrainingKernels(tf: KernelRegistry, replaceInputGradient = true): void {
  const kernel = (name: string): Kernel => {
    const k = tf.getKernel(name, 'wasm')
    if (!k) throw new Error(`the wasm backend has no ${name} kernel to build convolution gradients from`)
    return k.kernelFunc as unknown as Kernel
  }
  if (replaceInputGradient) registerConv2DBackpropInput(tf, kernel)
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return
  const [pad, transpose, conv2d, slice] = ['PadV2', 'Transpose', 'Conv2D', 'Slice'].map(kernel) as [Kernel, Kernel, Kernel, Kernel]

  const conv2DBackpropFilter = (args: KernelArgs): TensorInfo => {
    const { inputs, backend, attrs = {} } = args
    const x = inputs.x!
    const dy = inputs.dy!
    const {
      strides,
      pad: padding,
      dataFormat,
      dimRoundingMode,
      filterShape,
    } = attrs as {
      strides: number | [number, number]
      pad: 'valid' | 'same' | number | number[][]
      dataFormat: 'NHWC' | 'NCHW'
      dimRoundingMode?: 'floor' | 'round' | 'ceil'
      filterShape: [number, number, number, number]
    }
    if (dataFormat === 'NCHW') throw new Error("Conv2DBackpropFilter on wasm: dataFormat 'NCHW' is not supported; use channelsLast")
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      padding as 'valid',
      dimRoundingMode,
      false,
      'channelsLast',
    )
    const { top, bottom, left, right } = info.padInfo
    const [kh, kw, ci, co] = filterShape
    const temps: TensorInfo[] = []
    const keep = (t: TensorInfo) => {
      temps.push(t)
      return t
    }
    try {
      const padded =
        top || bottom || left || right
          ? keep(
              pad({
                inputs: { x },
                backend,
                attrs: {
                  paddings: [
                    [0, 0],
                    [top, bottom],
                    [left, right],
                    [0, 0],
                  ],
                  constantValue: 0,
                },
              }),
            )
          : x
      const xt = keep(transpose({ inputs: { x: padded }, backend, attrs: { perm: [3, 1, 2, 0] } }))
      const dyt = keep(transpose({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } }))
      let r = keep(
        conv2d({
          inputs: { x: xt, filter: dyt },
          backend,
          attrs: { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [info.strideHeight, info.strideWidth], dimRoundingMode: undefined },
        }),
      )
      // Rows and columns past the filter come from padding or from input the strided windows never reached.
      if (r.shape[1] !== kh || r.shape[2] !== kw) r = keep(slice({ inputs: { x: r }, backend, attrs: { begin: [0, 0, 0, 0], size: [ci, kh, kw, co] } }))
      return transpose({ inputs: { x: r }, backend, attrs: { perm: [1, 2, 0, 3] } })
    } finally {
      for (const t of temps) backend.disposeData(t.dataId)
    }
  }
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2DBackpropFilter as never })
}

/**
 * The input gradient of a stride-1 Conv2D as a Conv2D (XNNPACK) instead of the backend's own loop (29 ms of a
 * 67 ms torch-cnn step here, `tf.profile`): dx is dy, padded by (k − 1 − the forward pad) on each side,
 * correlated with the filter turned by 180° and with its channels swapped,
 *
 *   dx[b, i, j, c] = Σ_p,q,o  dyPadded[b, i + p, j + q, o] · W[kh − 1 − p, kw − 1 − q, c, o]
 *
 * Strided or dilated convolutions keep the backend's kernel.
 */
function registerConv2DBackpropInput(tf: KernelRegistry, kernel: (name: string) => Kernel): void {
  const own = tf.getKernel('Conv2DBackpropInput', 'wasm')
  if (!own || conv2DBackpropInputs.has(own.kernelFunc as object)) return
  const backendKernel = own.kernelFunc as Kernel
  const [reverse, transpose, conv2d] = ['Reverse', 'Transpose', 'Conv2D'].map(kernel) as [Kernel, Kernel, Kernel]
  const conv2DBackpropInput: Kernel = (args) => {
    const { inputs, backend, attrs = {} } = args
    const dy = inputs.dy!
    const filter = inputs.filter!
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as {
      strides: number | [number, number]
      pad: 'valid' | 'same' | number | number[][]
      dataFormat: 'NHWC' | 'NCHW'
      dimRoundingMode?: 'floor' | 'round' | 'ceil'
      inputShape: [number, number, number, number]
    }
    const [sh, sw] = typeof strides === 'number' ? [strides, strides] : strides
    if (dataFormat === 'NCHW' || sh !== 1 || sw !== 1) return backendKernel(args)
    const [kh, kw] = filter.shape as [number, number, number, number]
    const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as never, 1, 1, pad as 'valid', dimRoundingMode, false, 'channelsLast')
    const { top, left } = info.padInfo
    const [, h, w] = inputShape
    const [, oh, ow] = dy.shape as [number, number, number, number]
    const pads = [kh - 1 - top, h - oh + top, kw - 1 - left, w - ow + left]
    if (pads.some((v) => v < 0)) return backendKernel(args)
    const turned = reverse({ inputs: { x: filter }, backend, attrs: { dims: [0, 1] } })
    const swapped = transpose({ inputs: { x: turned }, backend, attrs: { perm: [0, 1, 3, 2] } })
    try {
      return conv2d({
        inputs: { x: dy, filter: swapped },
        backend,
        attrs: {
          strides: [1, 1],
          pad: [
            [0, 0],
            [pads[0], pads[1]],
            [pads[2], pads[3]],
            [0, 0],
          ],
          dataFormat: 'NHWC',
          dilations: [1, 1],
          dimRoundingMode: undefined,
        },
      })
    } finally {
      backend.disposeData(turned.dataId)
      backend.disposeData(swapped.dataId)
    }
  }
  conv2DBackpropInputs.add(conv2DBackpropInput)
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm')
  tf.registerKernel({ ...own, kernelName: 'Conv2DBackpropInput', backendName: 'wasm', kernelFunc: conv2DBackpropInput as never })
}
const conv2DBackpropInputs = new WeakSet<object>()
