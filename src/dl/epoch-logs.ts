/** What `fitDistributed` reports at the end of each epoch, and how it finds the straggler. */
import type { Communicator } from '../index.ts'

/** One epoch's results, averaged over all ranks (the same on every rank). */
export interface EpochLogs {
  epoch: number
  loss: number
  acc?: number
  valLoss?: number
  valAcc?: number
  /** Samples processed by all ranks in the epoch. */
  samples: number
  seconds: number
  samplesPerSecond: number
  /** Share of step time spent waiting for communication, averaged over the ranks. */
  commShare: number
  /** The straggler: the rank that spent the most time computing in this epoch... */
  slowestRank: number
  /** ...and how much longer than the average rank it took, as a fraction (0.1: 10 % longer). */
  slowestExcess: number
  /** The rank that reached the gradient exchange last most often in this epoch (the timeline's straggler)... */
  lastRank: number
  /** ...the share of steps it was last... */
  lastShare: number
  /** ...and how long the other ranks waited for it in those steps, in all (ms). */
  othersWaitedMs: number
}

/**
 * Who holds the others up, from each rank's arrival at every step's gradient exchange (µs, on rank 0's clock
 * when the timeline is on): the rank that arrived last most often, and how long the others waited for it.
 */
export async function arrivalsAcrossRanks(comm: Communicator, arrivals: number[]): Promise<{ lastRank: number; lastShare: number; othersWaitedMs: number }> {
  if (comm.size === 1 || arrivals.length === 0) return { lastRank: 0, lastShare: 0, othersWaitedMs: 0 }
  const mine = Float64Array.from(arrivals)
  const all = await comm.allgatherv(mine)
  const n = all.length / comm.size // every rank took the same steps
  const last = new Array<number>(comm.size).fill(0)
  const waited = new Array<number>(comm.size).fill(0)
  for (let s = 0; s < n; s++) {
    let r0 = 0
    for (let r = 1; r < comm.size; r++) if (all[r * n + s]! > all[r0 * n + s]!) r0 = r
    last[r0]!++
    for (let r = 0; r < comm.size; r++) waited[r0]! += (all[r0 * n + s]! - all[r * n + s]!) / 1000
  }
  const lastRank = last.indexOf(Math.max(...last))
  return { lastRank, lastShare: n ? last[lastRank]! / n : 0, othersWaitedMs: waited[lastRank]! }
}

/** Comm share averaged over the ranks, and the rank that computed longest (each step waits for it). */
export async function timingAcrossRanks(comm: Communicator, computeMs: number, commMs: number) {
  const all = comm.size > 1 ? await comm.allgather(new Float64Array([computeMs, commMs])) : new Float64Array([computeMs, commMs])
  let slowestRank = 0
  let shareSum = 0
  let computeSum = 0
  for (let r = 0; r < comm.size; r++) {
    const [cp, cm] = [all[2 * r]!, all[2 * r + 1]!]
    if (cp > all[2 * slowestRank]!) slowestRank = r
    shareSum += cm / Math.max(1e-9, cp + cm)
    computeSum += cp
  }
  const mean = computeSum / comm.size
  return { commShare: shareSum / comm.size, slowestRank, slowestExcess: mean > 0 ? all[2 * slowestRank]! / mean - 1 : 0 }
}

/** The epoch line on rank 0's terminal. */
export function formatEpoch(l: EpochLogs): string {
  const parts = [`loss ${l.loss.toFixed(4)}`]
  if (l.acc !== undefined) parts.push(`acc ${l.acc.toFixed(4)}`)
  if (l.valLoss !== undefined) parts.push(`val_loss ${l.valLoss.toFixed(4)}`)
  if (l.valAcc !== undefined) parts.push(`val_acc ${l.valAcc.toFixed(4)}`)
  parts.push(`${Math.round(l.samplesPerSecond)} samples/s`, `comm ${(100 * l.commShare).toFixed(1)}%`)
  if (l.slowestExcess >= 0.05) parts.push(`slowest rank ${l.slowestRank} (+${Math.round(100 * l.slowestExcess)}% compute)`)
  // Arrived last in most steps, and the others' wait for it is worth a mention (>= 5 % of the epoch).
  if (l.lastShare >= 0.5 && l.othersWaitedMs >= 50 * l.seconds) {
    const waited = l.othersWaitedMs >= 1000 ? `${(l.othersWaitedMs / 1000).toFixed(1)} s` : `${Math.round(l.othersWaitedMs)} ms`
    parts.push(`last to arrive: rank ${l.lastRank} in ${Math.round(100 * l.lastShare)}% of steps (others waited ${waited})`)
  }
  return parts.join('  ')
}
