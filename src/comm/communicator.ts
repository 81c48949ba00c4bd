/**
 * A communicator: a group of ranks that talk to each other, MPI style. The world communicator comes from
 * `init()`; sub-communicators come from `split`. Point-to-point methods live here; each collective method
 * validates its arguments, picks an algorithm and runs it (comm/collectives.ts).
 */
import { allgatherRingInPlace } from '../collectives/allgather-ring.ts'
import { allreduceRecursiveDoubling } from '../collectives/allreduce-recursive-doubling.ts'
import { allreduceRing } from '../collectives/allreduce-ring.ts'
import { alltoallPairwise } from '../collectives/alltoall-pairwise.ts'
import { barrierDissemination } from '../collectives/barrier-dissemination.ts'
import { bcastBinomial } from '../collectives/bcast-binomial.ts'
import { bcastScatterAllgather } from '../collectives/bcast-scatter-allgather.ts'
import type { CollectiveContext } from '../collectives/context.ts'
import { gatherBinomial } from '../collectives/gather-binomial.ts'
import { blockRange } from '../collectives/partition.ts'
import { checkOp, type ReduceOp } from '../collectives/reduce-ops.ts'
import { reduceBinomial } from '../collectives/reduce-binomial.ts'
import { reduceScatterRingInPlace } from '../collectives/reduce-scatter-ring.ts'
import { scatterBinomial } from '../collectives/scatter-binomial.ts'
import { asBytes, describe, dtypeOf, DTYPE_JSON, viewAs, type Sendable, type TypedArray } from '../dtype.ts'
import { CollectiveMismatchError, FinalizedError, TimeoutError, UsageError } from '../errors.ts'
import { ANY_SOURCE, ANY_TAG } from '../transport/matcher.ts'
import type { Transport } from '../transport/transport.ts'
import { collectiveContext } from './collective-context.ts'
import { ALLREDUCE_RING_MIN_BYTES, BCAST_SCATTER_ALLGATHER_MIN_BYTES, pick, type Candidate } from './select.ts'
import { compatible, describeSignature, signatureOf, UNKNOWN_DTYPE, type FullSignature } from './signature.ts'
import { childCommId, TagSequence } from './tags.ts'

/** Largest user tag. Negative tags are reserved for collectives. */
export const MAX_TAG = 2 ** 30 - 1

/** Options of point-to-point calls. */
export interface P2POptions {
  /** Message tag, 0..2^30-1 (default 0); on receive also ANY_TAG. */
  tag?: number
  /** Fail with TimeoutError after this many milliseconds (receive only; default: wait forever). */
  timeoutMs?: number
}

/** Options of `recv`. */
export interface RecvOptions extends P2POptions {
  /**
   * Receive into this array instead of a new one (MPI style; the fast path for large messages: no allocation,
   * segments land in place). It must be at least as large as the message; `data` is then a view of it.
   */
  into?: Sendable
}

/** Options of every collective (the last argument). */
export interface CollectiveOptions {
  /** Run this algorithm instead of the one the size table picks (e.g. "ring"). */
  algorithm?: string
  /** Segment size of pipelined algorithms in bytes (default 1 MiB); small values exercise multi-segment paths. */
  segmentBytes?: number
  /** Fail with TimeoutError when a step waits longer than this for a peer. */
  timeoutMs?: number
}

type AllreduceFn = (ctx: CollectiveContext, data: TypedArray, op: ReduceOp, tag: number) => Promise<void>
type BcastFn = (ctx: CollectiveContext, data: TypedArray, root: number, tag: number) => Promise<void>

const ALLREDUCE: Candidate<AllreduceFn>[] = [
  { name: 'recursive-doubling', enabled: (_size, bytes) => bytes < ALLREDUCE_RING_MIN_BYTES, run: allreduceRecursiveDoubling },
  { name: 'ring', enabled: () => true, run: allreduceRing },
]
const BROADCAST: Candidate<BcastFn>[] = [
  { name: 'scatter-allgather', enabled: (size, bytes) => size > 2 && bytes >= BCAST_SCATTER_ALLGATHER_MIN_BYTES, run: bcastScatterAllgather },
  { name: 'binomial', enabled: () => true, run: bcastBinomial },
]
const only = <F>(name: string, run: F): Candidate<F>[] => [{ name, enabled: () => true, run }]

