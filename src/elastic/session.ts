/**
 * A rank's side of an elastic job (`tsrun --elastic MIN:MAX`). The job runs as generations of worlds; the
 * launcher's coordinator (launcher/elastic.ts) decides each one's members, in the store (keys.ts). A rank:
 * - forms generation 0 from the members the coordinator published at the start, or, started into a running
 *   job, asks to join and forms the generation it is given;
 * - while in generation g, watches for g+1 to open. A peer lost (the transport's own detection, onPeerLost) or
 *   g+1 opened for a loss revokes g at once: every pending and later call fails with WorldChangedError. g+1
 *   opened for joining ranks waits for the next step boundary (`atBoundary`, called by `ElasticState.commit`),
 *   or JOIN_BACKSTOP_MS, whichever comes first;
 * - on `next()`, closes g's transport, asks to be in g+1, waits for its members and forms it (renumbered
 *   densely, in the order of the old ranks), in its own directories and store prefix. A rank left out stops.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { JobEnv } from '../bootstrap/env.ts'
import { PrefixStore } from '../bootstrap/prefix-store.ts'
import { StoreTimeoutError } from '../bootstrap/store.ts'
import { StoreClient } from '../bootstrap/zmq/store-client.ts'
import type { StoreServer } from '../bootstrap/zmq/store-server.ts'
import type { Communicator } from '../comm/communicator.ts'
import { RendezvousError, WorldChangedError } from '../errors.ts'
import { setting } from '../settings.ts'
import { worldChange, type WorldChange } from './change.ts'
import { onPeerLost } from '../transport/transport.ts'
import { formWorld, sharedMemoryDir, type Formed, type WorldSpec } from '../world.ts'
import {
  assignedKey,
  elasticPrefix,
  generationPrefix,
  joinKey,
  membersKey,
  openKey,
  requestKey,
  resumedKey,
  type MemberRequest,
  type Members,
  type OpenNotice,
} from './keys.ts'

/** The store's longest wait (24 h). */
const FOREVER_MS = 24 * 3600 * 1000
/** Ranks waiting to join are taken at the next commit; a member that commits no sooner leaves after this anyway. */
const JOIN_BACKSTOP_MS = 2000
/** A world that fails to form (a member killed meanwhile, its shared memory gone) leads on if the next opens this soon. */
const FORMING_GRACE_MS = 10_000

/** What init() hands an elastic job. */
export interface ElasticHooks {
  storeServer?: StoreServer
  /** Makes a formed world the one init() returns. */
  adopt(formed: Formed, size: number): void
  /** Collective on each new world, before it is used (the timeline's line for the generation). */
  entered?(world: Communicator, place: { member: string; gen: number; node: number; host: string }): Promise<void>
  /** A change of world ended on this member (the timeline's span of it). */
  changed?(change: WorldChange): void
}

let session: ElasticSession | undefined

/** This process's elastic session, if the job is elastic and init() has run. */
export function elasticSession(): ElasticSession | undefined {
  return session
}

/** init() in an elastic job: the session, and the first world this rank is a member of. */
export function startElastic(env: JobEnv, base: Omit<WorldSpec, 'prefix'>, hooks: ElasticHooks): Promise<Communicator> {
  session = new ElasticSession(env, base, hooks)
  return session.begin()
}

export class ElasticSession {
  /** The generation this rank is in (or entering); -1 before the first. */
  generation = -1
  /** When (performance.now()) this rank learned of the change under way (or began to join), if one is. */
  changeAt: number | undefined
  private formed: Formed | undefined
  /** The members of the generation this rank is in, and of the one before (for the timeline). */
  private members: Members | undefined
  private before: Members | undefined
  private readonly env: JobEnv
  private readonly base: Omit<WorldSpec, 'prefix'>
  private readonly hooks: ElasticHooks
  private readonly store: StoreClient
  private readonly keys: PrefixStore
  private readonly id: string
  private readonly shmBase: string | undefined
  /** Ranks of the current generation that went silent (the coordinator need not wait for them). */
  private silent: number[] = []
  private pendingJoin: WorldChangedError | undefined
  private backstop: NodeJS.Timeout | undefined
  private abortForming: ((err: Error) => void) | undefined
  private closed = false
  private readonly unsubscribe: () => void

