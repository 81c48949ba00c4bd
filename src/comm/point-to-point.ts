/**
 * The point-to-point half of a communicator: who its members are, and tagged sends and receives of typed
 * arrays and JSON values between them (MPI's send/recv; mpi4py's lower-case calls for objects). The
 * collectives (communicator.ts) build on it.
 */
import { asBytes, bytesPerElement, decodeJson, dtypeName, dtypeOf, DTYPE_JSON, encodeJson, viewAs, type Sendable } from '../dtype.ts'
import { FinalizedError } from '../errors.ts'
import { ANY_SOURCE, ANY_TAG, PROC_NULL, type Message, type Transport } from '../transport/transport.ts'
import { recorder } from '../trace/recorder.ts'
import { MismatchDetector, type EarlyNotices } from './mismatch.ts'
import type { CommScope } from './scope.ts'
import { checkRank, checkTag, checkTimeout } from './validate.ts'

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

/** What `recv` resolves to. */
export interface Received<T = Sendable> {
  /** The payload, with the sender's element type and length. */
  data: T
  /** Sender's rank in this communicator. */
  source: number
  tag: number
}

/** What `probe` and `iprobe` tell of a message that has arrived and waits to be received. */
export interface ProbeStatus {
  /** Sender's rank in this communicator. */
  source: number
  tag: number
  /** Payload size in bytes. */
  bytes: number
  /** Number of elements of the sender's element type (bytes for an ArrayBuffer or a JSON value). */
  count: number
  /** The sender's element type: "Float32Array", ..., "ArrayBuffer", or "JSON" (sent with sendObject). */
  type: string
}

/** State shared by every communicator of one process. */
export interface World {
  transport: Transport
  finalized: boolean
  /** Communicators by wire id, so the transport can answer "how many collectives have you started?". */
  comms: Map<number, PointToPoint & { readonly started: number; notice(source: number, notice: unknown): void; noteArrival(tag: number): void }>
  /** Print a stall warning after a collective has waited this long, and again at this interval. */
  stallWarningMs: number
  /** Fail a collective that waits longer than this (TSRUN_OP_TIMEOUT); undefined: never. */
  opTimeoutMs?: number
  /** Host index of each world rank (ranks with the same index share a host). */
  nodeOf: readonly number[]
  /** Peers' notices about communicators not created here yet. */
  early: EarlyNotices
}

