/**
 * Moving an elastic job's state after a change of world: who holds the newest commit (the holders), who lacks
 * it (the members that join, and survivors whose last step failed), and the transfer from the ones to the others.
 * - nobody lacks it (a world that only shrank): nothing moves; members that completed the same commits hold the
 *   same state, as synchronous training makes every replica apply the same allreduced update;
 * - no commit yet anywhere (a job's start): every member takes rank 0's state, by broadcast (Horovod's initial
 *   broadcast), so ranks that built different initial weights start equal;
 * - at least as many holders as members lacking it (one or a few join): the arrays, end to end, are cut into one
 *   part per holder, and every holder sends its part to each of those members at once, so a joiner takes the
 *   state from several peers together and the holders' links carry nothing they already have;
 * - more lacking than holding (most of the world is new): a broadcast from the lowest holder (a tree moves it
 *   in fewer rounds than the holders alone could).
 */
import type { Communicator } from '../comm/communicator.ts'
import type { TypedArray } from '../dtype.ts'

/** Who holds the newest commit after a change, and who lacks it; the same on every member. */
export interface SyncPlan {
  /** The most commits any member has. */
  commits: number
  /** Ranks holding that many commits, ascending; `holders[0]` sends what is small (values, metadata). */
  holders: number[]
  /** Ranks with fewer commits (or every rank but 0, when nothing has been committed yet). */
  needers: number[]
}

/**
 * Collective: every member's commit count, and from it who holds the newest state and who lacks it.
 *
 * @example
 * ```ts
 * const plan = await syncPlan(world, state.commits)
 * if (plan.needers.length) await transferArrays(world, plan, [params])
 * ```
 */
export async function syncPlan(world: Communicator, commits: number): Promise<SyncPlan> {
  const all = await world.allgather(Float64Array.of(commits))
  let most = 0
  for (const c of all) most = Math.max(most, c)
  const ranks = Array.from({ length: world.size }, (_, r) => r)
  if (most === 0) return { commits: 0, holders: [0], needers: ranks.slice(1) }
  return { commits: most, holders: ranks.filter((r) => all[r] === most), needers: ranks.filter((r) => all[r]! < most) }
}

/**
 * Collective: makes `arrays` (the same lengths and types on every member) on every member that lacks the
 * newest commit equal to the holders' (see the file's comment for how). The holders' arrays are not changed.
 *
 * @example
 * ```ts
 * await transferArrays(world, await syncPlan(world, commits), [weights, moments])
 * ```
 */
export async function transferArrays(world: Communicator, plan: SyncPlan, arrays: readonly TypedArray[]): Promise<void> {
  const { holders, needers } = plan
  if (needers.length === 0) return
  if (needers.length > holders.length) {
    for (const a of arrays) await world.broadcast(a, holders[0]!)
    return
  }
  // Its own communicator: the parts' tags cannot meet the script's messages on the world.
  const comm = world.dup()
  try {
    const parts = cutIntoParts(arrays, holders.length)
    const me = holders.indexOf(world.rank)
    // A part's pieces are tagged by their place in it: the same on both sides.
    const moving: Promise<unknown>[] = []
    if (me >= 0) {
      for (const dest of needers) for (const [tag, [i, s, e]] of parts[me]!.entries()) moving.push(comm.send(arrays[i]!.subarray(s, e), dest, { tag }))
    } else if (needers.includes(world.rank)) {
      for (const [j, src] of holders.entries())
        for (const [tag, [i, s, e]] of parts[j]!.entries()) moving.push(comm.recv(src, { tag, into: arrays[i]!.subarray(s, e) }))
    }
    await Promise.all(moving)
  } finally {
    comm.free()
  }
}

/**
 * The arrays end to end, cut at element boundaries into `n` parts of about equal bytes: for each part, its
 * pieces as [array index, first element, end element], none empty.
 *
 * @example
 * ```ts
 * cutIntoParts([new Float32Array(4), new Float64Array(2)], 2)   // [[[0, 0, 4]], [[1, 0, 2]]]
 * ```
 */
export function cutIntoParts(arrays: readonly TypedArray[], n: number): [number, number, number][][] {
  let total = 0
  for (const a of arrays) total += a.byteLength
  const cut = (j: number) => Math.round((total * j) / n)
  const parts: [number, number, number][][] = Array.from({ length: n }, () => [])
  let base = 0
  arrays.forEach((a, i) => {
    const at = (x: number) => Math.min(a.length, Math.max(0, Math.ceil((x - base) / a.BYTES_PER_ELEMENT)))
    for (let j = 0; j < n; j++) {
      const s = at(cut(j))
      const e = at(cut(j + 1))
      if (e > s) parts[j]!.push([i, s, e])
    }
    base += a.byteLength
  })
  return parts
}
