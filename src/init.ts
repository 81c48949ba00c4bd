/**
 * `init()`: join the job. Reads the launcher's environment, binds the transport, meets the other ranks
 * through the rendezvous store and returns the world communicator. Without a launcher it returns a world
 * of one (MPI singleton init), so `npx tsx script.ts` just works.
 */
import { mkdirSync } from 'node:fs'
import { hostname } from 'node:os'
import { readJobEnv, type JobEnv } from './bootstrap/env.ts'
import { bindAddress } from './bootstrap/iface.ts'
import { PrefixStore } from './bootstrap/prefix-store.ts'
import { ON_SCRIPT_RETURNED, SCRIPT_RETURNED, WRAPPED } from './bootstrap/protocol.ts'
import { rendezvous } from './bootstrap/rendezvous.ts'
import { StoreClient } from './bootstrap/zmq/store-client.ts'
import { StoreServer } from './bootstrap/zmq/store-server.ts'
import { Communicator } from './comm/communicator.ts'
import { CommRegistry } from './comm/registry.ts'
import type { World } from './comm/state.ts'
import { Finalizer, UNWRAPPED_IDLE_CHECKS } from './finalize.ts'
import { RendezvousError, TsrunError, UsageError } from './errors.ts'
import { armFailureRecords, failureWitness } from './failure/record.ts'
import { makeShmDir, shmDirOf } from './transport/shm/files.ts'
import type { PeerAddress } from './transport/transport.ts'
import { RankTransport } from './transport/rank-transport.ts'
import { setting } from './settings.ts'
import { fileLimitShortfall, raiseFileLimit, rankFileNeed } from './native/file-limit.ts'
import { nativeUnavailable } from './native/native.ts'
import { startTimeline, timelinePlan } from './timeline/session.ts'

/** Options of `init`. */
export interface InitOptions {
  /** How long to wait for all ranks to arrive (default TSRUN_RENDEZVOUS_TIMEOUT or 60 s). */
  timeoutMs?: number
}

/**
 * The job's shared-memory directory on this host, if ranks here may exchange large messages through it (the
 * transport also needs the native helpers). Rank 0 says once why not, unless the user turned it off.
 */
function sharedMemoryDir(env: JobEnv): string | undefined {
  if (env.size === 1 || !env.shm || env.transport === 'tcp') return undefined
  // Ranks that made the job's directories themselves (srun) name them per host too, as env.ts names jobDir.
  const dir = env.shmDir ?? shmDirOf(env.ownJobDir ? `${env.jobId}.${hostname()}` : env.jobId)
  const why = dir === undefined ? 'this machine has no /dev/shm' : (nativeUnavailable() ?? (makeShmDir(dir) ? undefined : `cannot create ${dir}`))
  if (why === undefined) return dir
  if (env.rank === 0)
    process.stderr.write(
      `tsrun: shared memory between ranks of a host is off (${why}); large messages to ranks of this host go through the sockets instead. TSRUN_SHM=0 silences this.\n`,
    )
  return undefined
}

/** The world communicator's type: every rank of the job (a Communicator like any other). */
export type WorldCommunicator = Communicator
/** The world communicator's class: the same as Communicator. */
export const WorldCommunicator = Communicator

let current: Communicator | undefined
let pending: Promise<Communicator> | undefined

/**
 * Joins the job and returns the world communicator. Calling it again returns the same one.
 *
 * @example
 * ```ts
 * import { init } from 'tsrun'
 * const world = await init()
 * console.log(`rank ${world.rank} of ${world.size}`)
 * await world.finalize()
 * ```
 * @throws RendezvousError listing the ranks that never arrived; UsageError for a bad environment.
 */
export function init(options: InitOptions = {}): Promise<Communicator> {
  if (current) return Promise.resolve(current)
  pending ??= start(options).finally(() => {
    pending = undefined
  })
  return pending
}