/** What `recv` resolves to. */
export interface Received<T = Sendable> {
  /** The payload, with the sender's element type and length. */
  data: T
  /** Sender's rank in this communicator. */
  source: number
  tag: number
}

/** State shared by every communicator of one process. */
export interface World {
  transport: Transport
  finalized: boolean
  /** Communicators by wire id, so the transport can answer "how many collectives have you started?". */
  comms: Map<number, Communicator>
  /** Print a stall warning after a collective has waited this long, and again at this interval. */
  stallWarningMs: number
  /** Fail a collective that waits longer than this (TSRUN_OP_TIMEOUT); undefined: never. */
  opTimeoutMs?: number
}

/** How long a stalled rank waits for peers to say how far they are. */
const STATUS_QUERY_MS = 1000
/** How many recent collectives' signatures a communicator keeps to check late messages against. */
const SIGNATURES_KEPT = 4096

export class Communicator {
  /** This process's rank in the communicator, 0..size-1. */
  readonly rank: number
  /** Number of ranks in the communicator. */
  readonly size: number
  /** A name for messages: "world", or "world.split(1)". */
  readonly name: string
  /** @internal Wire id that separates this communicator's messages from all others'. */
  readonly commId: number
  /** @internal World rank of each member, by rank in this communicator. */
  readonly members: readonly number[]
  /** @internal */
  protected readonly world: World
  private readonly worldToRank: Map<number, number> | undefined
  private readonly tags = new TagSequence()
  private children = 0
  private freed = false
  /** Signatures of this rank's recent collectives by tag, and of messages that came before this rank's call. */
  private readonly sigs = new Map<number, FullSignature>()
  private readonly early = new Map<number, { source: number; sig: FullSignature }>()
  private mismatch: CollectiveMismatchError | undefined

  /** @internal Communicators come from init() and split(). */
  constructor(world: World, commId: number, members: readonly number[], rank: number, name: string) {
    this.world = world
    this.commId = commId
    this.members = members
    this.rank = rank
    this.size = members.length
    this.name = name
    const identity = members.every((w, i) => w === i)
    this.worldToRank = identity ? undefined : new Map(members.map((w, i) => [w, i]))
    world.comms.set(commId, this)
  }

  /**
   * Sends a TypedArray or ArrayBuffer to rank `dest`. Resolves when `data` may be changed again.
   *
   * @example
   * ```ts
   * if (world.rank === 0) await world.send(new Float64Array([1, 2, 3]), 1, { tag: 7 })
   * ```
   * @throws UsageError for a bad destination, tag or data type.
   */
  send(data: Sendable, dest: number, options: P2POptions = {}): Promise<void> {
    const dtype = dtypeOf(data)
    this.checkUsable()
    this.checkRank(dest, 'dest')
    const tag = this.checkTag(options.tag ?? 0, false)
    return this.world.transport.send(this.members[dest], this.commId, tag, dtype, asBytes(data))
  }

  /**
   * Receives the next message from `source` (or ANY_SOURCE) with `tag` (or ANY_TAG).
   *
   * @example
   * ```ts
   * const { data, source } = await world.recv(ANY_SOURCE, { tag: 7 })
   * // data is a Float64Array if the sender sent one
   * ```
   * @throws UsageError for a bad source or tag, or an `into` smaller than the message; TimeoutError after `timeoutMs`.
   */
  async recv(source: number = ANY_SOURCE, options: RecvOptions = {}): Promise<Received> {
    const into = options.into === undefined ? undefined : (dtypeOf(options.into, 'into'), asBytes(options.into))
    const m = await this.recvRaw(source, options, into)
    return { data: viewAs(m.dtype, m.payload), source: this.rankOf(m.source), tag: m.tag }
  }

