/**
 * Barrier, allreduce and broadcast of small data among all the ranks of a one-host job, through shared memory:
 * one round each (ctx.host: every rank writes its data beside a flag, then reads the others'), no messages; a
 * larger broadcast takes a round per 256 KiB, each read by single copy or through the root's broadcast area.
 * Every rank combines the ranks' data in rank order, so all get the same bits. The table (comm/select.ts) picks
 * them where ctx.host exists and the data fits a round; forced by name elsewhere, they say why they cannot run.
 */
import { asBytes, dtypeOf, viewAs, type TypedArray } from '../dtype.ts'
import { UsageError } from '../errors.ts'
import { avgDivisor, type CollectiveContext, type HostRounds } from './context.ts'
import { finishAvg, reduceInto, type ReduceOp } from './reduce-ops.ts'

/**
 * Where a host's ranks poll, the table broadcasts through host rounds up to this size, one round (above it,
 * binomial's fragments pipeline better: np=2, `TSRUN_BROADCAST_ALGORITHM=binomial` against auto alternated three
 * times, 512 KiB 34–38 µs against 51–56 in two rounds, 1 MiB 64–77 against 102–110 in four; docs/benchmarks.md).
 * Forced by name (`shm`), larger broadcasts take a round per 256 KiB.
 */
export const HOST_BCAST_TABLE_BYTES = 256 * 1024

export async function barrierHost(ctx: CollectiveContext, tag: number): Promise<void> {
  if (ctx.size === 1) return
  await roundsOf(ctx, 0).round(tag, undefined, () => undefined)
}

export async function allreduceHost(ctx: CollectiveContext, data: TypedArray, op: ReduceOp, tag: number): Promise<void> {
  const bytes = asBytes(data)
  if (ctx.size > 1) {
    const dtype = dtypeOf(data)
    await roundsOf(ctx, bytes.byteLength).round(tag, bytes, (dataOf) => {
      bytes.set(dataOf(0))
      for (let r = 1; r < ctx.size; r++) reduceInto(op, data, viewAs(dtype, dataOf(r)) as TypedArray)
    })
  }
  finishAvg(op, data, avgDivisor(ctx))
}

export async function bcastHost(ctx: CollectiveContext, data: TypedArray, root: number, tag: number): Promise<void> {
  if (ctx.size === 1) return
  const bytes = asBytes(data)
  const host = roundsOf(ctx, 0, true)
  // More than a slot holds: rounds of up to maxBcastBytes each (single copy, or through the root's area).
  if (bytes.byteLength > host.maxBytes) {
    for (let at = 0; at < bytes.byteLength; at += host.maxBcastBytes) await host.bcast(tag, root, bytes.subarray(at, at + host.maxBcastBytes))
    return
  }
  await host.round(tag, ctx.rank === root ? bytes : undefined, (dataOf) => {
    if (ctx.rank !== root) bytes.set(dataOf(root))
  })
}

function roundsOf(ctx: CollectiveContext, bytes: number, bcast = false): HostRounds {
  const host = ctx.host
  if (!host || host.ranks.length !== ctx.size)
    throw new UsageError('the "shm" algorithm needs every rank of the job on one host, each with shared memory, and the world communicator')
  const most = bcast ? host.maxBcastBytes : host.maxBytes
  if (bytes > most) throw new UsageError(`the "shm" algorithm carries at most ${most} bytes per rank${bcast ? ' in a broadcast' : ''}, got ${bytes}`)
  return host
}
