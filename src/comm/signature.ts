/**
 * Collective signatures: what a call was (collective, reduction op, root, element count, element type), carried
 * in every message it sends, so that ranks that call different collectives, or the same one with different
 * arguments, find out and say so instead of hanging or computing garbage (Horovod's ConstructResponse checks).
 */
import { dtypeName } from '../dtype.ts'
import type { Signature } from '../transport/transport.ts'
import { opCode, REDUCE_OPS, USER_OP_CODE, type ReduceOp } from '../collectives/reduce-ops.ts'

export const COLLECTIVES = [
  '',
  'barrier',
  'broadcast',
  'reduce',
  'allreduce',
  'gather',
  'allgather',
  'scatter',
  'reduceScatter',
  'alltoall',
  'gatherObject',
  'scatterObject',
  'allgatherv',
  'gatherv',
  'scatterv',
  'alltoallv',
  'reduceScatterv',
  'scan',
  'exscan',
  'alltoallObject',
  'join',
] as const
export type CollectiveName = Exclude<(typeof COLLECTIVES)[number], ''>

/** A signature with the element type it was sent with (255: not known to every rank). */
export interface FullSignature extends Signature {
  dtype: number
}

export const UNKNOWN_DTYPE = 255
const NO_ROOT = 0xffff

export function signatureOf(coll: CollectiveName, dtype: number, count: number, root?: number, op?: ReduceOp): FullSignature {
  return { coll: COLLECTIVES.indexOf(coll), op: op === undefined ? 0 : opCode(op), root: root ?? NO_ROOT, count, dtype }
}

/** True when two ranks' calls fit together (unknown counts and types match anything). */
export function compatible(a: FullSignature, b: FullSignature): boolean {
  return (
    a.coll === b.coll &&
    a.op === b.op &&
    a.root === b.root &&
    (a.count < 0 || b.count < 0 || a.count === b.count) &&
    (a.dtype === UNKNOWN_DTYPE || b.dtype === UNKNOWN_DTYPE || a.dtype === b.dtype)
  )
}

/** `allreduce(sum, Float32Array[10])`, `broadcast(root=0, Float64Array[3])`, `barrier()`. */
export function describeSignature(s: FullSignature): string {
  const args: string[] = []
  if (s.op > 0) args.push(s.op === USER_OP_CODE ? 'user op' : (REDUCE_OPS[s.op - 1] ?? `op#${s.op}`))
  if (s.root !== NO_ROOT) args.push(`root=${s.root}`)
  if (s.coll !== COLLECTIVES.indexOf('barrier')) {
    const type = s.dtype === UNKNOWN_DTYPE ? '' : dtypeName(s.dtype)
    if (type || s.count >= 0) args.push(`${type || 'data'}${s.count >= 0 ? `[${s.count}]` : ''}`)
  }
  return `${COLLECTIVES[s.coll] ?? `collective#${s.coll}`}(${args.join(', ')})`
}