  /**
   * Sends any JSON value to rank `dest` (serialised; use `send` for arrays of numbers).
   *
   * @example
   * ```ts
   * await world.sendObject({ step: 3, loss: 0.25 }, 0)
   * ```
   */
  sendObject(value: unknown, dest: number, options: P2POptions = {}): Promise<void> {
    this.checkUsable()
    this.checkRank(dest, 'dest')
    const tag = this.checkTag(options.tag ?? 0, false)
    return this.world.transport.send(this.members[dest], this.commId, tag, DTYPE_JSON, encodeJson(value))
  }

  /**
   * Receives a value sent with `sendObject`. A TypedArray sent with `send` comes back as that TypedArray.
   *
   * @example
   * ```ts
   * const { value, source } = await world.recvObject(ANY_SOURCE)
   * ```
   */
  async recvObject<T = unknown>(source: number = ANY_SOURCE, options: P2POptions = {}): Promise<{ value: T; source: number; tag: number }> {
    const m = await this.recvRaw(source, options)
    const value = (m.dtype === DTYPE_JSON ? decodeJson(m.payload) : viewAs(m.dtype, m.payload)) as T
    return { value, source: this.rankOf(m.source), tag: m.tag }
  }

  // ---------------------------------------------------------------- collectives on typed arrays

  /**
   * Waits until every rank of the communicator has called it.
   *
   * @example
   * ```ts
   * await world.barrier()
   * ```
   */
  async barrier(options: CollectiveOptions = {}): Promise<void> {
    pick('barrier', only('dissemination', 0), this.size, 0, options.algorithm)
    const { ctx, tag, guard } = this.begin('barrier', options, signatureOf('barrier', 2, 0))
    await guard(barrierDissemination(ctx, tag))
  }

  /**
   * Copies `data` from `root` to every rank, in place. Resolves to `data`.
   *
   * @example
   * ```ts
   * const weights = new Float32Array(1000)
   * if (world.rank === 0) weights.fill(0.5)
   * await world.broadcast(weights, 0)        // every rank now holds 0.5s
   * ```
   * @throws UsageError for a bad root or data that is not a TypedArray.
   */
  async broadcast<T extends TypedArray>(data: T, root: number, options: CollectiveOptions = {}): Promise<T> {
    this.checkTyped(data)
    this.checkRank(root, 'root')
    const algo = pick('broadcast', BROADCAST, this.size, data.byteLength, options.algorithm)
    const { ctx, tag, guard } = this.begin('broadcast', options, signatureOf('broadcast', dtypeOf(data), data.length, root))
    await guard(algo.run(ctx, data, root, tag))
    return data
  }

  /**
   * Combines `data` of every rank with `op`; the result lands in `data` on `root` (other ranks' `data` is
   * left as it was).
   *
   * @example
   * ```ts
   * const counts = new Int32Array([localCount])
   * await world.reduce(counts, 'sum', 0)    // rank 0: the total
   * ```
   */
  async reduce<T extends TypedArray>(data: T, op: ReduceOp, root: number, options: CollectiveOptions = {}): Promise<T> {
    this.checkTyped(data)
    checkOp(op, data)
    this.checkRank(root, 'root')
    pick('reduce', only('binomial', 0), this.size, data.byteLength, options.algorithm)
    const { ctx, tag, guard } = this.begin('reduce', options, signatureOf('reduce', dtypeOf(data), data.length, root, op))
    await guard(reduceBinomial(ctx, data, op, root, tag))
    return data
  }

  /**
   * Combines `data` of every rank with `op`, in place on every rank; all ranks get the same bits.
   * Resolves to `data`.
   *
   * @example
   * ```ts
   * const grads = new Float32Array(1 << 20).fill(world.rank)
   * await world.allreduce(grads, 'avg')      // every element: (0 + 1 + ... + size-1) / size
   * ```
   * @throws UsageError for an unknown op or one that does not fit the element type (avg on integers, bxor on floats).
   */
  async allreduce<T extends TypedArray>(data: T, op: ReduceOp, options: CollectiveOptions = {}): Promise<T> {
    this.checkTyped(data)
    checkOp(op, data)
    const algo = pick('allreduce', ALLREDUCE, this.size, data.byteLength, options.algorithm)
    const { ctx, tag, guard } = this.begin('allreduce', options, signatureOf('allreduce', dtypeOf(data), data.length, undefined, op))
    await guard(algo.run(ctx, data, op, tag))
    return data
  }