/** @internal The base of Communicator; use Communicator. */
export class PointToPoint {
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
  /** @internal What the mismatch detector and stall inspector know of this communicator. */
  protected readonly scope: CommScope
  /** @internal Checks that every rank's collective calls match. */
  readonly mismatch: MismatchDetector
  private readonly worldToRank: Map<number, number> | undefined
  /** @internal */
  protected freed = false
  /** @internal Host index of each member, and how many hosts the members span. */
  readonly nodes: readonly number[]
  /** @internal */
  readonly topology: { hosts: number }

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
    this.nodes = members.map((w) => world.nodeOf[w] ?? 0)
    this.topology = { hosts: new Set(this.nodes).size }
    this.scope = { transport: world.transport, commId, name, rank, members, rankOf: (w) => this.rankOf(w) }
    this.mismatch = new MismatchDetector(this.scope)
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
    if (dest === PROC_NULL) return Promise.resolve()
    this.checkRank(dest, 'dest')
    const tag = checkTag(options.tag ?? 0, false)
    const bytes = asBytes(data)
    const sent = this.world.transport.send(this.members[dest], this.commId, tag, dtype, bytes)
    return recorder.on ? this.traceP2p('send', dest, tag, bytes.byteLength, sent) : sent
  }

  /**
   * Receives the next message from `source` (or ANY_SOURCE) with `tag` (or ANY_TAG). From PROC_NULL it returns
   * at once: an empty array (of `into`'s type, else Uint8Array), source PROC_NULL, tag ANY_TAG.
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
    if (source === PROC_NULL) {
      this.checkUsable()
      const empty = options.into === undefined ? new Uint8Array(0) : options.into instanceof ArrayBuffer ? new ArrayBuffer(0) : options.into.subarray(0, 0)
      return { data: empty, source: PROC_NULL, tag: ANY_TAG }
    }
    const got = this.recvRaw(source, options, into)
    const m = await (recorder.on ? this.traceP2p('recv', source, options.tag ?? ANY_TAG, 0, got) : got)
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
    const bytes = encodeJson(value)
    if (dest === PROC_NULL) return Promise.resolve()
    this.checkRank(dest, 'dest')
    const tag = checkTag(options.tag ?? 0, false)
    return this.world.transport.send(this.members[dest], this.commId, tag, DTYPE_JSON, bytes)
  }

  /**
   * Receives a value sent with `sendObject`. A TypedArray sent with `send` comes back as that TypedArray. From
   * PROC_NULL: `undefined` at once, source PROC_NULL.
   *
   * @example
   * ```ts
   * const { value, source } = await world.recvObject(ANY_SOURCE)
   * ```
   */
  async recvObject<T = unknown>(source: number = ANY_SOURCE, options: P2POptions = {}): Promise<{ value: T; source: number; tag: number }> {
    if (source === PROC_NULL) return (this.checkUsable(), { value: undefined as T, source: PROC_NULL, tag: ANY_TAG })
    const m = await this.recvRaw(source, options)
    const value = (m.dtype === DTYPE_JSON ? decodeJson(m.payload) : viewAs(m.dtype, m.payload)) as T
    return { value, source: this.rankOf(m.source), tag: m.tag }
  }

  /**
   * Waits until a message from `source` with `tag` has arrived and tells who sent it and how large it is,
   * without receiving it (MPI_Probe): allocate for it, then `recv` it.
   *
   * @example
   * ```ts
   * const st = await world.probe(ANY_SOURCE, { tag: 3 })
   * const { data } = await world.recv(st.source, { tag: st.tag, into: new Float64Array(st.count) })
   * ```
   */
  async probe(source: number = ANY_SOURCE, options: P2POptions = {}): Promise<ProbeStatus> {
    if (source === PROC_NULL) return (this.checkUsable(), { source: PROC_NULL, tag: ANY_TAG, bytes: 0, count: 0, type: 'ArrayBuffer' })
    const { from, tag } = this.envelope(source, options)
    const { timeoutMs } = options
    const describeWait = () => `rank ${this.rank} of ${this.name}: probe for a message from ${source === ANY_SOURCE ? 'any rank' : `rank ${source}`} timed out after ${timeoutMs} ms`
    return this.status(await this.world.transport.probe(this.commId, from, tag, { timeoutMs, describeWait }))
  }

  /**
   * Like `probe`, but answers at once: the status of a waiting message, or `undefined` if none has arrived
   * (MPI_Iprobe). Poll it between units of work.
   *
   * @example
   * ```ts
   * while (!world.iprobe(0, { tag: STOP })) doSomeWork()
   * ```
   */
  iprobe(source: number = ANY_SOURCE, options: P2POptions = {}): ProbeStatus | undefined {
    if (source === PROC_NULL) return (this.checkUsable(), { source: PROC_NULL, tag: ANY_TAG, bytes: 0, count: 0, type: 'ArrayBuffer' })
    const { from, tag } = this.envelope(source, options)
    const m = this.world.transport.iprobe(this.commId, from, tag)
    return m && this.status(m)
  }

  private envelope(source: number, options: P2POptions): { from: number; tag: number } {
    this.checkUsable()
    if (source !== ANY_SOURCE) this.checkRank(source, 'source')
    checkTimeout(options.timeoutMs)
    return { from: source === ANY_SOURCE ? ANY_SOURCE : this.members[source]!, tag: checkTag(options.tag ?? ANY_TAG, true) }
  }

  private status(m: Message): ProbeStatus {
    const bytes = m.payload.byteLength
    return { source: this.rankOf(m.source), tag: m.tag, bytes, count: bytes / bytesPerElement(m.dtype), type: dtypeName(m.dtype) }
  }

  /** Counts a message for the timeline's totals, and records a span for a large one. */
  private async traceP2p<T>(k: 'send' | 'recv', peer: number, tag: number, bytes: number, op: Promise<T>): Promise<T> {
    const s = recorder.now()
    const out = await op
    const m = out as unknown as Message | undefined
    const n = k === 'send' ? bytes : (m?.payload.byteLength ?? 0)
    recorder.count(k === 'send' ? 'sent' : 'recv', n)
    if (n >= recorder.p2pBytes) recorder.record({ t: 'p', k, peer: m ? this.rankOf(m.source) : peer, tag: m ? m.tag : tag, bytes: n, s, e: recorder.now(), comm: this.name })
    return out
  }

  /** @internal Rank in this communicator of a world rank. */
  rankOf(worldRank: number): number {
    return this.worldToRank ? this.worldToRank.get(worldRank)! : worldRank
  }

  /** @internal */
  checkRank(r: number, what: string): void {
    checkRank(r, what, this.size, this.name)
  }

  /** @internal */
  protected checkUsable(): void {
    if (this.mismatch.error) throw this.mismatch.error
    if (this.freed) throw new FinalizedError(`rank ${this.rank}: ${this.name} was used after free()`)
    if (this.world.finalized) {
      throw new FinalizedError(`rank ${this.rank}: ${this.name} was used after finalize(); make finalize() the last call`)
    }
  }

  private recvRaw(source: number, options: P2POptions, into?: Uint8Array): Promise<Message> {
    this.checkUsable()
    if (source !== ANY_SOURCE) this.checkRank(source, 'source')
    const tag = checkTag(options.tag ?? ANY_TAG, true)
    const from = source === ANY_SOURCE ? ANY_SOURCE : this.members[source]
    const { timeoutMs } = options
    checkTimeout(timeoutMs)
    return this.world.transport.recv(this.commId, from, tag, {
      timeoutMs,
      into,
      describeWait: () =>
        `rank ${this.rank} of ${this.name}: recv from ${source === ANY_SOURCE ? 'any rank' : `rank ${source}`} ` +
        `with ${tag === ANY_TAG ? 'any tag' : `tag ${tag}`} timed out after ${timeoutMs} ms`,
    })
  }
}
