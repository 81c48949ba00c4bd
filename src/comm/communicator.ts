/**
 * A communicator: a group of ranks that talk to each other, MPI style. The world communicator comes from
 * `init()`; sub-communicators come from `split`. Point-to-point methods live here; each collective method
 * validates its arguments, picks an algorithm and runs it (comm/collectives.ts).
 */
import { asBytes, describe, dtypeOf, DTYPE_JSON, viewAs, type Sendable } from '../dtype.ts'
import { FinalizedError, UsageError } from '../errors.ts'
import { ANY_SOURCE, ANY_TAG } from '../transport/matcher.ts'
import type { Transport } from '../transport/transport.ts'

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
}

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

  /** @internal Rank in this communicator of a world rank. */
  rankOf(worldRank: number): number {
    return this.worldToRank ? this.worldToRank.get(worldRank)! : worldRank
  }

  /** @internal */
  protected checkUsable(): void {
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
