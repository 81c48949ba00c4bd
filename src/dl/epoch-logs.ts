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
  return parts.join('  ')
}

