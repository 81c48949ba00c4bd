/**
 * The communicator: a group of ranks that talk to each other, MPI style. One class over one state object
 * (state.ts). Its calls come in families, each defined once, with its documentation, in a module of its own
 * (calls/: point-to-point, collectives, variable-size collectives, JSON values, Requests) and installed on the
 * class below; making communicators (split, dup), join and finalize are the class's own.
 */
import { describe, DTYPE_ARRAYBUFFER } from '../dtype.ts'
import { UsageError } from '../errors.ts'
import type { Transport } from '../transport/transport.ts'
import { collectiveCalls, type CollectiveCalls } from './calls/collectives.ts'
import { objectCalls, type ObjectCalls } from './calls/objects.ts'
import { pointToPointCalls, type PointToPointCalls } from './calls/point-to-point.ts'
import { requestCalls, type RequestCalls } from './calls/requests.ts'
import { vectorCalls, type VectorCalls } from './calls/vector.ts'
import { runJoin, type Servable } from './join.ts'
import type { CollectiveOptions } from './options.ts'
import { signatureOf, UNKNOWN_DTYPE } from './signature.ts'
import { CommState, type World } from './state.ts'
import { childCommId } from './tags.ts'
import { checkTimeout } from './validate.ts'

/** The calls of a Communicator, family by family (each documented where it is defined). */
export interface Communicator extends PointToPointCalls, CollectiveCalls, VectorCalls, ObjectCalls, RequestCalls {}

