/**
 * Averages of per-rank metrics over all ranks, weighted by how many samples each rank saw, in one allreduce.
 */
import { UsageError, type Communicator } from '../index.ts'

/**
 * The sample-weighted mean of each metric over the ranks of `comm`: every rank passes its own means and the
 * number of samples they cover, and gets the same global means back. Every rank must pass the same names.
 *
 * @example
 * ```ts
 * const { loss, acc } = await averageMetrics(world, { loss: myLoss, acc: myAcc }, mySamples)
 * ```
 */
export async function averageMetrics<T extends { [name: string]: number }>(comm: Communicator, metrics: T, samples = 1): Promise<T> {
  if (!(samples >= 0)) throw new UsageError(`samples must be a non-negative number, got ${samples}`)
  const names = Object.keys(metrics).sort()
  const buf = new Float64Array(names.length + 1)
  names.forEach((k, i) => {
    const v = metrics[k]
    if (typeof v !== 'number') throw new UsageError(`metric "${k}" must be a number, got ${typeof v}`)
    buf[i] = v * samples
  })
  buf[names.length] = samples
  if (comm.size > 1) await comm.allreduce(buf, 'sum')
  const total = buf[names.length]!
  return Object.fromEntries(names.map((k, i) => [k, total > 0 ? buf[i]! / total : Number.NaN])) as T
}
