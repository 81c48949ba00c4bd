/**
 * Model averaging across every rank (hybrid groups' periodic average, parameter averaging): the variables in
 * one fused allreduce, and the optimizer's slot variables (momentum, Adam moments) in another.
 */
import type { Communicator } from '../index.ts'
import { tf, type Optimizer, type Tensor, type Variable } from './backend.ts'
import { allVariables, assignFrom, FusedLayout, fuse, readInto, type Trainable } from './variables.ts'

/** Averages a model's variables (and, if asked, its optimizer's state) over `comm`; keeps its fused buffer between calls. */
export class ModelAverager {
  private fused: { vars: Variable[]; layout: FusedLayout; buffer: Float32Array } | undefined

  private readonly model: Trainable
  private readonly optimizer: Optimizer
  private readonly comm: Communicator
  private readonly withState: boolean

  constructor(model: Trainable, optimizer: Optimizer, comm: Communicator, withState: boolean) {
    this.model = model
    this.optimizer = optimizer
    this.comm = comm
    this.withState = withState
  }

  /** Every rank of `comm` calls it at the same point. */
  async average(): Promise<void> {
    if (this.comm.size === 1) return
    if (!this.fused) {
      const vars = allVariables(this.model)
      this.fused = { vars, ...fuse(vars) }
    }
    const { vars, layout, buffer } = this.fused
    readInto(layout, buffer, vars)
    await this.comm.allreduce(buffer, 'avg')
    assignFrom(layout, buffer, vars)
    if (this.withState) await this.averageOptimizerState()
  }

  private async averageOptimizerState(): Promise<void> {
    const named = await this.optimizer.getWeights()
    try {
      await this.averageNamed(
        named.filter((n) => n.tensor.dtype === 'float32'),
        named,
      )
    } finally {
      // getWeights makes fresh tensors for what is not a variable (the iteration count).
      for (const n of named) if (typeof (n.tensor as Variable).assign !== 'function') n.tensor.dispose()
    }
  }

  private async averageNamed(floats: { name: string; tensor: Tensor }[], named: { name: string; tensor: Tensor }[]): Promise<void> {
    if (floats.length === 0) return
    const layout = new FusedLayout(
      floats.map((n) => n.tensor.shape),
      Number.POSITIVE_INFINITY,
    )
    const buffer = new Float32Array(layout.length)
    layout.pack(
      buffer,
      floats.map((n) => n.tensor),
      layout.buckets[0]!,
    )
    await this.comm.allreduce(buffer, 'avg')
    const values = layout.unpack(buffer)
    // tfjs optimizers hand out their slot variables themselves: assign in place (setWeights would make new ones).
    if (floats.every((n) => typeof (n.tensor as Variable).assign === 'function')) {
      for (const [i, n] of floats.entries()) (n.tensor as Variable).assign(values[i]!)
    } else {
      const byName = new Map(floats.map((n, i) => [n.name, values[i]!]))
      await this.optimizer.setWeights(named.map((n) => ({ name: n.name, tensor: byName.get(n.name) ?? n.tensor })))
    }
    tf.dispose(values)
  }
}
