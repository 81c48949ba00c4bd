/**
 * The store keys of an elastic job, between its ranks and the launcher's coordinator (launcher/elastic.ts), all
 * under `<job id>/elastic/`. Generation 0 is the world the job started with; each later one is opened by the
 * coordinator, asked for by the ranks that want to be in it, and published with its members in order:
 * - `open/<g>`: generation g is being formed (an {@link OpenNotice}); every rank of g-1 leaves g-1;
 * - `req/<g>/<id>`: the rank with member id `id` asks to be in g (a {@link MemberRequest});
 * - `join/<id>`: a new rank asks to join; `assigned/<id>`: the generation it was given;
 * - `members/<g>`: the members of g, densely renumbered in the order of their old ranks, joiners last;
 * - `resumed/<g>`: g's rank 0 has synchronised the state (a {@link Resumed}).
 */

/** The store prefix of a job's elastic keys. */
export const elasticPrefix = (jobId: string) => `${jobId}/elastic/`
/** The store prefix of generation g's rendezvous. */
export const generationPrefix = (jobId: string, g: number) => `${jobId}/g${g}/world/`

export const openKey = (g: number) => `open/${g}`
export const requestKey = (g: number, id: string) => `req/${g}/${id}`
export const joinKey = (id: string) => `join/${id}`
export const assignedKey = (id: string) => `assigned/${id}`
export const membersKey = (g: number) => `members/${g}`
export const resumedKey = (g: number) => `resumed/${g}`

/** Why a generation is opened. */
export interface OpenNotice {
  reason: 'lost' | 'join'
  /** Members of the previous generation known lost, by their rank there. */
  lost: { rank: number; host?: string }[]
}

/** What a rank sends when it asks to be in a generation. */
export interface MemberRequest {
  id: string
  host: string
  /** Ranks of the generation it leaves that stopped answering it (host down, network cut): not worth waiting for. */
  silent?: number[]
}

/** A generation's members: index = new rank. */
export interface Members {
  gen: number
  members: { id: string; host: string }[]
  lost: { rank: number; host?: string }[]
}

/** What a generation's rank 0 reports once the state is synchronised. */
export interface Resumed {
  step: number
}

/** Parses --elastic's `MIN:MAX` (`MIN` alone or `MIN:`: MAX is -np; `:MAX`: MIN is 1) against -np; a string says what is wrong. */
export function parseElasticRange(text: string, np: number): { min: number; max: number } | string {
  const m = /^(\d+)?:(\d+)?$/.exec(text.trim()) ?? /^(\d+)$/.exec(text.trim())
  if (!m) return `--elastic takes MIN:MAX (e.g. 2:4), got "${text}"`
  const min = m[1] === undefined ? 1 : Number(m[1])
  const max = m[2] === undefined ? np : Number(m[2])
  if (min < 1) return `--elastic: MIN must be at least 1, got ${min}`
  if (max < min) return `--elastic: MAX (${max}) is below MIN (${min})`
  if (np < min || np > max) return `--elastic ${min}:${max} needs -np between ${min} and ${max}, got -np ${np}`
  return { min, max }
}
