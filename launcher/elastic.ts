/**
 * The coordinator of an elastic job (`--elastic MIN:MAX`), in the launcher beside the store it serves. It decides
 * each generation's members (src/elastic/keys.ts has the protocol; src/elastic/session.ts the ranks' side):
 * - a member lost (its process killed by a signal, or its host's ssh gone), or a member asking for the next
 *   generation (it lost a peer the launcher has not seen go yet), opens the next generation for the loss;
 * - a rank started into the job (the lost member's slot, restarted) opens it for a join: the members leave at
 *   their next commit;
 * - the generation is published once every living member has asked to be in it, or after the settle time
 *   (TSRUN_ELASTIC_SETTLE) without the silent ones, who are stopped; below MIN it waits up to
 *   TSRUN_ELASTIC_TIMEOUT for ranks to join, then fails the job (and --max-restarts restarts it);
 * - a slot that fails 3 times within a minute (TSRUN_ELASTIC_FLAP_FAILURES) is left out for a minute.
 * A rank that exits non-zero on its own (an error in the script) fails the job as without --elastic.
 */
import type { StoreServer } from '../src/bootstrap/zmq/store-server.ts'
import { assignedKey, elasticPrefix, membersKey, openKey, type MemberRequest, type Members, type OpenNotice } from '../src/elastic/keys.ts'
import { freeSlots, pollHosts } from './discovery.ts'
import type { ElasticControl, ElasticOptions, Forming, Member } from './elastic-types.ts'
import type { Host } from './hostfile.ts'
import type { Slot } from './placement.ts'
import type { RankProcess } from './spawn-local.ts'

/** A slot that failed `opts.flapFailures` times (TSRUN_ELASTIC_FLAP_FAILURES) within FLAP_WINDOW_MS is left out for FLAP_WINDOW_MS. */
const FLAP_WINDOW_MS = 60_000
/** A generation opened for joining ranks waits at least this long for the members' next commit. */
const JOIN_SETTLE_MS = 10_000

export class ElasticCoordinator {
  private gen = 0
  /** The current generation's members, in rank order. */
  private members: Member[] = []
  private readonly all = new Map<string, Member>()
  private readonly joiners = new Map<string, Member>()
  private forming: Forming | undefined
  /** The last change, for the line printed when it has resumed. */
  private change: { from: number; to: number; why: string; since: number } | undefined
  private ended = false
  private readonly failures = new Map<number, number[]>()
  private readonly starts = new Map<number, number>()
  private readonly timers = new Set<NodeJS.Timeout>()
  /** The discovery script's last list, if there is one. */
  private hosts: Host[] | undefined
  private nextSlot = 0
  private stopDiscovery: (() => void) | undefined
  private readonly prefix: string
  private readonly store: StoreServer
  private readonly opts: ElasticOptions
  private readonly control: ElasticControl

  constructor(store: StoreServer, jobId: string, opts: ElasticOptions, control: ElasticControl) {
    this.store = store
    this.opts = opts
    this.control = control
    this.prefix = elasticPrefix(jobId)
    store.watch((key, value) => this.onKey(key, value))
  }

  /** Member id of a slot's n-th start. */
  idOf(slot: Slot): string {
    const n = this.starts.get(slot.rank) ?? 0
    this.starts.set(slot.rank, n + 1)
    return `s${slot.rank}.${n}`
  }

  /** Generation 0: the ranks the job starts with. */
  start(ranks: { proc: RankProcess; id: string }[]): void {
    this.members = ranks.map(({ proc, id }) => ({ id, host: proc.slot.host, slot: proc.slot, proc, alive: true }))
    for (const m of this.members) this.all.set(m.id, m)
    this.put(membersKey(0), this.membersOf(0, this.members, []))
    this.nextSlot = Math.max(...this.members.map((m) => m.slot.rank)) + 1
    if (this.control.discover) this.stopDiscovery = pollHosts(this.control.discover, (h) => this.discovered(h), this.control.log)
  }

  /** The discovery script's (or the hostfile's) list: new slots get joining ranks, the ranks of hosts no longer listed are stopped. */
  private discovered(hosts: Host[]): void {
    if (this.ended) return
    this.hosts = hosts
    const names = new Set(hosts.map((h) => h.name))
    const living = [...this.all.values()].filter((m) => m.alive)
    for (const m of living.filter((x) => !names.has(x.host))) {
      this.control.log(`host ${m.host} is no longer listed by ${this.control.discoverySource ?? 'the discovery script'}; its rank is stopped`)
      m.proc?.kill('SIGKILL')
    }
    const resting = new Set([...this.all.values()].filter((m) => this.flapping(m.slot.rank)).map((m) => m.host))
    for (const host of freeSlots(
      hosts,
      living.filter((m) => names.has(m.host)).map((m) => m.host),
      this.opts.max,
      resting,
    ))
      this.startJoiner({ rank: this.nextSlot++, host, nodeRank: hosts.findIndex((h) => h.name === host), localRank: 0, localSize: 1 })
  }