/**
 * A group of ranks: the world from `init()`, or one made by `split`, `splitShared` or `dup`.
 *
 * @example
 * ```ts
 * const world = await init()
 * const grads = new Float32Array(1024).fill(world.rank)
 * await world.allreduce(grads, 'avg')
 * const pairs = await world.split(Math.floor(world.rank / 2))
 * ```
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the merged interface's methods are installed on the prototype by Object.assign below, each family type-checked against its interface
export class Communicator {
  /** @internal Everything the calls share: members, tags, mismatch detector, joins, tracer, the world. */
  readonly state: CommState

  /** @internal Communicators come from init(), split() and dup(). */
  constructor(state: CommState) {
    this.state = state
  }

  /** @internal A new communicator of `world` (init.ts makes the world's). */
  static create(world: World, commId: number, members: readonly number[], rank: number, name: string): Communicator {
    return new Communicator(new CommState(world, commId, members, rank, name))
  }

  /** This process's rank in the communicator, 0..size-1. */
  get rank(): number {
    return this.state.rank
  }

  /** Number of ranks in the communicator. */
  get size(): number {
    return this.state.size
  }

  /** A name for messages: "world", or "world.split(1)". */
  get name(): string {
    return this.state.name
  }

  /** Host name of this rank. */
  get host(): string {
    return this.state.world.placement.host
  }

  /** Rank of this process among the job's ranks on this host (whatever the communicator). */
  get localRank(): number {
    return this.state.world.placement.localRank
  }

  /** Number of the job's ranks on this host. */
  get localSize(): number {
    return this.state.world.placement.localSize
  }

  /** Index of this host among the job's hosts. */
  get nodeRank(): number {
    return this.state.world.placement.nodeRank
  }

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
    const c = this.state
    if (color !== undefined && (!Number.isInteger(color) || color < 0)) {
      throw new UsageError(`split: color must be an integer >= 0 or undefined, got ${describe(color)}`)
    }
    if (!Number.isInteger(key)) throw new UsageError(`split: key must be an integer, got ${describe(key)}`)
    const all = await this.allgather(new Float64Array([color ?? -1, key]), options)
    const creation = c.children++
    if (color === undefined) return null
    const group: number[] = []
    for (let r = 0; r < c.size; r++) if (all[2 * r] === color) group.push(r)
    group.sort((a, b) => all[2 * a + 1]! - all[2 * b + 1]! || a - b)
    const members = group.map((r) => c.members[r]!)
    return Communicator.create(c.world, childCommId(c.commId, creation, color), members, group.indexOf(c.rank), `${c.name}.split(${color})`)
  }

  /**
   * Collective: the ranks of this communicator that share this rank's host, as a communicator of their own
   * (MPI_Comm_split_type with MPI_COMM_TYPE_SHARED, mpi4py's `Split_type`), ordered by `key` (then rank).
   *
   * @example
   * ```ts
   * const node = await world.splitShared()
   * if (node.rank === 0) console.log(`${node.size} ranks on ${world.host}`)
   * ```
   */
  async splitShared(key: number = this.rank, options: CollectiveOptions = {}): Promise<Communicator> {
    return (await this.split(this.state.nodes[this.rank] ?? 0, key, options))!
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
    const c = this.state
    c.checkUsable()
    const creation = c.children++
    return Communicator.create(c.world, childCommId(c.commId, creation, 'dup'), c.members, c.rank, `${c.name}.dup()`)
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
    this.state.freed = true
    // The world no longer routes control-plane questions to it (and does not keep it alive).
    this.state.world.registry.remove(this.state)
  }

  /**
   * This rank has run out of data (Horovod's `join`): until every rank has called `join()`, it takes part in the
   * other ranks' collectives with the op's identity (zeros for a sum), so they go on without a deadlock and
   * without padding; their averages divide by the ranks that still had data. While ranks have joined, the others
   * may call allreduce, reduce, broadcast (from a rank that has not joined), barrier, and allgatherv without
   * counts (joined ranks add nothing); any other collective fails on every rank with a CollectiveMismatchError.
   * Resolves, on every rank, to the rank that joined last.
   *
   * @example
   * ```ts
   * for (const batch of myShard) await world.allreduce(gradsOf(batch), 'avg')   // shards of different lengths
   * const last = await world.join()             // the others' remaining allreduces complete without us
   * ```
   * @throws TimeoutError after `timeoutMs`; PeerLostError if a rank is lost meanwhile.
   */
  async join(options: { timeoutMs?: number } = {}): Promise<number> {
    checkTimeout(options.timeoutMs)
    const c = this.state
    const servable: Servable = {
      rank: c.rank,
      size: c.size,
      get started() {
        return c.started
      },
      barrier: () => this.barrier(),
      allreduce: (d, op) => this.allreduce(d, op),
      reduce: (d, op, root) => this.reduce(d, op, root),
      broadcast: (d, root) => this.broadcast(d, root),
      allgatherv: (d) => this.allgatherv(d),
      checkUsable: () => c.checkUsable(),
      refuse: (seq, sig, from) => {
        const info = { tag: -1 - seq, first: { rank: c.rank, sig: signatureOf('join', UNKNOWN_DTYPE, -1) }, second: { rank: from, sig } }
        c.mismatch.poison(info)
        c.world.transport.notify([...c.members], c.commId, { kind: 'mismatch', info })
      },
      watchFailure: () => watchFailure(c.world.transport, c.commId, c.members[c.rank]!),
    }
    return runJoin(servable, c.joins, options.timeoutMs)
  }

  /**
   * Collective over the whole job, whichever communicator it is called on (MPI_Finalize): delivers every
   * message already sent, waits for all ranks to finalize, then closes sockets so the process can exit.
   * Calling it again does nothing.
   *
   * @example
   * ```ts
   * const world = await init()
   * // ... work ...
   * await world.finalize()
   * ```
   * Ranks that are still working are waited for as long as they live, with a line every `--stall-warning`
   * seconds naming them; a rank lost meanwhile fails it with PeerLostError.
   * @throws TimeoutError naming the ranks that did not call finalize, only with TSRUN_FINALIZE_TIMEOUT or
   * --op-timeout set; PeerLostError if a rank dies first.
   */
  finalize(): Promise<void> {
    return this.state.world.finalize()
  }
}

Object.assign(Communicator.prototype, pointToPointCalls, collectiveCalls, vectorCalls, objectCalls, requestCalls)

/** A tag nobody sends to: a receive posted on it fails exactly when the transport or the communicator does. */
const FAILURE_WATCH_TAG = -(2 ** 31)

function watchFailure(transport: Transport, commId: number, me: number): { failed: Promise<never>; stop(): void } {
  let stopped = false
  const failed = transport.recv(commId, me, FAILURE_WATCH_TAG).then(() => new Promise<never>(() => {}))
  failed.catch(() => {}) // a failure after the join ended is somebody else's to report
  return {
    failed,
    stop() {
      if (stopped) return
      stopped = true
      // Our own message completes the watch's receive, so it does not stay posted.
      transport.send(me, commId, FAILURE_WATCH_TAG, DTYPE_ARRAYBUFFER, new Uint8Array(0)).catch(() => {})
    },
  }
}
