/**
 * Algorithm selection by message size and rank count, from ordered tables (Open MPI's tuned component,
 * Horovod's OperationManager): the first entry whose `enabled(size, bytes)` holds runs. A call's
 * `{ algorithm }` or the environment (`TSRUN_ALLREDUCE_ALGORITHM=ring`) overrides the table.
 */
import { UsageError } from '../errors.ts'

export interface Candidate<F> {
  name: string
  /** When the table picks it by itself. */
  enabled: (size: number, bytes: number) => boolean
  run: F
}

/** Crossover points, measured with bench/collectives.ts on 2-4 ranks of a 2-core machine (README). */
export const ALLREDUCE_RING_MIN_BYTES = 1024 * 1024
export const BCAST_SCATTER_ALLGATHER_MIN_BYTES = 512 * 1024

export function pick<F>(collective: string, table: Candidate<F>[], size: number, bytes: number, requested?: string): Candidate<F> {
  const envName = `TSRUN_${collective.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}_ALGORITHM`
  const want = requested ?? process.env[envName]
  if (want !== undefined && want !== '' && want !== 'auto') {
    const found = table.find((c) => c.name === want)
    if (!found) {
      const from = requested !== undefined ? 'algorithm' : envName
      throw new UsageError(`${from} for ${collective} must be one of ${table.map((c) => `"${c.name}"`).join(', ')} or "auto", got "${want}"`)
    }
    return found
  }
  return table.find((c) => c.enabled(size, bytes)) ?? table[table.length - 1]
}
