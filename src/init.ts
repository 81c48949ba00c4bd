/**
 * `init()`: join the job. Reads the launcher's environment, binds the transport, meets the other ranks
 * through the rendezvous store and returns the world communicator. Without a launcher it returns a world
 * of one (MPI singleton init), so `npx tsx script.ts` just works.
 */
import { mkdirSync, rmSync } from 'node:fs'
import { readJobEnv, type JobEnv } from './bootstrap/env.ts'
import { bindAddress } from './bootstrap/iface.ts'
import { PrefixStore } from './bootstrap/prefix-store.ts'
import { ON_SCRIPT_RETURNED, SCRIPT_RETURNED, WRAPPED } from './bootstrap/protocol.ts'
import { rendezvous } from './bootstrap/rendezvous.ts'
import { StoreClient } from './bootstrap/zmq/store-client.ts'
import { StoreServer } from './bootstrap/zmq/store-server.ts'
import { Communicator } from './comm/communicator.ts'
import { EarlyNotices, type MismatchInfo } from './comm/mismatch.ts'
import type { World } from './comm/point-to-point.ts'
import { RendezvousError, TsrunError } from './errors.ts'
import { makeShmDir, shmDirOf } from './transport/shm/slots.ts'
import type { PeerAddress } from './transport/transport.ts'
import { ZmqTransport } from './transport/zmq/zmq-transport.ts'
import { nativeUnavailable } from './native/native.ts'
import { finishTimeline, startTimeline, stopTimeline, timelinePlan } from './trace/session.ts'

/** Options of `init`. */
export interface InitOptions {
  /** How long to wait for all ranks to arrive (default TSRUN_RENDEZVOUS_TIMEOUT or 60 s). */
  timeoutMs?: number
}

/** The world communicator: every rank of the job, plus where this rank runs and `finalize`. */
export class WorldCommunicator extends Communicator {
  /** Rank among the ranks on this host. */
  readonly localRank: number
  /** Number of ranks on this host. */
  readonly localSize: number
  /** Index of this host among the job's hosts. */
  readonly nodeRank: number
  /** Host name of this rank. */
  readonly host: string
  private readonly env: JobEnv
  private readonly store: StoreClient | undefined
  private readonly storeServer: StoreServer | undefined
  private readonly shmDir: string | undefined
  private finalizing: Promise<void> | undefined

  /** @internal */
  constructor(world: World, env: JobEnv, store: StoreClient | undefined, storeServer: StoreServer | undefined, shmDir?: string) {
    super(world, 0, Array.from({ length: env.size }, (_, i) => i), env.rank, 'world')
    this.env = env
    this.store = store
    this.storeServer = storeServer
    this.shmDir = shmDir
    this.localRank = env.localRank
    this.localSize = env.localSize
    this.nodeRank = env.nodeRank
    this.host = env.host
  }

  /**
   * Collective: delivers every message already sent, waits for all ranks to finalize, then closes sockets
   * so the process can exit. Calling it again does nothing.
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
    this.finalizing ??= (async () => {
      const started = Date.now()
      const warn = setInterval(() => {
        const missing = this.world.transport.finalizeMissing()
        if (missing.length === 0) return
        const waited = Math.round((Date.now() - started) / 1000)
        process.stderr.write(`tsrun: rank ${this.rank}: finalize waiting ${waited} s for ranks [${missing.join(', ')}]; they have not called finalize() yet\n`)
      }, this.world.stallWarningMs)
      warn.unref()
      stopTimeline()
      try {
        await this.world.transport.finalize(this.env.finalizeTimeoutMs)
        finishTimeline(timelinePlan(), this.rank)
      } finally {
        clearInterval(warn)
        this.world.finalized = true
        this.world.transport.close()
        this.store?.close()
        this.storeServer?.close()
        // After the FIN exchange every rank here has closed its sockets: the directory is no longer used.
        if (this.env.ownJobDir && this.localRank === 0) {
          for (const dir of [this.env.jobDir, this.shmDir]) if (dir) rmSync(dir, { recursive: true, force: true })
        }
        if (current === this) current = undefined
      }
    })()
    return this.finalizing
  }

  /**
   * @internal The script's top level has run to its end (launcher/rank-main.mjs says so) without
   * `finalize()`. Once nothing is under way any more (no tsrun operation, no timer, socket, file or child
   * process of the script's), finalize for it, so the process exits as a plain Node script would instead of
   * being kept alive by ZeroMQ's sockets. Work that is still going on, like an un-awaited `main()`, holds it off.
   */
  finalizeWhenIdle(checks = IDLE_CHECKS): void {
    if (this.finalizing || this.idleWatch) return
    let quiet = 0
    this.idleWatch = setInterval(() => {
      if (this.finalizing) return this.stopIdleWatch()
      quiet = this.world.transport.busy() || othersActive(this.baseline) ? 0 : quiet + 1
      if (quiet < checks) return
      this.stopIdleWatch()
      this.finalize().catch((err: Error) => {
        process.stderr.write(`tsrun: rank ${this.rank}: the script ended without finalize(), and finalizing for it failed: ${err.message}\n`)
        process.exitCode ||= 1
      })
    }, IDLE_CHECK_MS)
    this.idleWatch.unref()
  }

