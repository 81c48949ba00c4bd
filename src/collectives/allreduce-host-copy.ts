/**
 * Allreduce of large data among all the ranks of a one-host job by single copy (ctx.host.peerMemory: Linux's
 * process_vm_readv), without messages or shared-memory fragments. The data is cut into one chunk per rank; rank
 * i owns chunk i. Three host rounds:
 * 1. every rank publishes where its data is (pid, address); then each owner reads its chunk from every other
 *    rank's data straight into a small scratch buffer, piece by piece, and combines each piece into its own
 *    data while it is still in cache;
 * 2. once every owner is done, each rank reads every other chunk from its owner's data into its own;
 * 3. once every rank is done reading, all return (their data is theirs again).
 * A chunk is combined by one rank only, so every rank gets the same bits. Each moved byte is copied once (the
 * kernel's copy), against twice through fragments; a reduce-scatter and an allgather, as in the ring, but with
 * no pipeline to fill and every owner's reads running at once. A rank whose read fails (a peer gone, or not
 * permitted after all) says so in the next round, and every rank then throws the same error: none is left
 * waiting (a rank gone: the PeerLostError that names it).
 */
import { asBytes, dtypeOf, viewAs, type TypedArray } from '../dtype.ts'
import { TransportError, UsageError } from '../errors.ts'
import { avgDivisor, type CollectiveContext, type HostRounds, type PeerMemory } from './context.ts'
import { finishAvg, reduceInto, type ReduceOp } from './reduce-ops.ts'

/** Bytes read from a peer before they are combined, while in cache (1 MiB measured faster than 64 and 256 KiB at 16 and 64 MiB). */
const PIECE_BYTES = 1024 * 1024
/** A rank's words in a round: its pid, its data's address, and how its last reads went (0, or -errno). */
const WORDS = 3

let scratch: Uint8Array | undefined

export async function allreduceHostCopy(ctx: CollectiveContext, data: TypedArray, op: ReduceOp, tag: number): Promise<void> {
  if (ctx.size > 1) {
    const { host, memory } = copyRounds(ctx)
    const dtype = dtypeOf(data)
    const bytes = asBytes(data)
    const bpe = data.BYTES_PER_ELEMENT
    const chunk = (i: number): [number, number] => [Math.floor((i * data.length) / ctx.size) * bpe, Math.floor(((i + 1) * data.length) / ctx.size) * bpe]
    const words = new Float64Array([process.pid, memory.addressOf(bytes), 0])
    const peers = await exchange(host, tag, words)
    // 1. This rank's chunk, combined from every rank's data.
    const [lo, hi] = chunk(ctx.rank)
    const buf = (scratch ??= new Uint8Array(PIECE_BYTES))
    for (let p = 0; p < ctx.size && words[2] === 0; p++) {
      if (p === ctx.rank) continue
      for (let at = lo; at < hi && words[2] === 0; at += PIECE_BYTES) {
        const piece = buf.subarray(0, Math.min(PIECE_BYTES, hi - at))
        const got = memory.read(peers[p]![0]!, peers[p]![1]! + at, piece)
        if (got !== piece.byteLength) words[2] = got < 0 ? got : -5
        else reduceInto(op, viewAs(dtype, bytes.subarray(at, at + piece.byteLength)) as TypedArray, viewAs(dtype, piece) as TypedArray)
      }
    }
    await settle(host, tag, words)
    // 2. The other chunks, from their owners.
    for (let p = 0; p < ctx.size && words[2] === 0; p++) {
      if (p === ctx.rank) continue
      const [from, to] = chunk(p)
      if (to === from) continue
      const got = memory.read(peers[p]![0]!, peers[p]![1]! + from, bytes.subarray(from, to))
      if (got !== to - from) words[2] = got < 0 ? got : -5
    }
    await settle(host, tag, words)
  }
  finishAvg(op, data, avgDivisor(ctx))
}

/** A round that carries each rank's words; every rank's, in rank order. */
function exchange(host: HostRounds, tag: number, words: Float64Array): Promise<Float64Array[]> {
  return host.round(tag, new Uint8Array(words.buffer), (dataOf) => host.ranks.map((_, r) => new Float64Array(dataOf(r).slice(0, WORDS * 8).buffer)))
}

/** ESRCH: the process read is gone. */
const ESRCH = 3

/**
 * A round that says how every rank's reads went; if one failed, every rank throws. Where the reads failed because
 * a rank is gone, every rank waits in one more round, which the transport fails with the PeerLostError that names
 * it once its stream has closed (the dead rank may have arrived at this round before it died).
 */
async function settle(host: HostRounds, tag: number, words: Float64Array): Promise<void> {
  const all = await exchange(host, tag, words)
  const bad = all.findIndex((w) => w[2] !== 0)
  if (bad < 0) return
  if (all.every((w) => w[2] === 0 || w[2] === -ESRCH)) await exchange(host, tag, words)
  throw new TransportError(
    `allreduce on one host: rank ${bad} could not read another rank's memory (errno ${-all[bad]![2]!}); ` +
      'TSRUN_SINGLE_COPY=0 makes allreduce use shared-memory messages instead',
  )
}

function copyRounds(ctx: CollectiveContext): { host: HostRounds; memory: PeerMemory } {
  const host = ctx.host
  if (!host || host.ranks.length !== ctx.size)
    throw new UsageError('the "shm-copy" algorithm needs every rank of the job on one host, each with shared memory, and the world communicator')
  if (!host.peerMemory)
    throw new UsageError('the "shm-copy" algorithm needs single copy (process_vm_readv), which this system does not permit here (or TSRUN_SINGLE_COPY=0)')
  return { host, memory: host.peerMemory }
}