  /**
   * A rank's process ended. True if the job goes on without it (a member lost: killed by a signal, or its host
   * gone); 'quietly' for one that had not joined when the job ended (stopped by us); false if this is a failure of
   * the job (an error of the script's, or the job is ending).
   */
  absorb(proc: RankProcess, how: { signal: NodeJS.Signals | null; sshLost?: boolean }): boolean | 'quietly' {
    const m = [...this.all.values()].find((x) => x.proc === proc)
    if (!m) return false
    // After the job's end a rank that had not joined yet (still starting, or its host unreachable) does not matter.
    if (this.ended) return this.members.includes(m) ? false : 'quietly'
    const wasAlive = m.alive
    m.alive = false
    this.joiners.delete(m.id)
    if (!wasAlive) return true // stopped by us (left out of a generation)
    if (!how.signal && !how.sshLost) return false
    this.respawnLater(m.slot)
    const rank = this.members.indexOf(m)
    if (rank < 0) return true // a joiner that had not joined yet
    const lost = { rank, host: m.host }
    if (this.forming) {
      this.forming.expected.delete(m.id)
      if (this.forming.gen === this.gen + 1) this.forming.lost.push(lost)
      this.check()
    } else this.open('lost', [lost])
    return true
  }

  /** A rank exited 0: the job is ending (it got through its last step and finalize everywhere). */
  exited(proc: RankProcess): void {
    this.ended = true
    for (const m of this.all.values()) if (m.proc === proc) m.alive = false
    // Ranks still waiting to join have nothing to join: generation -1 tells them to stop.
    for (const j of this.joiners.values()) this.put(assignedKey(j.id), '-1')
    this.joiners.clear()
    // Ranks started to join that have not asked yet (or cannot reach the store): nothing to join, stop them.
    for (const m of this.all.values()) {
      if (!m.alive || this.members.includes(m)) continue
      m.alive = false
      m.proc?.kill('SIGKILL')
    }
    this.close()
  }

  close(): void {
    this.stopDiscovery?.()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    if (this.forming) {
      clearTimeout(this.forming.settle)
      clearTimeout(this.forming.belowMin)
    }
  }

  private onKey(full: string, value: Buffer): void {
    if (!full.startsWith(this.prefix) || this.ended) return
    const key = full.slice(this.prefix.length)
    const [kind, a, b] = key.split('/')
    if (kind === 'req' && b !== undefined) {
      const g = Number(a)
      if (!this.forming && g === this.gen + 1) this.open('lost', [])
      if (this.forming?.gen === g) {
        this.forming.asked.add(b)
        // Members this one found silent (host down, link cut) will not ask: do not wait the settle time for them.
        const req = JSON.parse(value.toString()) as MemberRequest
        for (const r of req.silent ?? []) {
          const m = this.members[r]
          if (m && m.id !== b) {
            this.forming.expected.delete(m.id)
            this.forming.silent.add(m.id)
          }
        }
        this.check()
      }
    } else if (kind === 'join' && a !== undefined) {
      const req = JSON.parse(value.toString()) as MemberRequest
      const m = this.all.get(a)
      if (!m) return
      m.host = req.host
      this.joiners.set(a, m)
      if (!this.forming && this.members.length < this.opts.max) this.open('join', [])
      else this.check()
    } else if (kind === 'resumed' && Number(a) === this.gen && this.change) {
      const { step } = JSON.parse(value.toString()) as { step: number }
      const c = this.change
      this.change = undefined
      this.control.log(`world ${c.from} → ${c.to} ${c.why}; resumed at step ${step} in ${((Date.now() - c.since) / 1000).toFixed(2)} s`)
    }
  }

  /** Opens the next generation; the members leave the current one (at once for a loss, at a commit for a join). */
  private open(reason: 'lost' | 'join', lost: { rank: number; host?: string }[]): void {
    const gen = this.gen + 1
    const settleMs = reason === 'lost' ? this.opts.settleMs : Math.max(this.opts.settleMs, JOIN_SETTLE_MS)
    const expected = new Set(this.members.filter((m) => m.alive).map((m) => m.id))
    const settle = setTimeout(() => this.publish(true), settleMs)
    this.forming = { gen, reason, lost, expected, asked: new Set(), silent: new Set(), since: this.change?.since ?? Date.now(), settle }
    const notice: OpenNotice = { reason, lost }
    this.put(openKey(gen), JSON.stringify(notice))
  }

