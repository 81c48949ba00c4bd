/**
 * Allreduce across hosts in three phases (Horovod's hierarchical allreduce; NCCL's tree/ring over nodes):
 * 1. within each host, reduce to the host's leader (its lowest rank) by binomial tree, through shared memory
 *    (small data on hosts with host collectives: one round, after which every rank of the host has the sum);
 * 2. among the leaders, one per host, allreduce by ring (large data) or recursive doubling, over the network;
 * 3. within each host, broadcast the result from the leader (small data: one round again).
 * Bytes on the network per host: 2S(H-1)/H for H hosts, instead of the flat ring's 2S(P-1)/P per rank with
 * several ranks of a host each sending across. Steps: 2 ceil(log2 L) within hosts of L ranks, plus the leaders'.
 * Every rank ends with the leaders' bits, which are the same on every leader: results are identical everywhere.
 * Ref: Sergeev & Del Balso, "Horovod: fast and easy distributed deep learning in TensorFlow", 2018.
 */
import { asBytes, dtypeOf, viewAs, type TypedArray } from '../dtype.ts'
import { allreduceRecursiveDoubling } from './allreduce-recursive-doubling.ts'
import { allreduceRing } from './allreduce-ring.ts'
import { bcastBinomial } from './bcast-binomial.ts'
import { avgDivisor, subgroup, type CollectiveContext, type HostRounds } from './context.ts'
import { finishAvg, reduceInto, type ReduceOp } from './reduce-ops.ts'
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
  // Small data on hosts with host collectives: phases 1 and 3 are one shared-memory round each, no messages.
  const rounds = hostRoundsFor(ctx, mine, data.byteLength)
  const bytes = asBytes(data)
  if (rounds) await rounds.round(tag, bytes, (dataOf) => reduceAll(data, combine, mine.length, dataOf))
  else await reduceBinomial(local, data, combine, 0, tag)
  if (rank === mine[0]) {
    const among = subgroup(ctx, leaders)
    const flat = data.byteLength >= LEADERS_RING_MIN_BYTES ? allreduceRing : allreduceRecursiveDoubling
    await flat(among, data, combine, tag)
    finishAvg(op, data, avgDivisor(ctx))
  }
  if (rounds) await rounds.round(tag, rank === mine[0] ? bytes : undefined, (dataOf) => rank === mine[0] || bytes.set(dataOf(0)))
  else await bcastBinomial(local, data, 0, tag)
}

/** The host's rounds, if this host has them for exactly the ranks `mine` and `bytes` fit one. */
function hostRoundsFor(ctx: CollectiveContext, mine: readonly number[], bytes: number): HostRounds | undefined {
  const h = ctx.host
  if (!h || bytes > h.maxBytes || h.ranks.length !== mine.length || h.ranks.some((r, i) => r !== mine[i])) return undefined
  return h
}

/** `data` = the host's ranks' data combined in their order (the same bits on each of them). */
function reduceAll(data: TypedArray, op: ReduceOp, n: number, dataOf: (i: number) => Uint8Array): void {
  const dtype = dtypeOf(data)
  asBytes(data).set(dataOf(0))
  for (let i = 1; i < n; i++) reduceInto(op, data, viewAs(dtype, dataOf(i)) as TypedArray)
}
