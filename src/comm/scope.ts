/** What the helpers of a communicator (mismatch detector, stall inspector) need to know about it. */
import type { Transport } from '../transport/transport.ts'

export interface CommScope {
  transport: Transport
  commId: number
  /** Communicator name and this rank in it, for messages. */
  name: string
  rank: number
  /** World rank of each member; `rankOf` maps back. */
  members: readonly number[]
  rankOf: (worldRank: number) => number
}