  /**
   * Collects every rank's `data` on `root`: a new array of `size * data.length` elements in rank order
   * there, `undefined` elsewhere. Every rank must pass the same length.
   *
   * @example
   * ```ts
   * const all = await world.gather(new Float64Array([loss]), 0)   // rank 0: one loss per rank
   * ```
   */
  async gather<T extends TypedArray>(data: T, root: number, options: CollectiveOptions = {}): Promise<T | undefined> {
    this.checkTyped(data)
    this.checkRank(root, 'root')
    pick('gather', only('binomial', 0), this.size, data.byteLength, options.algorithm)
    const { ctx, tag, guard } = this.begin('gather', options, signatureOf('gather', dtypeOf(data), data.length, root))
    return (await guard(gatherBinomial(ctx, data, root, tag))) as T | undefined
  }

  /**
   * Every rank gets every rank's `data`: a new array of `size * data.length` elements in rank order.
   *
   * @example
   * ```ts
   * const all = await world.allgather(new Int32Array([world.rank]))   // [0, 1, 2, ...]
   * ```
   */
  async allgather<T extends TypedArray>(data: T, options: CollectiveOptions = {}): Promise<T> {
    this.checkTyped(data)
    pick('allgather', only('ring', 0), this.size, data.byteLength, options.algorithm)
    const n = data.length
    const out = new (data.constructor as new (n: number) => T)(this.size * n)
    out.set(data as any, this.rank * n)
    const { ctx, tag, guard } = this.begin('allgather', options, signatureOf('allgather', dtypeOf(data), n))
    await guard(allgatherRingInPlace(ctx, out, tag, (r) => [r * n, (r + 1) * n]))
    return out
  }

  /**
   * Splits `data` (on `root`: `size * n` elements) into `size` blocks of `n`; rank i gets block i. Other
   * ranks may pass `undefined`; each resolves to a new array of its `n` elements.
   *
   * @example
   * ```ts
   * const shard = await world.scatter(world.rank === 0 ? allSamples : undefined, 0)
   * ```
   */
  async scatter<T extends TypedArray>(data: T | undefined, root: number, options: CollectiveOptions = {}): Promise<T> {
    this.checkRank(root, 'root')
    if (this.rank === root) {
      this.checkTyped(data)
      if (data!.length % this.size !== 0) {
        throw new UsageError(`scatter: the root's data must hold size * n elements (size ${this.size}), got ${describe(data)}`)
      }
    }
    pick('scatter', only('binomial', 0), this.size, data?.byteLength ?? 0, options.algorithm)
    const { ctx, tag, guard } = this.begin('scatter', options, signatureOf('scatter', UNKNOWN_DTYPE, -1, root))
    return (await guard(scatterBinomial(ctx, data, root, tag))) as T
  }

  /**
   * Combines `data` of every rank with `op` and gives each rank its block of the result (blocks as even
   * as possible; the first `length % size` ranks get one element more). `data` is used as scratch space.
   *
   * @example
   * ```ts
   * const mine = await world.reduceScatter(grads, 'sum')   // this rank's slice of the summed gradients
   * ```
   */
  async reduceScatter<T extends TypedArray>(data: T, op: ReduceOp, options: CollectiveOptions = {}): Promise<T> {
    this.checkTyped(data)
    checkOp(op, data)
    pick('reduceScatter', only('ring', 0), this.size, data.byteLength, options.algorithm)
    const { ctx, tag, guard } = this.begin('reduceScatter', options, signatureOf('reduceScatter', dtypeOf(data), data.length, undefined, op))
    await guard(reduceScatterRingInPlace(ctx, data, op, tag))
    const [a, b] = blockRange(data.length, this.size, this.rank)
    const mine = data.slice(a, b) as T
    if (op === 'avg') for (let i = 0; i < mine.length; i++) (mine as unknown as Float64Array)[i] /= this.size
    return mine
  }

