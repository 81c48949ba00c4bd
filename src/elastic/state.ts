/**
 * The state an elastic job keeps through a change of world (Horovod's `hvd.elastic.State`): typed arrays
 * (parameters, optimizer slots, counters) and JSON values (step, epoch, data position, RNG seed). `commit`
 * saves a copy after a step has completed everywhere (after its allreduce); `restore` goes back to it when a
 * step did not; `sync` makes every member of a new world hold the newest commit, sent by the members that have
 * it, so a joining rank gets the state from its peers, never from disk.
 */
import type { Communicator } from '../comm/communicator.ts'
import { UsageError } from '../errors.ts'
import { setting } from '../settings.ts'
import type { TypedArray } from '../dtype.ts'
import { elasticSession } from './session.ts'
import { syncPlan, transferArrays } from './transfer.ts'

/**
 * Writes every page of `a` (each with the byte it holds): a rank that joins does this before it waits to join,
 * so the state it then receives from its peers does not also pay for the first touch of fresh memory (a page
 * fault per page: two thirds of the time of a 256 MiB transfer within a host, bench/elastic-state.ts).
 */
function touchPages(a: TypedArray): void {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
  for (let i = 0; i < bytes.length; i += 4096) bytes[i] = bytes[i]!
}

/** Options of {@link ElasticState}. */
export interface ElasticStateOptions<V> {
  /** Arrays kept through changes, by name; every rank must give the same names, types and lengths. */
  arrays?: Record<string, TypedArray>
  /** JSON values kept through changes (default {}). */
  values?: V
}

/**
 * The member that holds the newest commit: the lowest rank among those with the most commits (the same on every
 * rank). Collective.
 *
 * @example
 * ```ts
 * const root = await newestMember(world, myCommits)
 * await world.broadcast(params, root)
 * ```
 */
export async function newestMember(world: Communicator, commits: number): Promise<number> {
  const most = (await world.allreduce(Float64Array.of(commits), 'max'))[0]!
  return (await world.allreduce(Int32Array.of(commits === most ? world.rank : world.size), 'min'))[0]!
}

/**
 * State that survives a change of world in an elastic job.
 *
 * @example
 * ```ts
 * const state = new ElasticState({ arrays: { params }, values: { step: 0 } })
 * await runElastic(state, async (world) => {
 *   for (; state.values.step < 1000; state.values.step++) {
 *     await world.allreduce(grads(state.arrays.params), 'avg')
 *     state.commit()
 *   }
 * })
 * ```
 */
export class ElasticState<V extends object = Record<string, unknown>> {
  /** The live arrays (change them in place). */
  readonly arrays: Record<string, TypedArray>
  /** The live values. */
  values: V
  /** Commits so far (carried over from the member the state was synchronised from). */
  commits = 0
  private readonly names: string[]
  private saved: { arrays: TypedArray[]; values: string; commits: number }
  private readonly resets: ((world: Communicator) => void | Promise<void>)[] = []

  constructor(options: ElasticStateOptions<V> = {}) {
    this.arrays = options.arrays ?? {}
    for (const [name, a] of Object.entries(this.arrays)) {
      if (!ArrayBuffer.isView(a) || a instanceof DataView) throw new UsageError(`ElasticState: arrays.${name} must be a typed array, got ${typeof a}`)
    }
    this.names = Object.keys(this.arrays).sort()
    this.values = (options.values ?? {}) as V
    this.saved = this.snapshot()
    if (setting('TSRUN_ELASTIC_JOIN')) for (const a of Object.values(this.arrays)) touchPages(a)
  }

  /**
   * Saves the state as it is now: the step it ends completed on every member. At a step boundary where ranks
   * are waiting to join, throws WorldChangedError after saving (runElastic then forms the larger world).
   */
  commit(): void {
    this.commits++
    this.saved = this.snapshot()
    const session = elasticSession()
    session?.injectFault(this.commits)
    session?.atBoundary()
  }

  /** Goes back to the last commit. */
  restore(): void {
    const { arrays, values, commits } = this.saved
    for (let i = 0; i < this.names.length; i++) (this.arrays[this.names[i]!] as Uint8Array).set(arrays[i] as Uint8Array)
    this.values = JSON.parse(values) as V
    this.commits = commits
  }

  /**
   * Collective: every member that lacks the newest commit takes it from the members that hold it (several at
   * once; elastic/transfer.ts). Members that hold it keep their own copy: in synchronous training every member
   * that completed a commit holds the same state. Before any commit, every member takes rank 0's.
   */
  async sync(world: Communicator): Promise<void> {
    const plan = await syncPlan(world, this.commits)
    if (plan.needers.length > 0) {
      await transferArrays(
        world,
        plan,
        this.names.map((n) => this.arrays[n]!),
      )
      const { values, commits } = await world.broadcastObject({ values: this.values, commits: this.commits }, plan.holders[0]!)
      this.values = values
      this.commits = commits
    }
    // A holder's live state is its last commit (runElastic restores before it syncs), except at the start: the
    // arrays may have been filled in since the constructor saved them.
    if (plan.commits === 0 || plan.needers.includes(world.rank)) this.saved = this.snapshot()
  }

  /** Calls `fn` on every member after each change of world, once the state is synchronised (e.g. to rescale). */
  onReset(fn: (world: Communicator) => void | Promise<void>): void {
    this.resets.push(fn)
  }

  /** @internal runElastic: the callbacks of a change. */
  async reset(world: Communicator): Promise<void> {
    for (const fn of this.resets) await fn(world)
  }

  /** The step to report: `values.step` if it is a number, else the commit count. */
  get step(): number {
    const s = (this.values as { step?: unknown }).step
    return typeof s === 'number' ? s : this.commits
  }

  /** A copy of the state, into the last copy's arrays (a large state is not allocated again at every commit). */
  private snapshot() {
    const last = this.saved?.arrays
    const arrays = this.names.map((n, i) => {
      const live = this.arrays[n]!
      const kept = last?.[i]
      if (kept && kept.constructor === live.constructor && kept.length === live.length) {
        ;(kept as Uint8Array).set(live as Uint8Array)
        return kept
      }
      return live.slice()
    })
    return { arrays, values: JSON.stringify(this.values), commits: this.commits }
  }
}
