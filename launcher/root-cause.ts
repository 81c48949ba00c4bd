/**
 * Which failure came first. When a rank's host goes down, the ranks that lose it fail with PeerLostError and
 * exit, often before anything else is known about the lost one; naming the first rank to exit would blame a
 * survivor (torchrun's fault). The supervisor reads each rank's last words (the one line a rank prints for an
 * uncaught tsrun error), and when a rank ended because it lost another, it names that other rank first.
 */

/** What a rank said when it ended because it lost another rank. */
export interface Follower {
  rank: number
  lost: number
  lostPid: number
  lostHost: string
  /** Its connection closed (it crashed or exited early), or it stopped answering (host down, network cut). */
  kind: 'closed' | 'silent'
  /** When it stopped answering, HH:MM:SS, if said. */
  at?: string
}

const PEER_LOST = /^tsrun: rank (\d+): PeerLostError: rank \d+: lost rank (\d+) \(pid (\d+), host ([^)]+)\): (.*)$/

/** The follower a stderr line of a rank describes, if it is one. */
export function followerOf(line: string): Follower | undefined {
  const m = PEER_LOST.exec(line.trim())
  if (!m) return undefined
  const why = m[5]!
  const silent = /stopped answering|could not be reached/.test(why)
  return { rank: Number(m[1]), lost: Number(m[2]), lostPid: Number(m[3]), lostHost: m[4]!, kind: silent ? 'silent' : 'closed', at: /at about (\d\d:\d\d:\d\d)/.exec(why)?.[1] }
}

/** "ranks 0 and 2", "rank 0", "ranks 0, 2 and 5". */
export function rankList(ranks: number[]): string {
  const r = [...ranks].sort((a, b) => a - b)
  if (r.length === 1) return `rank ${r[0]}`
  return `ranks ${r.slice(0, -1).join(', ')} and ${r[r.length - 1]}`
}

/** The launcher's line for a lost rank that was not seen to exit, from what the followers said. */
export function lostRankLine(followers: Follower[]): string {
  const f = followers[0]!
  const what = f.kind === 'silent' ? `stopped answering${f.at ? ` at about ${f.at}` : ''} (host down or network cut)` : 'ended before it called finalize() (its connection closed)'
  const who = rankList([...new Set(followers.map((x) => x.rank))])
  return `rank ${f.lost} (pid ${f.lostPid}, host ${f.lostHost}) ${what}; ${who} lost it`
}
