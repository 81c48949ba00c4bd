/** The shapes the elastic coordinator (elastic.ts) works with: its options, what it asks of the supervisor, its members. */
import type { Host } from './hostfile.ts'
import type { Slot } from './placement.ts'
import type { RankProcess } from './spawn-local.ts'

export interface ElasticOptions {
  min: number
  max: number
  settleMs: number
  /** A slot that failed this often within a minute is left out for a minute (TSRUN_ELASTIC_FLAP_FAILURES). */
  flapFailures: number
  timeoutMs: number
  /** Restart a lost member's slot (default true). */
  respawn: boolean
}

/** What the coordinator needs of the supervisor. */
export interface ElasticControl {
  /** Starts a rank into the job in `slot` with member id `id` (a joining rank). */
  spawn(slot: Slot, id: string): RankProcess
  /** Supervises a rank started later. */
  add(rank: RankProcess): void
  /** Ends the job: below MIN for too long. */
  fail(line: string, code: number): void
  log(line: string): void
  /** --host-discovery-script, or the hostfile read again: the hosts the job may use now (or why it cannot say). */
  discover?: () => Promise<Host[] | string>
  /** What `discover` reads, for the log: "the discovery script", "the hostfile". */
  discoverySource?: string
}

export interface Member {
  id: string
  host: string
  slot: Slot
  proc?: RankProcess
  alive: boolean
}

export interface Forming {
  gen: number
  reason: 'lost' | 'join'
  lost: { rank: number; host?: string }[]
  expected: Set<string>
  asked: Set<string>
  /** Members another found silent: left out without waiting. */
  silent: Set<string>
  since: number
  settle: NodeJS.Timeout
  belowMin?: NodeJS.Timeout
}
