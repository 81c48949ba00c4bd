/**
 * Allreduce across hosts in three phases (Horovod's hierarchical allreduce; NCCL's tree/ring over nodes):
 * 1. within each host, reduce to the host's leader (its lowest rank) by binomial tree, through shared memory;
 * 2. among the leaders, one per host, allreduce by ring (large data) or recursive doubling, over the network;
 * 3. within each host, broadcast the result from the leader.
 * Bytes on the network per host: 2S(H-1)/H for H hosts, instead of the flat ring's 2S(P-1)/P per rank with
 * several ranks of a host each sending across. Steps: 2 ceil(log2 L) within hosts of L ranks, plus the leaders'.
 * Every rank ends with the leaders' bits, which are the same on every leader: results are identical everywhere.
 * Ref: Sergeev & Del Balso, "Horovod: fast and easy distributed deep learning in TensorFlow", 2018.
 */
import type { TypedArray } from '../dtype.ts'
import { allreduceRecursiveDoubling } from './allreduce-recursive-doubling.ts'
import { allreduceRing } from './allreduce-ring.ts'
import { bcastBinomial } from './bcast-binomial.ts'
import { avgDivisor, subgroup, type CollectiveContext } from './context.ts'
import { finishAvg, type ReduceOp } from './reduce-ops.ts'
import { reduceBinomial } from './reduce-binomial.ts'

/** Leaders allreduce by ring from this size on (the flat table's crossover for more than 2 ranks). */
export const LEADERS_RING_MIN_BYTES = 512 * 1024

/** The ranks of each host (ascending), hosts ordered by their lowest rank. */
export function hostGroups(nodes: readonly number[]): number[][] {
  const byNode = new Map<number, number[]>()
  for (const [r, n] of nodes.entries()) byNode.set(n, [...(byNode.get(n) ?? []), r])
  return [...byNode.values()].sort((a, b) => a[0]! - b[0]!)
}

export async function allreduceHierarchical(ctx: CollectiveContext, data: TypedArray, op: ReduceOp, tag: number): Promise<void> {
  const { rank, size } = ctx
  if (size === 1 || data.length === 0) return finishAvg(op, data, avgDivisor(ctx))
  const groups = hostGroups(ctx.nodes ?? Array.from({ length: size }, (_, r) => r))
  const mine = groups.find((g) => g.includes(rank))!
  const leaders = groups.map((g) => g[0]!)
  // The phases combine with the plain op; an average divides once, by the whole size, on the leaders.
  const combine: ReduceOp = op === 'avg' ? 'sum' : op
  const local = subgroup(ctx, mine)
  await reduceBinomial(local, data, combine, 0, tag)
  if (rank === mine[0]) {
    const among = subgroup(ctx, leaders)
    const flat = data.byteLength >= LEADERS_RING_MIN_BYTES ? allreduceRing : allreduceRecursiveDoubling
    await flat(among, data, combine, tag)
    finishAvg(op, data, avgDivisor(ctx))
  }
  await bcastBinomial(local, data, 0, tag)
}