  private idleWatch: NodeJS.Timeout | undefined
  /** What kept the process alive when init() ran (the stdio pipes), by kind: not the script's work. */
  private readonly baseline = resourceCounts()

  private stopIdleWatch(): void {
    clearInterval(this.idleWatch)
    this.idleWatch = undefined
  }
}

/** A script counts as finished after this many checks in a row, IDLE_CHECK_MS apart, found nothing going on. */
const IDLE_CHECKS = 5
const IDLE_CHECK_MS = 100
/**
 * Without the launcher's wrapper (`srun node --import tsx script.ts`) nobody says when the top level has ended:
 * watch from init() on, and ask for 3 s of nothing going on instead of 0.5 s.
 */
const UNWRAPPED_IDLE_CHECKS = 30
function resourceCounts(): Map<string, number> {
  const counts = new Map<string, number>()
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1)
  return counts
}

/** True if something besides what `baseline` holds keeps the event loop alive (unref'd timers do not count). */
function othersActive(baseline: Map<string, number>): boolean {
  for (const [kind, n] of resourceCounts()) if (n > (baseline.get(kind) ?? 0)) return true
  return false
}

/**
 * The job's shared-memory directory on this host, if ranks here may exchange large messages through it (the
 * transport also needs the native helpers). Rank 0 says once why not, unless the user turned it off.
 */
function sharedMemoryDir(env: JobEnv): string | undefined {
  if (env.size === 1 || !env.shm || env.transport === 'tcp') return undefined
  const dir = env.shmDir ?? shmDirOf(env.jobId)
  const why = dir === undefined ? 'this machine has no /dev/shm' : nativeUnavailable() ?? (makeShmDir(dir) ? undefined : `cannot create ${dir}`)
  if (why === undefined) return dir
  if (env.rank === 0) process.stderr.write(`tsrun: shared memory between ranks of a host is off (${why}); large messages go through ZeroMQ. TSRUN_SHM=0 silences this.\n`)
  return undefined
}

let current: WorldCommunicator | undefined
let pending: Promise<WorldCommunicator> | undefined

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
export function init(options: InitOptions = {}): Promise<WorldCommunicator> {
  if (current) return Promise.resolve(current)
  pending ??= start(options).finally(() => {
    pending = undefined
  })
  return pending
}

async function start(options: InitOptions): Promise<WorldCommunicator> {
  const env = readJobEnv()
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
  const transport = await ZmqTransport.create({
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
    heartbeatTimeoutMs: env.heartbeatTimeoutMs,
  })
  // Installed before the rendezvous: a peer that is through it first may already be talking about a communicator
  // this rank has not made yet (even the world); what it says then waits for that communicator (EarlyNotices).
  const comms: World['comms'] = new Map()
  const early = new EarlyNotices()
  transport.handle({
    statusOf: (commId) => comms.get(commId)?.started,
    onCollective: (commId, tag, source, sig) => {
      const comm = comms.get(commId)
      if (comm) (comm.mismatch.arrived(tag, source, sig), comm.noteArrival(tag))
      else early.hold(commId, { kind: 'arrival', tag, source, sig })
    },
    onNotice: (commId, source, notice) => {
      const comm = comms.get(commId)
      if (comm) comm.notice(source, notice)
      else early.hold(commId, { kind: 'notice', source, notice })
    },
  })
  let store: StoreClient | undefined
  let peers: PeerAddress[] = [transport.address]
  try {
    if (env.size > 1) {
      store = new StoreClient(env.store!, env.secret)
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
  const world: World = { transport, finalized: false, comms, stallWarningMs: env.stallWarningMs, opTimeoutMs: env.opTimeoutMs, nodeOf, early }
  const me = new WorldCommunicator(world, env, store, storeServer, shmDir)
  const plan = timelinePlan()
  if (plan) await startTimeline(world, plan, env.rank, env.size, env.nodeRank, env.host)
  current = me
  const g = globalThis as Record<symbol, unknown>
  g[ON_SCRIPT_RETURNED] = () => me.finalizeWhenIdle()
  if (g[SCRIPT_RETURNED]) me.finalizeWhenIdle() // init() ran after the top level ended (an un-awaited main)
  else if (!g[WRAPPED] && env.size > 1) me.finalizeWhenIdle(UNWRAPPED_IDLE_CHECKS)
  return me
}