  constructor(env: JobEnv, base: Omit<WorldSpec, 'prefix'>, hooks: ElasticHooks) {
    this.env = env
    this.base = base
    this.hooks = hooks
    this.id = env.elastic!.id
    this.store = new StoreClient(env.store!, env.secret, base.timeoutMs)
    this.keys = new PrefixStore(elasticPrefix(env.jobId), this.store)
    this.shmBase = sharedMemoryDir(env, env.rank, Math.max(2, env.size))
    // Registered after failure/record.ts's listener: the record is written first, then the world revoked.
    this.unsubscribe = onPeerLost((loss) => {
      if (this.formed && loss.rank === this.formed.transport.rank) {
        if (loss.kind === 'silent') this.silent.push(loss.peer.rank)
        this.revoke(this.generation, { reason: 'lost', lost: [{ rank: loss.peer.rank, host: loss.peer.host }] })
      }
    })
  }

  /** The first world: generation 0's, or the one this joining rank is given. */
  async begin(): Promise<Communicator> {
    if (!this.env.elastic!.joining) return this.enter(await this.membersOf(0))
    this.changeAt = performance.now()
    await this.keys.set(joinKey(this.id), JSON.stringify({ id: this.id, host: this.env.host }))
    const g = Number((await this.wait(assignedKey(this.id))).toString())
    if (g < 0) {
      // The job ended before this rank could join: nothing to do.
      process.stderr.write(`tsrun: member ${this.id} started as the elastic job ended; it has nothing to join and exits\n`)
      this.close()
      process.exit(0)
    }
    return this.enter(await this.membersOf(g))
  }

  get range(): { min: number; max: number } {
    return { min: this.env.elastic!.min, max: this.env.elastic!.max }
  }

  /** Leaves the current generation and forms the next one (the survivors', with any joining ranks). */
  async next(): Promise<Communicator> {
    const from = this.generation
    this.leave()
    this.changeAt ??= performance.now()
    await this.ask(from + 1)
    return this.enter(await this.membersOf(from + 1))
  }

  /** A step boundary (ElasticState.commit): ranks are waiting to join, so this world ends here. */
  atBoundary(): void {
    const err = this.pendingJoin
    if (!err) return
    this.pendingJoin = undefined
    clearTimeout(this.backstop)
    this.formed?.transport.fail(err)
    throw err
  }

  /** `--inject-fault RANK:STEP[:SIGNAL]` (tests): at that commit of generation 0, that rank kills itself. */
  injectFault(commits: number): void {
    const spec = setting('TSRUN_INJECT_FAULT')
    if (!spec || this.generation !== 0 || this.env.elastic!.joining) return
    const [rank, step, signal = 'SIGKILL'] = spec.split(':')
    if (Number(rank) === this.formed?.comm.rank && Number(step) === commits) process.kill(process.pid, signal as NodeJS.Signals)
  }

  /** Generation g's rank 0 tells the launcher the state is in place again (it prints the change's line). */
  resumed(step: number): void {
    if (this.changeAt !== undefined && this.members) this.hooks.changed?.(worldChange(this.before, this.members, this.changeAt, step))
    this.changeAt = undefined
    if (this.formed?.comm.rank === 0) this.keys.set(resumedKey(this.generation), JSON.stringify({ step })).catch(() => {})
  }

