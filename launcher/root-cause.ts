/**
 * Which failure came first, decided from the ranks' failure records (src/failure/format.ts), never from what they
 * printed. When a rank's host goes down or a rank dies, the ranks that lose it fail, and some exit before anything
 * is known of the lost one (a script that catches PeerLostError and exits, a host whose ssh connection has not
 * dropped yet); naming the first rank to exit would blame a survivor (torchrun's fault). Every rank that lost
 * another recorded it at that moment, so:
 * - the root is the rank the others lost: the one most ranks lost, the earliest such record first; a rank that
 *   lost another and then went away with its connection closing, or that the launcher saw end, ended because of
 *   that loss, and is not the root;
 * - a remote rank whose ssh connection dropped, and which itself found the others silent, is on the far side of
 *   a cut (its host's records may still reach a shared disk): the others' records of it decide, as for any rank
 *   whose ssh connection dropped;
 * - the line names the root first (its pid and host from the records, or how the launcher saw it end), then the
 *   ranks that lost it;
 * - with no record of a loss, it is the first rank that failed, as its exit code or signal says.
 * Pure functions: the supervisor does the waiting (supervisor.ts).
 */
import { isLoss, type FailureRecord, type ProcessRef } from '../src/failure/format.ts'
import { afterError, endLine, lostBy, lostRankLine, SSH_DROPPED_TOO, type LostRank } from '../src/failure/messages.ts'

/** A rank that failed, as the supervisor saw it end. */
export interface RankEnd extends ProcessRef {
  /** "exited with code 3", "was killed by SIGKILL", or the spawner's better account. */
  how: string
  /** The launcher's exit code for it (128 + signal for a signal). */
  code: number
  /** A remote rank whose ssh connection dropped (exit 255): perhaps a host that went down. */
  sshLost?: boolean
}

/** One rank losing another, from its first record of it. */
export interface Loss {
  by: number
  lost: ProcessRef
  silent: boolean
  /** When `by` detected it (epoch ms on its clock). */
  at: number
  /** HH:MM:SS the lost rank was last heard from, for a silent one. */
  lastHeard?: string
}

/** Each (rank, lost rank) pair once, from the earliest record of it. */
export function lossesOf(records: FailureRecord[]): Loss[] {
  const seen = new Map<string, Loss>()
  for (const r of [...records].sort((a, b) => a.at.ms - b.at.ms)) {
    if (!isLoss(r) || r.lost.rank === r.rank) continue
    const key = `${r.rank}/${r.lost.rank}`
    if (!seen.has(key)) seen.set(key, { by: r.rank, lost: r.lost, silent: r.kind === 'peer-silent', at: r.at.ms, lastHeard: r.lastHeard?.time })
  }
  return [...seen.values()]
}

/**
 * The rank that was lost first, in the sense above; undefined if no rank lost another. `ended`: ranks the launcher
 * saw end by themselves (an exit or a signal, not a dropped ssh connection).
 */
export function rootOf(losses: Loss[], ended: ReadonlySet<number> = new Set()): number | undefined {
  const naming = new Map<number, Loss[]>()
  for (const l of losses) {
    const list = naming.get(l.lost.rank) ?? []
    list.push(l)
    naming.set(l.lost.rank, list)
  }
  if (naming.size === 0) return undefined
  const lostSomeone = new Set(losses.map((l) => l.by))
  // It lost another, then the others saw its connection close, or the launcher saw it end: it ended because of its loss.
  const follower = (r: number) => lostSomeone.has(r) && (ended.has(r) || naming.get(r)!.every((l) => !l.silent))
  const all = [...naming.keys()]
  const pool = all.some((r) => !follower(r)) ? all.filter((r) => !follower(r)) : all
  const votes = (r: number) => new Set(naming.get(r)!.map((l) => l.by)).size
  const earliest = (r: number) => Math.min(...naming.get(r)!.map((l) => l.at))
  return pool.sort((a, b) => votes(b) - votes(a) || earliest(a) - earliest(b) || a - b)[0]
}

/** What the records say of lost rank `rank`: who lost it and how; undefined if nobody did. */
export function lostRank(losses: Loss[], rank: number): LostRank | undefined {
  const naming = losses.filter((l) => l.lost.rank === rank).sort((a, b) => a.at - b.at)
  if (naming.length === 0) return undefined
  const silent = naming.filter((l) => l.silent)
  return { lost: naming[0]!.lost, silent: silent.length > 0, lastHeard: silent.find((l) => l.lastHeard)?.lastHeard, by: naming.map((l) => l.by) }
}

/** Ranks the launcher saw end by themselves (not by a dropped ssh connection). */
function endedOf(failed: ReadonlyMap<number, RankEnd>): Set<number> {
  return new Set([...failed.values()].filter((e) => !e.sshLost).map((e) => e.rank))
}

/** `first` is a remote rank whose ssh connection dropped, and every rank it lost went silent: the far side of a cut. */
function farSide(first: RankEnd, losses: Loss[]): boolean {
  return first.sshLost === true && losses.every((l) => l.by !== first.rank || l.silent)
}

/** True if a survivor has recorded losing `rank` as silent (no answer: host down or network cut). */
export function silentLoss(records: FailureRecord[], rank: number): boolean {
  return lossesOf(records).some((l) => l.lost.rank === rank && l.silent)
}

/**
 * What is still worth waiting for before deciding, after `first` failed: the root's own end, when `first` lost it
 * and the launcher has not seen it end ('root-end'; not when supervising a single rank under srun); or the records
 * of ranks that lost `first`, a remote rank whose ssh connection dropped ('losers'); or nothing.
 */
export function stillWaiting(
  first: RankEnd,
  failed: ReadonlyMap<number, RankEnd>,
  records: FailureRecord[],
  single = false,
): 'root-end' | 'losers' | undefined {
  const losses = lossesOf(records)
  if (farSide(first, losses)) return losses.some((l) => l.lost.rank === first.rank) ? undefined : 'losers'
  if (losses.some((l) => l.by === first.rank)) {
    const root = rootOf(losses, endedOf(failed))
    return !single && root !== undefined && !failed.has(root) ? 'root-end' : undefined
  }
  return undefined
}

/** The root cause of the failure `first` began: the line (without "tsrun: ") and the exit code for the job. */
export function decide(first: RankEnd, failed: ReadonlyMap<number, RankEnd>, records: FailureRecord[]): { line: string; code: number; root: number } {
  const losses = lossesOf(records)
  if (farSide(first, losses) || !losses.some((l) => l.by === first.rank)) {
    const l = lostRank(losses, first.rank)
    if (first.sshLost && l) {
      // A silent host: what the survivors saw says more than the ssh connection that dropped with it.
      if (l.silent) return { line: lostRankLine(l) + SSH_DROPPED_TOO, code: first.code, root: first.rank }
      return { line: `${endLine(first, first.how)}; ${lostBy(l.by)}`, code: first.code, root: first.rank }
    }
    const own = records.find((r) => r.rank === first.rank && r.error && !isLoss(r))
    return { line: endLine(first, first.how) + afterError(own), code: first.code, root: first.rank }
  }
  const root = rootOf(losses, endedOf(failed))!
  const l = lostRank(losses, root)!
  if (l.silent) return { line: lostRankLine(l), code: first.code, root }
  const end = failed.get(root)
  if (end) return { line: `${endLine(end, end.how)}; ${lostBy(l.by)}`, code: end.code, root }
  return { line: lostRankLine(l), code: first.code, root }
}
