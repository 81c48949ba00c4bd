/**
 * The training kernel the TensorFlow.js wasm backend lacks for convolutions: Conv2DBackpropFilter (the gradient
 * of a Conv2D with respect to its filter). It is built from the backend's own kernels, so it runs in
 * WebAssembly (XNNPACK) like the forward pass: the filter gradient of a convolution with strides s is a
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

/** Registers the missing training kernels for the wasm backend (those a later tfjs version has are left alone). */
export function registerWasmTrainingKernels(tf: KernelRegistry): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return
  const kernel = (name: string): Kernel => {
    const k = tf.getKernel(name, 'wasm')
    if (!k) throw new Error(`the wasm backend has no ${name} kernel to build Conv2DBackpropFilter from`)
    return k.kernelFunc as unknown as Kernel
  }
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
