/**
 * Moving an elastic job's state after a change of world: who holds the newest commit (the holders), who lacks
 * it (the members that join, and survivors whose last step failed), and the transfer from the ones to the others.
 * - nobody lacks it (a world that only shrank): nothing moves; members that completed the same commits hold the
 *   same state, as synchronous training makes every replica apply the same allreduced update;
 * - no commit yet anywhere (a job's start): every member takes rank 0's state, by broadcast (Horovod's initial
 *   broadcast), so ranks that built different initial weights start equal;
 * - at least as many holders as members lacking it (one or a few join): only those members receive, from a
 *   holder on their own host if there is one (shared memory is faster than any network), else from one holder on
 *   every host that has one, at once: the arrays, end to end, are cut into a part per sender, so a joiner's link
 *   is filled by several peers' (several holders of one host would only share that host's link and cores);
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
  /** Each rank's host (its index among the job's hosts). */
  nodes: number[]
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
  const all = await world.allgather(Float64Array.of(commits, world.nodeRank))
  const ranks = Array.from({ length: world.size }, (_, r) => r)
  const counts = ranks.map((r) => all[2 * r]!)
  const nodes = ranks.map((r) => all[2 * r + 1]!)
  const most = Math.max(0, ...counts)
  if (most === 0) return { commits: 0, holders: [0], needers: ranks.slice(1), nodes }
  return { commits: most, holders: ranks.filter((r) => counts[r] === most), needers: ranks.filter((r) => counts[r]! < most), nodes }
}

/**
 * The holders that send to `needer`: one on its host if there is one, else the first holder of every host.
 *
 * @example
 * ```ts
 * sendersFor({ commits: 5, holders: [0, 1, 2], needers: [3], nodes: [0, 0, 1, 2] }, 3)   // [0, 2]
 * ```
 */
export function sendersFor(plan: SyncPlan, needer: number): number[] {
  const { holders, nodes } = plan
  const local = holders.find((h) => nodes[h] === nodes[needer])
  if (local !== undefined) return [local]
  const firstOfHost = new Map<number, number>()
  for (const h of holders) if (!firstOfHost.has(nodes[h]!)) firstOfHost.set(nodes[h]!, h)
  return [...firstOfHost.values()]
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
    // Per member lacking the state: its senders, a part each. A part's pieces are tagged by their place in it.
    const moving: Promise<unknown>[] = []
    for (const dest of needers) {
      const senders = sendersFor(plan, dest)
      const parts = cutIntoParts(arrays, senders.length)
      const me = senders.indexOf(world.rank)
      if (me >= 0) for (const [tag, [i, s, e]] of parts[me]!.entries()) moving.push(comm.send(arrays[i]!.subarray(s, e), dest, { tag }))
      if (dest !== world.rank) continue
      for (const [j, src] of senders.entries())
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
