/**
 * Forms one world: binds this rank's transport, meets the other ranks through the rendezvous store under a
 * prefix, and returns the world communicator with its finalizer. `init()` forms one world per job; an elastic
 * job (elastic/session.ts) forms one per generation, each with its own store prefix and directories.
 */
import { hostname } from 'node:os'
import type { JobEnv } from './bootstrap/env.ts'
import { PrefixStore } from './bootstrap/prefix-store.ts'
import { rendezvous } from './bootstrap/rendezvous.ts'
import type { StoreClient } from './bootstrap/zmq/store-client.ts'
import type { StoreServer } from './bootstrap/zmq/store-server.ts'
import { Communicator } from './comm/communicator.ts'
import { CommRegistry } from './comm/registry.ts'
import { warmUp } from './comm/warm-up.ts'
import type { World } from './comm/state.ts'
import { RendezvousError, TsrunError } from './errors.ts'
import { failureWitness } from './failure/record.ts'
import { checkoutKey, Finalizer } from './finalize.ts'
import { nativeUnavailable } from './native/native.ts'
import { setting } from './settings.ts'
import { RankTransport } from './transport/rank-transport.ts'
import { makeShmDir, shmDirOf } from './transport/shm/files.ts'
import type { PeerPlace } from './transport/transport.ts'

/** Where this rank stands in the world to form, and where that world's files and keys go. */
export interface WorldSpec {
  rank: number
  size: number
  localRank: number
  localSize: number
  nodeRank: number
  /** The store prefix of this world's rendezvous. */
  prefix: string
  /** The directory of its unix sockets on this host. */
  jobDir?: string
  /** Its shared-memory directory on this host, or undefined for none; default: the job's. */
  shmDir?: string | null
  tcpAddress: string
  timeoutMs: number
  /** The store the rendezvous meets in (the world's finalize closes it only if `Held` names it too). */
  store?: StoreClient
}

/** What a world holds open until it is finalized or dropped. */
export interface Held {
  /** Closed by the world's finalize. */
  store?: StoreClient
  storeServer?: StoreServer
  /** Called once everything is closed; `ok` is false when finalize failed. */
  onClosed(ok: boolean): void
}

/** A formed world. */
export interface Formed {
  comm: Communicator
  transport: RankTransport
  finalizer: Finalizer
}

/**
 * The job's shared-memory directory on this host, if ranks here may exchange large messages through it (the
 * transport also needs the native helpers). Rank 0 says once why not, unless the user turned it off.
 */
export function sharedMemoryDir(env: JobEnv, rank = env.rank, size = env.size): string | undefined {
  if (size === 1 || !env.shm || env.transport === 'tcp') return undefined
  // Ranks that made the job's directories themselves (srun) name them per host too, as env.ts names jobDir.
  const dir = env.shmDir ?? shmDirOf(env.ownJobDir ? `${env.jobId}.${hostname()}` : env.jobId)
  const why = dir === undefined ? 'this machine has no /dev/shm' : (nativeUnavailable() ?? (makeShmDir(dir) ? undefined : `cannot create ${dir}`))
  if (why === undefined) return dir
  if (rank === 0)
    process.stderr.write(
      `tsrun: shared memory between ranks of a host is off (${why}); large messages to ranks of this host go through the sockets instead. TSRUN_SHM=0 silences this.\n`,
    )
  return undefined
}

/**
 * Binds the transport, meets the world's ranks and makes the world communicator. `abort`, if it settles first,
 * ends the rendezvous (an elastic job's next generation opened meanwhile) with its error.
 */
export async function formWorld(env: JobEnv, spec: WorldSpec, held: Held, abort?: Promise<never>): Promise<Formed> {
  const shmDir = spec.shmDir === null ? undefined : (spec.shmDir ?? sharedMemoryDir(env, spec.rank, spec.size))
  if (shmDir && spec.shmDir) makeShmDir(shmDir)
  const transport = await RankTransport.create({
    rank: spec.rank,
    size: spec.size,
    host: env.host,
    jobDir: spec.jobDir,
    kind: env.transport,
    multiHost: env.multiHost,
    tcpAddress: spec.tcpAddress,
    segmentBytes: env.segmentBytes,
    secret: spec.size > 1 ? env.secret : undefined,
    encrypt: env.encrypt,
    shmDir,
    localSize: spec.localSize,
    shmBytes: setting('TSRUN_SHM_BYTES'),
    spinUs: setting('TSRUN_SPIN_US'),
    singleCopy: setting('TSRUN_SINGLE_COPY'),
    heartbeatTimeoutMs: env.heartbeatTimeoutMs,
  })
  // Installed before the rendezvous: a peer that is through it first may already be talking about a communicator
  // this rank has not made yet (even the world); what it says then waits for that communicator.
  const registry = new CommRegistry()
  registry.route(transport)
  let peers: PeerPlace[] = [transport.address]
  try {
    if (spec.size > 1) {
      // Addresses of other hosts' ranks are fetched when first linked, from a store that lasts as long as the job
      // (the launcher's); a store served by a rank may close before the others are done, so all are read now.
      const meet = rendezvous(new PrefixStore(spec.prefix, spec.store!), transport, spec.timeoutMs, env.storeOnRank)
      peers = await (abort ? Promise.race([meet, abort]) : meet)
    }
  } catch (err) {
    transport.close()
    if (err instanceof TsrunError) throw err
    throw new RendezvousError(`rank ${spec.rank}: rendezvous failed: ${(err as Error).message}`, [], { cause: err })
  }
  // Hosts by first appearance: ranks with the same index share a host (hierarchical algorithms use it).
  const hosts = peers.map((p) => p.host)
  const nodeOf = hosts.map((h) => hosts.indexOf(h))
  const members = Array.from({ length: spec.size }, (_, i) => i)
  const placement = { host: env.host, localRank: spec.localRank, localSize: spec.localSize, nodeRank: spec.nodeRank }
  const world: World = {
    transport,
    finalized: false,
    registry,
    stallWarningMs: env.stallWarningMs,
    opTimeoutMs: env.opTimeoutMs,
    nodeOf,
    placement,
    failures: failureWitness(),
    finalize: () => finalizer.finalize(),
  }
  // Before the world communicator exists: what peers say about it meanwhile waits for it.
  try {
    if (!env.elastic) await warmUp(world, members, spec.rank, setting('TSRUN_WARMUP_MS'))
  } catch (err) {
    transport.close() // a peer lost meanwhile: init() fails as it does when the rendezvous does
    throw err
  }
  const comm = Communicator.create(world, 0, members, spec.rank, 'world')
  // Where a rank serves the store, tell it this rank needs it no more (it stays open until every rank has).
  const checkout = env.storeOnRank && spec.store && !held.storeServer ? spec.store.set(checkoutKey(env.jobId, spec.rank), '').catch(() => {}) : undefined
  const finalizer = new Finalizer(world, { env, rank: spec.rank, localRank: spec.localRank, ...held, shmDir, checkout })
  return { comm, transport, finalizer }
}
