/**
 * A communicator: a group of ranks that talk to each other, MPI style. The world communicator comes from
 * `init()`; sub-communicators come from `split` and `dup`. Its calls are layered, one file each:
 * point-to-point.ts ← typed-collectives.ts ← vector-collectives.ts ← object-collectives.ts ← nonblocking.ts ←
 * here: join for uneven data, and the communicator calls.
 */
import { describe, DTYPE_ARRAYBUFFER } from '../dtype.ts'
import type { Transport } from '../transport/transport.ts'
import { UsageError } from '../errors.ts'
import { runJoin, type Servable } from './join.ts'
import { NonBlocking } from './nonblocking.ts'
import type { CollectiveOptions } from './options.ts'
import { checkTimeout } from './validate.ts'
import { signatureOf, UNKNOWN_DTYPE } from './signature.ts'
import { childCommId } from './tags.ts'

export class Communicator extends NonBlocking {
  private children = 0

  // ---------------------------------------------------------------- uneven data

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
   * for (const batch of myShard) {                    // shards of different lengths
   *   await world.allreduce(gradsOf(batch), 'avg')
   * }
   * const last = await world.join()                   // the others' remaining allreduces complete without us
   * ```
   * @throws TimeoutError after `timeoutMs`; PeerLostError if a rank is lost meanwhile.
   */
  async join(options: { timeoutMs?: number } = {}): Promise<number> {
    checkTimeout(options.timeoutMs)
    const self = this
    const servable: Servable = {
      rank: this.rank,
      size: this.size,
      get started() {
        return self.started
      },
      barrier: () => this.barrier(),
      allreduce: (d, op) => this.allreduce(d, op),
      reduce: (d, op, root) => this.reduce(d, op, root),
      broadcast: (d, root) => this.broadcast(d, root),
      allgatherv: (d) => this.allgatherv(d),
      checkUsable: () => this.checkUsable(),
      refuse: (seq, sig, from) => {
        const info = { tag: -1 - seq, first: { rank: this.rank, sig: signatureOf('join', UNKNOWN_DTYPE, -1) }, second: { rank: from, sig } }
        this.mismatch.poison(info)
        this.world.transport.notify([...this.members], this.commId, { kind: 'mismatch', info })
      },
      watchFailure: () => watchFailure(this.world.transport, this.commId, this.members[this.rank]!),
    }
    return runJoin(servable, this.joins, options.timeoutMs)
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
    return (await this.split(this.nodes[this.rank] ?? 0, key, options))!
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
    // The world no longer routes control-plane questions to it (and does not keep it alive).
    if (this.world.comms.get(this.commId) === this) this.world.comms.delete(this.commId)
  }

}

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