  private check(): void {
    const f = this.forming
    if (!f) return
    if ([...f.expected].every((id) => f.asked.has(id))) this.publish(false)
  }

  /** Publishes the forming generation: the members that asked (in their old order), then joining ranks. */
  private publish(settled: boolean): void {
    const f = this.forming
    if (!f) return
    const stay = this.members.filter((m) => m.alive && f.asked.has(m.id))
    const room = Math.max(0, this.opts.max - stay.length)
    const join = [...this.joiners.values()].filter((j) => j.alive).slice(0, room)
    const next = [...stay, ...join]
    if (next.length < this.opts.min) {
      if (!f.belowMin) {
        this.control.log(
          `the elastic job has ${next.length} ranks, below its minimum of ${this.opts.min}; waiting up to ${this.opts.timeoutMs / 1000} s for ranks to join`,
        )
        f.belowMin = setTimeout(() => {
          this.close()
          this.control.fail(`the elastic job stayed below its minimum of ${this.opts.min} ranks for ${this.opts.timeoutMs / 1000} s (TSRUN_ELASTIC_TIMEOUT)`, 1)
        }, this.opts.timeoutMs)
      }
      return
    }
    if (!settled && [...f.expected].some((id) => !f.asked.has(id))) return
    clearTimeout(f.settle)
    clearTimeout(f.belowMin)
    // Members that did not ask in time cannot take part any more: stop them, as a failed rank's peers are.
    for (const m of this.members) {
      if (!m.alive || f.asked.has(m.id)) continue
      this.control.log(
        `rank ${this.members.indexOf(m)} (host ${m.host}) did not ask for generation ${f.gen} within ${this.opts.settleMs / 1000} s (TSRUN_ELASTIC_SETTLE); it is stopped and left out`,
      )
      m.alive = false
      m.proc?.kill('SIGKILL')
      this.respawnLater(m.slot)
    }
    const lost = this.members.flatMap((m, rank) => (stay.includes(m) ? [] : [{ rank, host: m.host }]))
    const from = this.members.length
    this.members = next
    this.gen = f.gen
    this.forming = undefined
    for (const j of join) this.joiners.delete(j.id)
    const lostText = lost.map((l) => `rank ${l.rank} (host ${l.host})`).join(', ')
    const why = [lost.length ? `after ${lostText} ${lost.length === 1 ? 'was' : 'were'} lost` : '', join.length ? `with ${join.length} joining` : '']
      .filter(Boolean)
      .join(', ')
    this.change = { from, to: next.length, why, since: f.since }
    this.put(membersKey(f.gen), this.membersOf(f.gen, next, lost))
    for (const j of join) this.put(assignedKey(j.id), String(f.gen))
    // Ranks that asked to join while this one formed (or beyond MAX, once there is room) join the next.
    if (this.joiners.size > 0 && this.members.length < this.opts.max) this.open('join', [])
  }

  /** Restarts a lost member's slot as a joining rank, unless it keeps failing or the job is at MAX. */
  private respawnLater(slot: Slot): void {
    if (!this.opts.respawn || this.ended) return
    const now = Date.now()
    const recent = (this.failures.get(slot.rank) ?? []).filter((t) => now - t < FLAP_WINDOW_MS)
    recent.push(now)
    this.failures.set(slot.rank, recent)
    const delay = recent.length >= this.opts.flapFailures ? FLAP_WINDOW_MS : 0
    if (delay)
      this.control.log(`slot ${slot.rank} (host ${slot.host}) failed ${recent.length} times within a minute; it is left out for ${FLAP_WINDOW_MS / 1000} s`)
    const t = setTimeout(() => {
      this.timers.delete(t)
      const living = [...this.all.values()].filter((m) => m.alive).length
      if (this.ended || living >= this.opts.max || (this.hosts && !this.hosts.some((h) => h.name === slot.host))) return
      this.startJoiner(slot)
    }, delay)
    this.timers.add(t)
  }

  private flapping(slot: number): boolean {
    const now = Date.now()
    return (this.failures.get(slot) ?? []).filter((t) => now - t < FLAP_WINDOW_MS).length >= this.opts.flapFailures
  }

  private startJoiner(slot: Slot): void {
    const id = this.idOf(slot)
    const proc = this.control.spawn(slot, id)
    this.all.set(id, { id, host: slot.host, slot, proc, alive: true })
    this.control.add(proc)
  }

  private membersOf(gen: number, ms: Member[], lost: { rank: number; host?: string }[]): string {
    const body: Members = { gen, members: ms.map((m) => ({ id: m.id, host: m.host })), lost }
    return JSON.stringify(body)
  }

  private put(key: string, value: string): void {
    this.store.put(this.prefix + key, value)
  }
}