  /**
   * Block i of `data` (`data.length / size` elements) goes to rank i; resolves to the blocks received, in
   * rank order.
   *
   * @example
   * ```ts
   * const received = await world.alltoall(new Int32Array(world.size).fill(world.rank))   // [0, 1, 2, ...]
   * ```
   * @throws UsageError when `data.length` is not a multiple of size.
   */
  async alltoall<T extends TypedArray>(data: T, options: CollectiveOptions = {}): Promise<T> {
    this.checkTyped(data)
    if (data.length % this.size !== 0) {
      throw new UsageError(`alltoall: data.length must be a multiple of size ${this.size}, got ${describe(data)}`)
    }
    pick('alltoall', only('pairwise', 0), this.size, data.byteLength, options.algorithm)
    const { ctx, tag, guard } = this.begin('alltoall', options, signatureOf('alltoall', dtypeOf(data), data.length))
    return (await guard(alltoallPairwise(ctx, data, tag))) as T
  }

  // ---------------------------------------------------------------- collectives on JSON values

  /**
   * `value` from `root` to every rank (serialised as JSON).
   *
   * @example
   * ```ts
   * const config = await world.broadcastObject(world.rank === 0 ? loadConfig() : undefined, 0)
   * ```
   */
  async broadcastObject<T>(value: T, root: number, options: CollectiveOptions = {}): Promise<T> {
    this.checkRank(root, 'root')
    const bytes = this.rank === root ? encodeJson(value) : undefined
    const length = new Float64Array([bytes?.byteLength ?? 0])
    await this.broadcast(length, root, options)
    const buf = bytes ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(length[0])
    await this.broadcast(buf, root, options)
    return this.rank === root ? value : (decodeJson(buf) as T)
  }

  /**
   * Every rank's `value` on `root`, as an array in rank order; `undefined` elsewhere.
   *
   * @example
   * ```ts
   * const stats = await world.gatherObject({ rank: world.rank, loss }, 0)
   * ```
   */
  async gatherObject<T>(value: T, root: number, options: CollectiveOptions = {}): Promise<T[] | undefined> {
    this.checkRank(root, 'root')
    const bytes = encodeJson(value)
    const { ctx, tag, guard } = this.begin('gatherObject', options, signatureOf('gatherObject', UNKNOWN_DTYPE, -1, root))
    if (this.rank !== root) {
      await guard(ctx.send(root, tag, bytes as Uint8Array))
      return undefined
    }
    return guard(
      (async () => {
        const out: T[] = []
        for (let r = 0; r < this.size; r++) out.push(r === root ? value : (decodeJson((await ctx.recvAny(r, tag)) as Uint8Array) as T))
        return out
      })(),
    )
  }

  /**
   * Every rank's `value` on every rank, as an array in rank order.
   *
   * @example
   * ```ts
   * const hosts = await world.allgatherObject(world.host)
   * ```
   */
  async allgatherObject<T>(value: T, options: CollectiveOptions = {}): Promise<T[]> {
    const gathered = await this.gatherObject(value, 0, options)
    return this.broadcastObject(gathered as T[], 0, options)
  }

  /**
   * `values[i]` from `root` to rank i (root passes an array of `size` JSON values; others may pass undefined).
   *
   * @example
   * ```ts
   * const task = await world.scatterObject(world.rank === 0 ? tasks : undefined, 0)
   * ```
   */
  async scatterObject<T>(values: T[] | undefined, root: number, options: CollectiveOptions = {}): Promise<T> {
    this.checkRank(root, 'root')
    if (this.rank === root && (!Array.isArray(values) || values.length !== this.size)) {
      throw new UsageError(`scatterObject: the root must pass an array of ${this.size} values (one per rank), got ${describe(values)}`)
    }
    const { ctx, tag, guard } = this.begin('scatterObject', options, signatureOf('scatterObject', UNKNOWN_DTYPE, -1, root))
    if (this.rank === root) {
      await guard(Promise.all(values!.map((v, r) => (r === root ? undefined : ctx.send(r, tag, encodeJson(v) as Uint8Array)))))
      return values![root]
    }
    return decodeJson((await guard(ctx.recvAny(root, tag))) as Uint8Array) as T
  }

