/**
 * Where each rank runs. A placement lists, per rank, its host and its local rank there; the env of a rank
 * (TSRUN_LOCAL_RANK, TSRUN_LOCAL_SIZE, TSRUN_NODE_RANK) comes from it.
 *   --map-by slot (default): fill each host's slots in hostfile order, then the next host.
 *   --map-by node: one rank per host in turn, skipping hosts whose slots are full.
 * More ranks than slots is an error unless --oversubscribe; then extra ranks go round robin over the hosts,
 * never past a host's max_slots.
 */
import { UsageError } from '../src/errors.ts'
import type { Host } from './hostfile.ts'

export interface Slot {
  rank: number
  host: string
  nodeRank: number
  localRank: number
  localSize: number
}

export type MapBy = 'slot' | 'node'

/** All ranks on this machine. */
export function placeLocal(np: number, host: string): Slot[] {
  return Array.from({ length: np }, (_, rank) => ({ rank, host, nodeRank: 0, localRank: rank, localSize: np }))
}

export function place(np: number, hosts: Host[], mapBy: MapBy = 'slot', oversubscribe = false): Slot[] {
  const total = hosts.reduce((a, h) => a + h.slots, 0)
  if (np > total && !oversubscribe) {
    throw new UsageError(
      `${np} ranks do not fit in ${total} slots (${hosts.map((h) => `${h.name}:${h.slots}`).join(', ')}); ` +
        `ask for fewer ranks, add slots, or pass --oversubscribe`,
    )
  }
  const count = hosts.map(() => 0)
  const order: number[] = []
  const fits = (i: number, limit: (h: Host) => number) => count[i] < limit(hosts[i])
  const take = (i: number) => {
    count[i]++
    order.push(i)
  }
  // Within the slots.
  if (mapBy === 'slot') {
    for (let i = 0; i < hosts.length && order.length < np; i++) while (order.length < np && fits(i, (h) => h.slots)) take(i)
  } else {
    while (order.length < Math.min(np, total)) for (let i = 0; i < hosts.length && order.length < np; i++) if (fits(i, (h) => h.slots)) take(i)
  }
  // Past the slots (oversubscribed): round robin, up to max_slots.
  while (order.length < np) {
    let placed = false
    for (let i = 0; i < hosts.length && order.length < np; i++) {
      if (fits(i, (h) => h.maxSlots ?? Infinity)) {
        take(i)
        placed = true
      }
    }
    if (!placed) throw new UsageError(`${np} ranks do not fit even oversubscribed: every host is at its max_slots`)
  }
  // Rank r runs on host order[r]; ranks are numbered host by host for --map-by slot, in turn for node.
  const used = [...new Set(order)].sort((a, b) => a - b)
  const nodeRank = new Map(used.map((hostIndex, k) => [hostIndex, k]))
  const seen = hosts.map(() => 0)
  return order.map((i, rank) => ({ rank, host: hosts[i].name, nodeRank: nodeRank.get(i)!, localRank: seen[i]++, localSize: count[i] }))
}