async function start(options: InitOptions): Promise<Communicator> {
  const env = readJobEnv()
  armFailureRecords(env) // failure records (failure/record.ts): written where a failure is detected
  if (env.size > 1) {
    // The launcher raised the limit for its own ranks already; ranks of ssh and srun raise theirs here.
    const short = fileLimitShortfall(raiseFileLimit(), rankFileNeed(env.localSize, env.multiHost), `rank ${env.rank}, one of ${env.localSize} on ${env.host},`)
    if (short) throw new UsageError(short)
  }
  const timeoutMs = options.timeoutMs ?? env.rendezvousTimeoutMs
  // The job directory is per host; ranks on a remote host (or under srun) create it, private to this user.
  if (env.jobDir && env.size > 1) mkdirSync(env.jobDir, { recursive: true, mode: 0o700 })
  const tcpAddress = env.tcpAddress ?? (await bindAddress(env.iface, env.routeTarget))
  let storeServer: StoreServer | undefined
  if (env.serveStore) {
    try {
      storeServer = await StoreServer.start({ endpoint: env.serveStore, secret: env.secret })
    } catch (err) {
      throw new RendezvousError(
        `rank 0: could not serve the rendezvous store at ${env.serveStore}: ${(err as Error).message}; ` +
          `is the port taken? Set TSRUN_STORE_PORT to another port`,
        [],
        { cause: err },
      )
    }
  }
  const shmDir = sharedMemoryDir(env)
  const transport = await RankTransport.create({
    rank: env.rank,
    size: env.size,
    host: env.host,
    jobDir: env.jobDir,
    kind: env.transport,
    multiHost: env.multiHost,
    tcpAddress,
    segmentBytes: env.segmentBytes,
    secret: env.size > 1 ? env.secret : undefined,
    encrypt: env.encrypt,
    shmDir,
    localSize: env.localSize,
    shmBytes: setting('TSRUN_SHM_BYTES'),
    spinUs: setting('TSRUN_SPIN_US'),
    heartbeatTimeoutMs: env.heartbeatTimeoutMs,
  })
  // Installed before the rendezvous: a peer that is through it first may already be talking about a communicator
  // this rank has not made yet (even the world); what it says then waits for that communicator.
  const registry = new CommRegistry()
  registry.route(transport)
  let store: StoreClient | undefined
  let peers: PeerAddress[] = [transport.address]
  try {
    if (env.size > 1) {
      store = new StoreClient(env.store!, env.secret, timeoutMs)
      peers = await rendezvous(new PrefixStore(`${env.jobId}/world/`, store), transport, timeoutMs)
    }
  } catch (err) {
    transport.close()
    store?.close()
    storeServer?.close()
    if (err instanceof TsrunError) throw err
    throw new RendezvousError(`rank ${env.rank}: rendezvous failed: ${(err as Error).message}`, [], { cause: err })
  }
  // Hosts by first appearance: ranks with the same index share a host (hierarchical algorithms use it).
  const hosts = peers.map((p) => p.host)
  const nodeOf = hosts.map((h) => hosts.indexOf(h))
  const placement = { host: env.host, localRank: env.localRank, localSize: env.localSize, nodeRank: env.nodeRank }
  const world: World = {
    transport,
    finalized: false,
    registry,
    stallWarningMs: env.stallWarningMs,
    opTimeoutMs: env.opTimeoutMs,
    nodeOf,
    placement,
    failures: failureWitness(),
    finalize: () => fin.finalize(),
  }
  const me = Communicator.create(
    world,
    0,
    Array.from({ length: env.size }, (_, i) => i),
    env.rank,
    'world',
  )
  const fin = new Finalizer(world, {
    env,
    store,
    storeServer,
    shmDir,
    onClosed: () => {
      if (current === me) current = undefined
    },
  })
  const plan = timelinePlan()
  if (plan) await startTimeline(me, plan, env.rank, env.size, env.nodeRank, env.host)
  current = me
  const g = globalThis as Record<symbol, unknown>
  g[ON_SCRIPT_RETURNED] = () => fin.finalizeWhenIdle()
  if (g[SCRIPT_RETURNED])
    fin.finalizeWhenIdle() // init() ran after the top level ended (an un-awaited main)
  else if (!g[WRAPPED] && env.size > 1) fin.finalizeWhenIdle(UNWRAPPED_IDLE_CHECKS)
  return me
}