  /**
   * Combines every rank's `value` with `fn`, in rank order, on every rank (all get the same result).
   *
   * @example
   * ```ts
   * const merged = await world.allreduceObject(localCounts, (a, b) => mergeCounts(a, b))
   * ```
   */
  async allreduceObject<T>(value: T, fn: (a: T, b: T) => T, options: CollectiveOptions = {}): Promise<T> {
    if (typeof fn !== 'function') throw new UsageError(`allreduceObject needs a function (a, b) => combined, got ${describe(fn)}`)
    const all = await this.allgatherObject(value, options)
    return all.reduce(fn)
  }

  // ---------------------------------------------------------------- communicators

  /**
   * Collective: splits the communicator into groups by `color`; within a group ranks are ordered by `key`
   * (then by rank here). Ranks passing `color` undefined get `null`.
   *
   * @example
   * ```ts
   * const group = await world.split(Math.floor(world.rank / 2))   // pairs of consecutive ranks
   * await group!.allreduce(grads, 'sum')
   * ```
   */
  async split(color: number | undefined, key: number = this.rank, options: CollectiveOptions = {}): Promise<Communicator | null> {
    if (color !== undefined && (!Number.isInteger(color) || color < 0)) {
      throw new UsageError(`split: color must be an integer >= 0 or undefined, got ${describe(color)}`)
    }
    if (!Number.isInteger(key)) throw new UsageError(`split: key must be an integer, got ${describe(key)}`)
    const all = await this.allgather(new Float64Array([color ?? -1, key]), options)
    const creation = this.children++
    if (color === undefined) return null
    const group: number[] = []
    for (let r = 0; r < this.size; r++) if (all[2 * r] === color) group.push(r)
    group.sort((a, b) => all[2 * a + 1] - all[2 * b + 1] || a - b)
    return new Communicator(this.world, childCommId(this.commId, creation, color), group.map((r) => this.members[r]), group.indexOf(this.rank), `${this.name}.split(${color})`)
  }

  /**
   * A new communicator with the same ranks, whose messages never mix with this one's (for a library).
   * Every rank must call it, in the same order relative to other splits and dups.
   *
   * @example
   * ```ts
   * const libComm = world.dup()
   * ```
   */
  dup(): Communicator {
    this.checkUsable()
    const creation = this.children++
    return new Communicator(this.world, childCommId(this.commId, creation, 'dup'), this.members, this.rank, `${this.name}.dup()`)
  }

  /**
   * Releases the communicator; using it afterwards throws FinalizedError.
   *
   * @example
   * ```ts
   * group.free()
   * ```
   */
  free(): void {
    this.freed = true
  }

  /** @internal Number of collectives started on this communicator (what a stalled peer asks for). */
  get started(): number {
    return this.tags.count
  }

