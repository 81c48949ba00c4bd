/**
 * Exactly-once data through changes of world. An epoch is one order of the data set (the same on every rank);
 * each step takes the next `globalBatch` positions of it, split as evenly as possible over the current world's
 * ranks. The epoch's position (how many positions committed steps took) is part of the elastic state, so after
 * a change the rest of the epoch is shared by the new world and every position is used exactly once.
 */
import { UsageError } from '../errors.ts'

/** Options of {@link elasticSlice}. */
export interface ElasticSliceOptions {
  /** Positions of the epoch that committed steps have taken. */
  offset: number
  /** Positions one step takes, over all ranks. */
  globalBatch: number
  /** Positions in the epoch (the data set's length). */
  length: number
  rank: number
  size: number
}

/**
 * This rank's positions `[start, end)` of the epoch's order for the step that begins at `offset`, and where the
 * next step begins. A rank may get none in an epoch's last step (fewer positions than ranks).
 *
 * @example
 * ```ts
 * const { start, end, next } = elasticSlice({ offset: state.values.offset, globalBatch: 256, length: n, rank: world.rank, size: world.size })
 * ```
 */
export function elasticSlice(o: ElasticSliceOptions): { start: number; end: number; next: number } {
  for (const k of ['offset', 'globalBatch', 'length', 'rank', 'size'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 0) throw new UsageError(`elasticSlice: ${k} must be a whole number >= 0, got ${o[k]}`)
  }
  if (o.size < 1 || o.rank >= o.size) throw new UsageError(`elasticSlice: rank ${o.rank} is not below size ${o.size}`)
  if (o.globalBatch < 1) throw new UsageError('elasticSlice: globalBatch must be at least 1')
  const next = Math.min(o.length, o.offset + o.globalBatch)
  const n = next - o.offset
  const per = Math.floor(n / o.size)
  const extra = n % o.size
  const start = o.offset + o.rank * per + Math.min(o.rank, extra)
  return { start, end: start + per + (o.rank < extra ? 1 : 0), next }
}
