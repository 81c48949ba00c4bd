/**
 * The end of a rank's part in the job: `finalize()` (the FIN exchange with every peer, then closing sockets,
 * the store and the job's directories), and finalizing for a script whose top level ended without calling it.
 */
import { rmSync } from 'node:fs'
import type { JobEnv } from './bootstrap/env.ts'
import type { StoreClient } from './bootstrap/zmq/store-client.ts'
import type { StoreServer } from './bootstrap/zmq/store-server.ts'
import type { World } from './comm/state.ts'
import { finishTimeline, stopTimeline, timelinePlan } from './timeline/session.ts'

/** What a rank holds open until it finalizes. */
export interface Held {
  env: JobEnv
  /** This rank in the world (an elastic job's generation may renumber it). */
  rank: number
  localRank: number
  store?: StoreClient
  storeServer?: StoreServer
  shmDir?: string
  /** Where a rank serves the store: this rank's checkout request (storeCheckout), settled. */
  checkout?: Promise<void>
  /** Called once everything is closed (init forgets the world); `ok` is false when the FIN exchange failed. */
  onClosed(ok: boolean): void
}

/** How long a rank waits for its checkout from a store served by a rank to go out (storeCheckout). */
const CHECKOUT_BOUND_MS = 5000

/** The key a rank sets once it needs the store no more, where a rank serves it (srun). */
export function checkoutKey(jobId: string, rank: number): string {
  return `${jobId}/checked-out/${rank}`
}

export class Finalizer {
  private finalizing: Promise<void> | undefined
  private idleWatch: NodeJS.Timeout | undefined
  /** What kept the process alive when init() ran (the stdio pipes), by kind: not the script's work. */
  private readonly baseline = resourceCounts()

  private readonly world: World
  private readonly held: Held

  constructor(world: World, held: Held) {
    this.world = world
    this.held = held
  }

  /** Finalizes once; later calls get the same promise. */
  finalize(): Promise<void> {
    this.finalizing ??= this.run()
    return this.finalizing
  }

  private async run(): Promise<void> {
    const { world, held } = this
    const { env } = held
    const started = Date.now()
    const warn = setInterval(() => {
      const missing = world.transport.finalizeMissing()
      if (missing.length === 0) return
      const waited = Math.round((Date.now() - started) / 1000)
      process.stderr.write(`tsrun: rank ${held.rank}: finalize waiting ${waited} s for ranks [${missing.join(', ')}]; they have not called finalize() yet\n`)
    }, world.stallWarningMs)
    warn.unref()
    stopTimeline()
    let ok = false
    try {
      await world.transport.finalize(env.finalizeTimeoutMs)
      ok = true
      finishTimeline(timelinePlan(), held.rank)
    } finally {
      clearInterval(warn)
      world.finalized = true
      world.transport.close()
      if (ok) await this.storeCheckout()
      held.store?.close()
      held.storeServer?.close()
      // After the FIN exchange every rank here has closed its sockets: the directory is no longer used.
      if (env.ownJobDir && held.localRank === 0) {
        for (const dir of [env.jobDir, held.shmDir]) if (dir) rmSync(dir, { recursive: true, force: true })
      }
      held.onClosed(ok)
    }
  }

  /**
   * Where a rank serves the store (srun), a rank slow to start may still wait for its rendezvous answer when
   * the others finalize (links open when first used, so the FIN exchange need not include it). Every other rank
   * checks out of the store once its rendezvous is done (world.ts); the serving rank keeps the store open until
   * all have, or the rendezvous timeout has passed. A non-serving rank makes sure its checkout went out.
   */
  private async storeCheckout(): Promise<void> {
    const { env, rank, storeServer, checkout } = this.held
    if (!env.storeOnRank || env.size <= 1) return
    if (storeServer) {
      const keys = Array.from({ length: env.size }, (_, r) => checkoutKey(env.jobId, r)).filter((_, r) => r !== rank)
      await storeServer.whenSet(keys, env.rendezvousTimeoutMs)
      return
    }
    let timer: NodeJS.Timeout | undefined
    await Promise.race([checkout, new Promise<void>((resolve) => (timer = setTimeout(resolve, CHECKOUT_BOUND_MS)))])
    clearTimeout(timer)
  }

  /**
   * The script's top level has run to its end (launcher/rank-main.mjs says so) without `finalize()`. Once
   * nothing is under way any more (no tsrun operation, no timer, socket, file or child process of the
   * script's), finalize for it, so the process exits as a plain Node script would instead of being kept alive
   * by ZeroMQ's sockets. Work that is still going on, like an un-awaited `main()`, holds it off.
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
        process.stderr.write(`tsrun: rank ${this.held.rank}: the script ended without finalize(), and finalizing for it failed: ${err.message}\n`)
        process.exitCode ||= 1
      })
    }, IDLE_CHECK_MS)
    this.idleWatch.unref()
  }

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
export const UNWRAPPED_IDLE_CHECKS = 30

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
