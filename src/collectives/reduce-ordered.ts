/**
 * Reduce to a root strictly in rank order, for user-defined ops that are not commutative: the root receives
 * every rank's vector and folds them r0 ∘ r1 ∘ … ∘ rP-1. Steps: P-1 at the root. Bytes at the root: S(P-1).
 * Linear, as MPI implementations fall back to for non-commutative ops outside power-of-two trees.
 * Allreduce: then a binomial broadcast from rank 0 (+ ceil(log2 P) steps).
 * Ref: MPI 4.0 standard, section 6.9.1 (the order of a non-commutative reduction).
 */
import { copyInto, type TypedArray } from '../dtype.ts'
import { bcastBinomial } from './bcast-binomial.ts'
import { avgDivisor, type CollectiveContext } from './context.ts'
import { finishAvg, reduceInto, type ReduceOp } from './reduce-ops.ts'

/** The result lands in `data` on `root`; other ranks' `data` is unchanged. */
export async function reduceOrdered(ctx: CollectiveContext, data: TypedArray, op: ReduceOp, root: number, tag: number): Promise<void> {
  const { rank, size } = ctx
  if (rank !== root) return void (data.length > 0 && size > 1 ? await ctx.send(root, tag, data) : undefined)
  if (size === 1 || data.length === 0) return
  const Ctor = data.constructor as new (n: number) => TypedArray
  const parts = Array.from({ length: size }, (_, r) => (r === root ? data : new Ctor(data.length)))
  await Promise.all(parts.map((p, r) => (r === root ? undefined : ctx.recv(r, tag, p))))
  const acc = parts[0] === data ? data.slice() : parts[0]!
  for (let r = 1; r < size; r++) reduceInto(op, acc, parts[r]!)
  copyInto(data, acc)
  finishAvg(op, data, avgDivisor(ctx))
}

/** Allreduce in rank order: the ordered reduce to rank 0, then a binomial broadcast of the result. */
export async function allreduceOrdered(ctx: CollectiveContext, data: TypedArray, op: ReduceOp, tag: number): Promise<void> {
  await reduceOrdered(ctx, data, op, 0, tag)
  await bcastBinomial(ctx, data, 0, tag)
}