  /** Ends the session (its world finalized, the job done for this rank). */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.unsubscribe()
    clearTimeout(this.backstop)
    this.store.close()
    this.hooks.storeServer?.close()
    if (session === this) session = undefined
  }

  private leave(): void {
    this.pendingJoin = undefined
    clearTimeout(this.backstop)
    this.formed?.transport.close()
    this.formed = undefined
  }

  /** Generation `g` ends on this rank: at once for a loss, at the next step boundary for a join. */
  private revoke(g: number, notice: OpenNotice): void {
    if (this.generation !== g || this.closed) return
    const lost = notice.lost.map((l) => `${l.rank}${l.host ? ` (host ${l.host})` : ''}`).join(', ')
    const why = notice.reason === 'lost' ? `rank ${lost} was lost` : 'ranks are joining'
    const err = new WorldChangedError(`generation ${g} of the elastic job ended: ${why}; runElastic goes on in the next one from the last commit`, {
      generation: g,
      lost: notice.lost,
      reason: notice.reason,
    })
    this.changeAt ??= performance.now()
    if (notice.reason === 'join' && this.formed) {
      if (this.pendingJoin) return
      this.pendingJoin = err
      this.backstop = setTimeout(() => {
        this.pendingJoin = undefined
        this.formed?.transport.fail(err)
      }, JOIN_BACKSTOP_MS)
      this.backstop.unref()
      return
    }
    this.formed?.transport.fail(err)
    this.abortForming?.(err)
    void this.ask(g + 1)
  }

  private ask(g: number): Promise<void> {
    const req: MemberRequest = { id: this.id, host: this.env.host, ...(this.silent.length ? { silent: this.silent } : {}) }
    return this.keys.set(requestKey(g, this.id), JSON.stringify(req)).catch(() => {})
  }

  /** Watches for generation g to open while this rank is in g-1. */
  private watch(g: number): void {
    this.keys
      .get(openKey(g), FOREVER_MS)
      .then((v) => this.revoke(g - 1, JSON.parse(v.toString()) as OpenNotice))
      .catch(() => {}) // the session closed
  }

  /** True if generation g opens within `ms` (a loss during g-1's forming opens it soon after). */
  private opens(g: number, ms: number): Promise<boolean> {
    return this.keys.get(openKey(g), ms).then(
      () => true,
      () => false,
    )
  }

  private async wait(key: string): Promise<Buffer> {
    const ms = this.env.elastic!.timeoutMs + 60_000
    try {
      return await this.keys.get(key, ms)
    } catch (err) {
      if (!(err instanceof StoreTimeoutError)) throw err
      throw new RendezvousError(
        `rank ${this.env.rank} (member ${this.id}): the elastic job formed no generation for it within ${ms / 1000} s; is the launcher still running?`,
        [],
        { cause: err },
      )
    }
  }

  private async membersOf(g: number): Promise<Members> {
    return JSON.parse((await this.wait(membersKey(g))).toString()) as Members
  }

  /** Forms generation `m.gen` with its members; a change that opens meanwhile leads on to the next. */
  private async enter(m: Members): Promise<Communicator> {
    const { env } = this
    const rank = m.members.findIndex((x) => x.id === this.id)
    if (rank < 0) {
      this.close()
      throw new RendezvousError(
        `member ${this.id} (host ${env.host}) was left out of generation ${m.gen} of the elastic job: it did not ask to be in it in time (TSRUN_ELASTIC_SETTLE)`,
      )
    }
    this.generation = m.gen
    ;[this.before, this.members] = [this.members, m]
    this.silent = []
    // For the script and what it starts (a data loader): where this rank is now.
    Object.assign(process.env, { TSRUN_ELASTIC_GENERATION: String(m.gen), TSRUN_ELASTIC_RANK: String(rank), TSRUN_ELASTIC_SIZE: String(m.members.length) })
    const hosts = [...new Set(m.members.map((x) => x.host))]
    const here = m.members.flatMap((x, i) => (x.host === env.host ? [i] : []))
    const jobDir = env.jobDir ? join(env.jobDir, `g${m.gen}`) : undefined
    if (jobDir && m.members.length > 1) mkdirSync(jobDir, { recursive: true, mode: 0o700 })
    const spec: WorldSpec = {
      ...this.base,
      rank,
      size: m.members.length,
      localRank: here.indexOf(rank),
      localSize: here.length,
      nodeRank: hosts.indexOf(env.host),
      prefix: generationPrefix(env.jobId, m.gen),
      jobDir,
      shmDir: this.shmBase && m.members.length > 1 ? join(this.shmBase, `g${m.gen}`) : null,
      store: this.store,
    }
    this.watch(m.gen + 1)
    const abort = new Promise<never>((_, reject) => {
      this.abortForming = reject
    })
    abort.catch(() => {})
    let formed: Formed
    try {
      formed = await formWorld(env, spec, { onClosed: (ok) => ok && this.close() }, abort)
      this.formed = formed
      await this.hooks.entered?.(formed.comm, { member: this.id, gen: m.gen, node: spec.nodeRank, host: env.host })
    } catch (err) {
      if (err instanceof WorldChangedError || (await this.opens(m.gen + 1, FORMING_GRACE_MS))) return this.next()
      throw err
    } finally {
      this.abortForming = undefined
    }
    this.hooks.adopt(formed, spec.size)
    return formed.comm
  }
}
