/**
 * The state of one communicator, shared by all its calls: who its members are, its collective sequence
 * (tags), its mismatch detector, joins and timeline tracer, and the process-wide World it lives in. The
 * Communicator class (communicator.ts) holds one; the call families (calls/*.ts) read it as `this.state`.
 */
import { HOST_BCAST_TABLE_BYTES } from '../collectives/host-shared.ts'
import { FinalizedError } from '../errors.ts'
import type { HostCollectives, Transport } from '../transport/transport.ts'
import { CollectiveTracer } from '../trace/collective-trace.ts'
import { isJoinNotice, Joins } from './join.ts'
import { MismatchDetector, type MismatchInfo } from './mismatch.ts'
import type { FailureWitness } from './failure-witness.ts'
import { StallInspector } from './stall-inspector.ts'
export type { Activity, FailureWitness } from './failure-witness.ts'
import type { CommScope } from './scope.ts'
import { TagSequence } from './tags.ts'
import { checkRank } from './validate.ts'

/** Where this process runs in the job (the world communicator's host facts). */
export interface Placement {
  /** Host name of this rank. */
  host: string
  /** Rank among the ranks on this host, and how many there are. */
  localRank: number
  localSize: number
  /** Index of this host among the job's hosts. */
  nodeRank: number
}

/** State shared by every communicator of one process. */
export interface World {
  transport: Transport
  finalized: boolean
  /** Communicators by wire id (registry.ts): the control plane's questions and notices are routed through it. */
  registry: { add(c: CommState): void; remove(c: CommState): void; readonly size: number }
  /** Print a stall warning after a collective has waited this long, and again at this interval. */
  stallWarningMs: number
  /** Fail a collective that waits longer than this (TSRUN_OP_TIMEOUT); undefined: never. */
  opTimeoutMs?: number
  /** Host index of each world rank (ranks with the same index share a host). */
  nodeOf: readonly number[]
  placement: Placement
  /** Tells the failure records (init.ts wires them) what this rank is doing, and a mismatch it has seen. */
  failures: FailureWitness
  /** Ends the job on this rank (init.ts fills it in): what `finalize()` of any communicator runs. */
  finalize(): Promise<void>
}

export class CommState {
  /** This process's rank in the communicator, and the number of ranks. */
  readonly rank: number
  readonly size: number
  /** A name for messages: "world", or "world.split(1)". */
  readonly name: string
  /** Wire id that separates this communicator's messages from all others'. */
  readonly commId: number
  /** World rank of each member, by rank in this communicator. */
  readonly members: readonly number[]
  readonly world: World
  /** Host index of each member, and how many hosts the members span. */
  readonly nodes: readonly number[]
  readonly topology: { hosts: number; hostBytes?: number; hostBcastBytes?: number; hostCopy?: boolean }
  /** Rounds through shared memory among the ranks of this host: the world communicator only. */
  readonly host: HostCollectives | undefined
  /** What the mismatch detector, stall inspector and joins know of this communicator. */
  readonly scope: CommScope
  readonly mismatch: MismatchDetector
  /** Watches this communicator's running collectives (one timer for all of them). */
  readonly stalls: StallInspector
  /** One fresh tag per collective call (its sequence number is `tags.count`). */
  readonly tags = new TagSequence()
  readonly tracer = new CollectiveTracer()
  /** Ranks that have run out of data (join.ts). */
  readonly joins: Joins
  freed = false
  /** Communicators made from this one so far (split and dup number their children). */
  children = 0
  private readonly worldToRank: Map<number, number> | undefined

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
    const hosts = new Set(this.nodes).size
    // Only the world's: communicators may run their collectives in different orders on different ranks, and one
    // set of flags must see every rank's calls in one order.
    this.host = commId === 0 && this.size > 1 ? world.transport.hostCollectives?.(commId) : undefined
    // Where a host's ranks sleep (more ranks than cores), a broadcast's round costs more wake-ups than binomial's
    // messages (np=4 on 2 cores, 64 B to 64 KiB: docs/benchmarks.md); where they poll, one round wins up to 256 KiB.
    const hostBcastBytes = this.host?.polls ? HOST_BCAST_TABLE_BYTES : undefined
    this.topology = { hosts, hostBytes: this.host?.maxBytes, hostBcastBytes, hostCopy: this.host?.peerMemory !== undefined }
    this.scope = { transport: world.transport, commId, name, rank, members, rankOf: (w) => this.rankOf(w) }
    this.mismatch = new MismatchDetector(this.scope)
    this.stalls = new StallInspector(this.scope, world.failures)
    this.joins = new Joins({ scope: this.scope, started: () => this.started, told: (seq) => this.mismatch.signatureAt(-1 - seq) })
    world.registry.add(this)
  }

  /** Number of collectives started on this communicator (what a stalled peer asks for). */
  get started(): number {
    return this.tags.count
  }

  /** Rank in this communicator of a world rank. */
  rankOf(worldRank: number): number {
    return this.worldToRank ? this.worldToRank.get(worldRank)! : worldRank
  }

  checkRank(r: number, what: string): void {
    checkRank(r, what, this.size, this.name)
  }

  /** Throws what makes the communicator unusable: a mismatch seen, free(), or finalize(). */
  checkUsable(): void {
    const mismatch = this.mismatch.error
    if (mismatch) {
      this.world.failures.mismatch(mismatch)
      throw mismatch
    }
    if (this.freed) throw new FinalizedError(`rank ${this.rank}: ${this.name} was used after free()`)
    if (this.world.finalized) {
      throw new FinalizedError(`rank ${this.rank}: ${this.name} was used after finalize(); make finalize() the last call`)
    }
  }

  /** How many ranks' data an average of collective `seq` divides by (ranks that had joined do not count). */
  contributors(seq: number): number {
    return this.joins.contributors(this.size, seq)
  }

  /** A peer's notice about this communicator (control plane): a mismatch, or a join. */
  notice(source: number, notice: unknown): void {
    const n = notice as { kind?: unknown; info?: MismatchInfo }
    if (n?.kind === 'mismatch' && n.info) this.mismatch.poison(n.info)
    else if (n && isJoinNotice(n)) this.joins.onNotice(source, n)
  }
}
