/**
 * Where each rank runs. A placement lists, per rank, its host and its local rank there; the env of a rank
 * (TSRUN_LOCAL_RANK, TSRUN_LOCAL_SIZE, TSRUN_NODE_RANK) comes from it.
 */

export interface Slot {
  rank: number
  host: string
  nodeRank: number
  localRank: number
  localSize: number
}

/** All ranks on this machine. */
export function placeLocal(np: number, host: string): Slot[] {
  return Array.from({ length: np }, (_, rank) => ({ rank, host, nodeRank: 0, localRank: rank, localSize: np }))
}
