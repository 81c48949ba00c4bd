/**
 * A change of world as an elastic member saw it, for the timeline: named by the world sizes, begun when the
 * member learned of it (or began to join), with the generation, the step it resumed at, the ranks lost and how
 * many joined. init() hands the session a hook that records it as a span.
 */
import type { Members } from './keys.ts'

/** A change of world, ended once the state is in place on the new world. */
export interface WorldChange {
  /** "world 4 → 3", or "joined a world of 4" on a member that joined. */
  name: string
  /** When it began on this member (performance.now() ms). */
  sinceMs: number
  args: { generation: number; step: number; lost: string[]; joined: number }
}

/**
 * The change into `now` from `before` (undefined on a joining member), begun at `sinceMs`, resumed at `step`.
 *
 * @example
 * ```ts
 * hooks.changed?.(worldChange(previous, current, changeAt, state.step))
 * ```
 */
export function worldChange(before: Members | undefined, now: Members, sinceMs: number, step: number): WorldChange {
  const old = new Set(before?.members.map((x) => x.id))
  const joined = before ? now.members.filter((x) => !old.has(x.id)).length : 0
  const name = before ? `world ${before.members.length} → ${now.members.length}` : `joined a world of ${now.members.length}`
  const lost = now.lost.map((l) => `rank ${l.rank}${l.host ? ` (host ${l.host})` : ''}`)
  return { name, sinceMs, args: { generation: now.gen, step, lost, joined } }
}