  /**
   * @internal Starts a collective: checks the communicator, takes a fresh tag, builds its context, and gives
   * a `guard` that watches the running collective: a stall warning naming the ranks that have not called it
   * every `stallWarningMs` (Horovod's stall inspector), a TimeoutError with the same facts after the op timeout.
   */
  protected begin(
    what: string,
    options: CollectiveOptions,
    sig: FullSignature,
  ): { ctx: CollectiveContext; tag: number; guard: <T>(p: Promise<T>) => Promise<T> } {
    this.checkUsable()
    const { segmentBytes, timeoutMs } = options
    if (segmentBytes !== undefined && !(Number.isInteger(segmentBytes) && segmentBytes > 0)) {
      throw new UsageError(`segmentBytes must be a positive integer, got ${describe(segmentBytes)}`)
    }
    if (timeoutMs !== undefined && !(timeoutMs >= 0)) throw new UsageError(`timeoutMs must be a number >= 0, got ${describe(timeoutMs)}`)
    const tag = this.tags.next()
    this.sigs.set(tag, sig)
    this.sigs.delete(tag + SIGNATURES_KEPT) // tags count down: this one is SIGNATURES_KEPT calls old
    const early = this.early.get(tag)
    if (early) {
      this.early.delete(tag)
      this.compare(tag, early.source, early.sig)
      this.checkUsable()
    }
    const ctx = collectiveContext({
      transport: this.world.transport,
      commId: this.commId,
      name: this.name,
      rank: this.rank,
      members: this.members,
      what: `${what} #${this.tags.count}`,
      segmentBytes,
      timeoutMs,
      sig,
    })
    const seq = this.tags.count
    return { ctx, tag, guard: (p) => this.watchStall(p, what, seq, timeoutMs ?? this.world.opTimeoutMs) }
  }

  private watchStall<T>(p: Promise<T>, what: string, seq: number, opTimeoutMs: number | undefined): Promise<T> {
    const started = Date.now()
    const { stallWarningMs } = this.world
    return new Promise<T>((resolve, reject) => {
      let settled = false
      const timers: NodeJS.Timeout[] = []
      const finish = () => {
        settled = true
        for (const t of timers) clearTimeout(t)
      }
      p.then(
        (v) => (finish(), resolve(v)),
        (e) => (finish(), reject(e)),
      )
      const report = async (fatal: boolean) => {
        const waited = Math.round((Date.now() - started) / 1000)
        const facts = await this.stallFacts(seq)
        if (settled) return
        const line = `${what} #${seq} on ${this.name} waiting ${waited} s for ${facts}`
        if (!fatal) return void process.stderr.write(`tsrun: rank ${this.rank}: ${line}\n`)
        finish()
        reject(new TimeoutError(`rank ${this.rank}: ${line}; gave up after the op timeout of ${opTimeoutMs! / 1000} s (--op-timeout / TSRUN_OP_TIMEOUT)`))
      }
      const warn = () => {
        if (settled) return
        void report(false)
        timers.push(setTimeout(warn, stallWarningMs).unref())
      }
      timers.push(setTimeout(warn, stallWarningMs).unref())
      if (opTimeoutMs !== undefined && Number.isFinite(opTimeoutMs)) timers.push(setTimeout(() => void report(true), opTimeoutMs).unref())
    })
  }

  /** @internal A collective message arrived from world rank `source`: does its call match ours? */
  checkArrival(tag: number, source: number, theirs: FullSignature): void {
    if (this.mismatch) return
    if (this.sigs.has(tag)) this.compare(tag, source, theirs)
    else if (!this.early.has(tag)) this.early.set(tag, { source, sig: { ...theirs } })
  }

  private compare(tag: number, source: number, theirs: FullSignature): void {
    const mine = this.sigs.get(tag)!
    if (compatible(mine, theirs)) return
    const peer = this.rankOf(source)
    const info = { tag, first: { rank: peer, sig: theirs }, second: { rank: this.rank, sig: mine } }
    this.poison(info)
    // Tell every member, so that no one waits for this collective any longer.
    this.world.transport.notifyMismatch([...this.members], this.commId, info)
  }

  /** @internal A member found that calls do not match: fail this communicator with the facts. */
  poison(info: { tag: number; first: { rank: number; sig: FullSignature }; second: { rank: number; sig: FullSignature } }): void {
    if (this.mismatch) return
    const n = -2 - info.tag + 1
    this.mismatch = new CollectiveMismatchError(
      `rank ${this.rank} of ${this.name}: collective #${n} does not match: rank ${info.first.rank} called ` +
        `${describeSignature(info.first.sig)} while rank ${info.second.rank} called ${describeSignature(info.second.sig)}; ` +
        `every rank must call the same collectives in the same order with the same root, op, element type and length`,
    )
    this.world.transport.failComm(this.commId, this.mismatch)
  }

