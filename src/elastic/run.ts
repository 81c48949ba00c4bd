/**
 * `runElastic`: the training loop of an elastic job (Horovod's `hvd.elastic.run`). Runs `fn` on the current world;
 * when the world changes (WorldChangedError: a rank lost, ranks joining) it restores the last commit, forms the
 * next world with the survivors (no process restarted), synchronises the state from a member that has the newest
 * commit, and runs `fn` again on the new world. Outside an elastic job it is `fn` once, after a sync.
 */
import type { Communicator } from '../comm/communicator.ts'
import { WorldChangedError } from '../errors.ts'
import { init } from '../init.ts'
import { elasticSession } from './session.ts'

/** What runElastic needs of a state: {@link ElasticState} has it, tsrun/dl's training state too. */
export interface Resumable {
  /** Collective: every member takes the newest commit's state. */
  sync(world: Communicator): Promise<void>
  /** Back to the last commit. */
  restore(): void
  /** Callbacks after a change. */
  reset?(world: Communicator): Promise<void>
  /** The step to report after a change. */
  readonly step: number
}

/** Options of {@link runElastic}. */
export interface RunElasticOptions {
  /**
   * Finalize the world once `fn` has returned everywhere (default true). false: return with the world still up
   * (a later change then fails its calls for good; call `finalize()` yourself).
   */
  finalize?: boolean
}

/**
 * Runs `fn(world)` until it returns on a world that then finalizes cleanly; every member of every generation
 * calls it. Errors other than WorldChangedError pass through.
 *
 * @example
 * ```ts
 * import { ElasticState, runElastic } from 'tsrun'
 * const state = new ElasticState({ arrays: { w }, values: { step: 0 } })
 * await runElastic(state, async (world) => {
 *   while (state.values.step < 100) { await world.allreduce(w, 'avg'); state.values.step++; state.commit() }
 * })
 * ```
 */
export async function runElastic<R>(state: Resumable, fn: (world: Communicator) => Promise<R>, options: RunElasticOptions = {}): Promise<R> {
  let world = await init()
  let changed = false
  for (;;) {
    try {
      await state.sync(world)
      if (changed) await state.reset?.(world)
      elasticSession()?.resumed(state.step)
      const result = await fn(world)
      // Every member got through fn on this world (a revoked world fails the barrier: fn runs again on the next).
      await world.barrier()
      if (options.finalize === false) return result
      await world.finalize().catch((e: unknown) => {
        if (!(e instanceof WorldChangedError)) throw e // a loss after the barrier: the work was done everywhere
      })
      elasticSession()?.close()
      return result
    } catch (err) {
      const session = elasticSession()
      if (!(err instanceof WorldChangedError) || !session) throw err
      state.restore()
      world = await session.next()
      changed = true
    }
  }
}
