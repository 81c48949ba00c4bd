/**
 * The variables a model trains, in one deterministic order on every rank, and the fused float32 buffer they
 * are copied into for communication: one allocation, split into buckets of about `bucketBytes` so that a
 * bucket's allreduce can start while the next one is still being copied.
 */
import { UsageError } from '../index.ts'
import { tf, type LayersModel, type Tensor, type Variable } from './backend.ts'

/** A Keras-style model, or the variables themselves in the order every rank creates them. */
export type Trainable = LayersModel | readonly Variable[]

function isModel(target: Trainable): target is LayersModel {
  return !Array.isArray(target)
}

/**
 * Trainable variables of `target` (what gradients are taken for), in model order.
 *
 * @example
 * ```ts
 * const n = trainableVariables(model).reduce((s, v) => s + v.size, 0)   // parameters that train
 * ```
 */
export function trainableVariables(target: Trainable): Variable[] {
  const vars = isModel(target) ? target.trainableWeights.map((w) => w.read() as Variable) : [...target]
  return checkFloat32(vars)
}

/**
 * Every variable of `target` (trainable or not, e.g. batch-norm statistics), in model order.
 *
 * @example
 * ```ts
 * for (const v of allVariables(model)) console.log(v.name, v.shape)
 * ```
 */
export function allVariables(target: Trainable): Variable[] {
  const vars = isModel(target) ? target.weights.map((w) => w.read() as Variable) : [...target]
  return checkFloat32(vars)
}

function checkFloat32(vars: Variable[]): Variable[] {
  for (const v of vars) {
    if (v.dtype !== 'float32') {
      throw new UsageError(`variable "${v.name}" has dtype ${v.dtype}; tsrun/dl synchronises float32 variables only`)
    }
  }
  return vars
}

/** Where one tensor sits in a fused buffer. */
export interface Slot {
  offset: number
  length: number
  shape: number[]
}

/** A contiguous run of slots that is communicated as one message. */
export interface Bucket {
  /** Index of the first slot and one past the last. */
  from: number
  to: number
  /** Element range in the fused buffer. */
  start: number
  end: number
}

/** A fused buffer and its layout: slots in variable order, grouped into buckets. */
export class FusedLayout {
  readonly slots: Slot[]
  readonly buckets: Bucket[]
  readonly length: number

  constructor(shapes: readonly number[][], bucketBytes: number) {
    if (!(bucketBytes > 0)) throw new UsageError(`bucketBytes must be a positive number of bytes, got ${bucketBytes}`)
    let offset = 0
    this.slots = shapes.map((shape) => {
      const length = shape.reduce((a, b) => a * b, 1)
      const slot = { offset, length, shape: [...shape] }
      offset += length
      return slot
    })
    this.length = offset
    const maxElems = Math.max(1, Math.floor(bucketBytes / 4))
    this.buckets = []
    let from = 0
    while (from < this.slots.length) {
      let to = from + 1
      // A bucket takes whole tensors while it stays under the limit; a tensor larger than the limit is a bucket alone.
      while (to < this.slots.length && this.slots[to]!.offset + this.slots[to]!.length - this.slots[from]!.offset <= maxElems) to++
      const start = this.slots[from]!.offset
      const last = this.slots[to - 1]!
      this.buckets.push({ from, to, start, end: last.offset + last.length })
      from = to
    }
  }

  /** Copies `tensors[i]` into slot i of `buffer` for the slots of `bucket` (a download from the backend). */
  pack(buffer: Float32Array, tensors: readonly Tensor[], bucket: Bucket): void {
    for (let i = bucket.from; i < bucket.to; i++) {
      const slot = this.slots[i]!
      const t = tensors[i]!
      if (t.size !== slot.length) throw new UsageError(`tensor ${i} has ${t.size} elements, but its slot holds ${slot.length}`)
      buffer.set(t.dataSync() as Float32Array, slot.offset)
    }
  }

  /** Adds `tensors[i]` into slot i of `buffer` for the slots of `bucket` (gradient accumulation). */
  accumulate(buffer: Float32Array, tensors: readonly Tensor[], bucket: Bucket): void {
    for (let i = bucket.from; i < bucket.to; i++) {
      const slot = this.slots[i]!
      const t = tensors[i]!
      if (t.size !== slot.length) throw new UsageError(`tensor ${i} has ${t.size} elements, but its slot holds ${slot.length}`)
      const src = t.dataSync() as Float32Array
      const dst = buffer.subarray(slot.offset, slot.offset + slot.length)
      for (let j = 0; j < src.length; j++) dst[j]! += src[j]!
    }
  }

  /** A new tensor per slot, holding `buffer`'s values. */
  unpack(buffer: Float32Array): Tensor[] {
    return this.slots.map((s) => tf.tensor(buffer.subarray(s.offset, s.offset + s.length), s.shape, 'float32'))
  }
}

/** Layout for `vars`, the fused buffer it needs, and a way to write the buffer back into the variables. */
export function fuse(vars: readonly Variable[], bucketBytes = Number.POSITIVE_INFINITY) {
  const layout = new FusedLayout(
    vars.map((v) => v.shape),
    bucketBytes,
  )
  return { layout, buffer: new Float32Array(layout.length) }
}

/** Copies the values of `vars` into `buffer` (all buckets). */
export function readInto(layout: FusedLayout, buffer: Float32Array, vars: readonly Variable[]): void {
  for (const b of layout.buckets) layout.pack(buffer, vars, b)
}

/** Assigns `buffer`'s values to `vars`. */
export function assignFrom(layout: FusedLayout, buffer: Float32Array, vars: readonly Variable[]): void {
  const values = layout.unpack(buffer)
  for (const [i, v] of vars.entries()) v.assign(values[i]!)
  tf.dispose(values)
}