  /** Which ranks hold up collective #seq: those that have not called it, and those that do not answer. */
  private async stallFacts(seq: number): Promise<string> {
    const answers = await this.world.transport.query([...this.members], this.commId, STATUS_QUERY_MS)
    const notCalled: number[] = []
    const silent: number[] = []
    for (const [worldRank, count] of answers) {
      const r = this.rankOf(worldRank)
      if (r === this.rank) continue
      if (count === undefined) silent.push(r)
      else if (count < seq) notCalled.push(r)
    }
    const parts: string[] = []
    if (notCalled.length) parts.push(`ranks [${notCalled.sort((a, b) => a - b).join(', ')}]; they have not called it`)
    if (silent.length) parts.push(`ranks [${silent.sort((a, b) => a - b).join(', ')}], which do not answer (stopped, hung, or busy without yielding)`)
    return parts.length ? parts.join('; and ') : 'data from the other ranks; every rank has called it'
  }

  private checkTyped(data: unknown): asserts data is TypedArray {
    if (!ArrayBuffer.isView(data) || data instanceof DataView || dtypeOf(data) === 0) {
      throw new UsageError(`data must be a TypedArray (Float32Array, Int32Array, ...), got ${describe(data)}`)
    }
  }

  /** @internal Rank in this communicator of a world rank. */
  rankOf(worldRank: number): number {
    return this.worldToRank ? this.worldToRank.get(worldRank)! : worldRank
  }

  /** @internal */
  protected checkUsable(): void {
    if (this.mismatch) throw this.mismatch
    if (this.freed) throw new FinalizedError(`rank ${this.rank}: ${this.name} was used after free()`)
    if (this.world.finalized) {
      throw new FinalizedError(`rank ${this.rank}: ${this.name} was used after finalize(); make finalize() the last call`)
    }
  }

  /** @internal */
  checkRank(r: number, what: string): void {
    if (!Number.isInteger(r) || r < 0 || r >= this.size) {
      throw new UsageError(`${what} must be a rank from 0 to ${this.size - 1} in ${this.name} (size ${this.size}), got ${describe(r)}`)
    }
  }

  private checkTag(tag: number, wildcardOk: boolean): number {
    if (wildcardOk && tag === ANY_TAG) return tag
    if (!Number.isInteger(tag) || tag < 0 || tag > MAX_TAG) {
      throw new UsageError(`tag must be an integer from 0 to ${MAX_TAG}${wildcardOk ? ' or ANY_TAG' : ''}, got ${describe(tag)}`)
    }
    return tag
  }

  private recvRaw(source: number, options: P2POptions, into?: Uint8Array) {
    this.checkUsable()
    if (source !== ANY_SOURCE) this.checkRank(source, 'source')
    const tag = this.checkTag(options.tag ?? ANY_TAG, true)
    const from = source === ANY_SOURCE ? ANY_SOURCE : this.members[source]
    const { timeoutMs } = options
    if (timeoutMs !== undefined && !(timeoutMs >= 0)) {
      throw new UsageError(`timeoutMs must be a number >= 0, got ${describe(timeoutMs)}`)
    }
    return this.world.transport.recv(this.commId, from, tag, {
      timeoutMs,
      into,
      describeWait: () =>
        `rank ${this.rank} of ${this.name}: recv from ${source === ANY_SOURCE ? 'any rank' : `rank ${source}`} ` +
        `with ${tag === ANY_TAG ? 'any tag' : `tag ${tag}`} timed out after ${timeoutMs} ms`,
    })
  }
}

/** @internal JSON payload; `undefined` travels as an empty payload. */
export function encodeJson(value: unknown): Uint8Array {
  if (value === undefined) return new Uint8Array(0)
  const text = JSON.stringify(value)
  if (text === undefined) throw new UsageError(`value must be JSON-serialisable, got ${describe(value)}`)
  return Buffer.from(text)
}

/** @internal */
export function decodeJson(bytes: Uint8Array): unknown {
  return bytes.byteLength === 0 ? undefined : JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString())
}

export { ANY_SOURCE, ANY_TAG }
