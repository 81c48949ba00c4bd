/**
 * `init()`: join the job. Reads the launcher's environment, binds the transport, meets the other ranks
 * through the rendezvous store and returns the world communicator. Without a launcher it returns a world
 * of one (MPI singleton init), so `npx tsx script.ts` just works.
 */
import { mkdirSync } from 'node:fs'
import { readJobEnv } from './bootstrap/env.ts'
import { bindAddress } from './bootstrap/iface.ts'
import { ON_SCRIPT_RETURNED, SCRIPT_RETURNED, WRAPPED } from './bootstrap/protocol.ts'
import { StoreClient } from './bootstrap/zmq/store-client.ts'
import { StoreServer } from './bootstrap/zmq/store-server.ts'
import { Communicator } from './comm/communicator.ts'
import { startElastic } from './elastic/session.ts'
import { UNWRAPPED_IDLE_CHECKS } from './finalize.ts'
import { RendezvousError, UsageError } from './errors.ts'
import { armFailureRecords } from './failure/record.ts'
import { fileLimitShortfall, raiseFileLimit, rankFileNeed } from './native/file-limit.ts'
import { elasticTimeline, startTimeline, timelinePlan } from './timeline/session.ts'
import { formWorld, type Formed } from './world.ts'

/** Options of `init`. */
export interface InitOptions {
  /** How long to wait for all ranks to arrive (default TSRUN_RENDEZVOUS_TIMEOUT or 60 s). */
  timeoutMs?: number
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
  const spec = {
    rank: env.rank,
    size: env.size,
    localRank: env.localRank,
    localSize: env.localSize,
    nodeRank: env.nodeRank,
    jobDir: env.jobDir,
    tcpAddress,
    timeoutMs,
  }
  if (env.elastic) {
    return startElastic(env, spec, { storeServer, adopt, ...elasticTimeline })
  }
  let store: StoreClient | undefined
  let formed: Formed
  try {
    if (env.size > 1) store = new StoreClient(env.store!, env.secret, timeoutMs)
    formed = await formWorld(env, { ...spec, prefix: `${env.jobId}/world/`, store }, { store, storeServer, onClosed: () => forget(formed.comm) })
  } catch (err) {
    store?.close()
    storeServer?.close()
    throw err
  }
  const plan = timelinePlan()
  if (plan) await startTimeline(formed.comm, plan, env.rank, env.size, env.nodeRank, env.host)
  adopt(formed, env.size)
  return formed.comm
}

/** Makes `formed` the world init() returns, and the one finalized for a script that ends without finalize(). */
function adopt(formed: Formed, size: number): void {
  const { comm, finalizer } = formed
  current = comm
  const g = globalThis as Record<symbol, unknown>
  g[ON_SCRIPT_RETURNED] = () => finalizer.finalizeWhenIdle()
  if (g[SCRIPT_RETURNED])
    finalizer.finalizeWhenIdle() // init() ran after the top level ended (an un-awaited main)
  else if (!g[WRAPPED] && size > 1) finalizer.finalizeWhenIdle(UNWRAPPED_IDLE_CHECKS)
}

function forget(comm: Communicator): void {
  if (current === comm) current = undefined
}
