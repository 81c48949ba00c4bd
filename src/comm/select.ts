/**
 * Algorithm selection by message size and rank count, from ordered tables (Open MPI's tuned component,
 * Horovod's OperationManager): the first entry whose `enabled(size, bytes)` holds runs. A call's
 * `{ algorithm }` or the environment (`TSRUN_ALLREDUCE_ALGORITHM=ring`) overrides the table.
 */
import { allgatherRingInPlace } from '../collectives/allgather-ring.ts'
import { allreduceHierarchical } from '../collectives/allreduce-hierarchical.ts'
import { allreduceRecursiveDoubling } from '../collectives/allreduce-recursive-doubling.ts'
import { allreduceHost, barrierHost, bcastHost } from '../collectives/host-shared.ts'
import { allreduceRing } from '../collectives/allreduce-ring.ts'
import { alltoallBruck } from '../collectives/alltoall-bruck.ts'
import { alltoallPairwise } from '../collectives/alltoall-pairwise.ts'
import { alltoallvPairwise } from '../collectives/alltoallv-pairwise.ts'
import { barrierDissemination } from '../collectives/barrier-dissemination.ts'
import { bcastBinomial } from '../collectives/bcast-binomial.ts'
import { bcastScatterAllgather } from '../collectives/bcast-scatter-allgather.ts'
import { gatherBinomial } from '../collectives/gather-binomial.ts'
import { gatherLinear } from '../collectives/gather-linear.ts'
import { gathervLinear } from '../collectives/gatherv-linear.ts'
import { reduceBinomial } from '../collectives/reduce-binomial.ts'
import { allreduceHostCopy } from '../collectives/allreduce-host-copy.ts'
import { allreduceOrdered, reduceOrdered } from '../collectives/reduce-ordered.ts'
import { reduceScatterRingInPlace } from '../collectives/reduce-scatter-ring.ts'
import { scatterBinomial } from '../collectives/scatter-binomial.ts'
import { scatterLinear } from '../collectives/scatter-linear.ts'
import { scattervLinear } from '../collectives/scatterv-linear.ts'
import { scanRecursiveDoubling } from '../collectives/scan-recursive-doubling.ts'
import { UsageError } from '../errors.ts'
import { algorithmSetting, algorithmVariable } from '../settings.ts'

/** Where a communicator's ranks run: how many hosts they span. */
export interface Topology {
  hosts: number
  /** Bytes a host collective's round carries per rank, where the communicator has them (every host does). */
  hostBytes?: number
  /** Bytes up to which the table broadcasts through host collectives (only where their ranks poll). */
  hostBcastBytes?: number
  /** The host collectives can read other ranks' memory (single copy). */
  hostCopy?: boolean
}

export interface Candidate<F> {
  name: string
  /** When the table picks it by itself. */
  enabled: (size: number, bytes: number, topo: Topology) => boolean
  run: F
}

/**
 * Crossover points, measured with bench/collectives.ts --algorithm on 2 and 4 ranks of a 2-core machine with the
 * shared-memory path (docs/benchmarks.md, "Algorithm table"): ring allreduce wins from 128 KiB on 2 ranks, from 512 KiB on more.
 */
export function allreduceRingMinBytes(size: number): number {
  return size <= 2 ? 128 * 1024 : 512 * 1024
}
/**
 * On one host the pipelined binomial broadcast beat scatter-allgather at every size measured (256 KiB - 16 MiB,
 * 4 ranks); scatter-allgather keeps the root's link from carrying the whole message log2 P times, which matters
 * between hosts.
 */
export const BCAST_SCATTER_ALLGATHER_MIN_BYTES = 512 * 1024
/**
 * On one host of more than two ranks, where they can read each other's memory, allreduce goes by single copy
 * from this size on: three rounds instead of the ring's 2(n-1) steps (np=4 on 2 cores: 1 MiB 0.80–0.84 ms
 * against 1.96–2.23, 16 MiB 11.6–12.4 against 17.6–20.7; np=3 at 256 KiB even). At np=2 the ring's pipelined
 * fragments, read from cache, are as fast or faster (docs/benchmarks.md), so it stays there.
 */
export const ALLREDUCE_HOST_COPY_MIN_BYTES = 256 * 1024
/**
 * Alltoall goes by Bruck's algorithm (⌈log2 P⌉ messages, each about half the data) on 8 ranks or more while a
 * block is at most this size, pairwise exchange (P-1 messages) above it (MPICH's rule; docs/benchmarks.md).
 */
export const ALLTOALL_BRUCK_MAX_BLOCK_BYTES = 256
/** Across hosts with several ranks on a host, allreduce goes hierarchical from this size on. */
export const ALLREDUCE_HIERARCHICAL_MIN_BYTES = 64 * 1024

const only = <F>(name: string, run: F): Candidate<F>[] => [{ name, enabled: () => true, run }]

/**
 * The algorithms of the table below that run (or may run) in host rounds (ctx.host). Any other call on a
 * communicator with host rounds says it runs by messages (comm/begin.ts), so a peer waiting in a round for the same
 * call fails instead of waiting: a round algorithm missing here would be taken for a mismatch.
 */
export const ROUND_ALGORITHMS: ReadonlySet<string> = new Set(['shm', 'shm-copy', 'hierarchical'])

/** Every collective's table, most specialised first. */
export const ALGORITHMS = {
  allreduce: [
    {
      name: 'hierarchical',
      // Small data runs its host phases as host rounds when asked for by name; not picked for it until it has
      // been measured faster than the flat algorithms on real hosts (docs/benchmarks.md).
      enabled: (size: number, bytes: number, topo: Topology) => topo.hosts > 1 && topo.hosts < size && bytes >= ALLREDUCE_HIERARCHICAL_MIN_BYTES,
      run: allreduceHierarchical,
    },
    { name: 'shm', enabled: (_size: number, bytes: number, topo: Topology) => topo.hosts === 1 && bytes <= (topo.hostBytes ?? -1), run: allreduceHost },
    {
      name: 'shm-copy',
      enabled: (size: number, bytes: number, topo: Topology) =>
        topo.hosts === 1 && topo.hostCopy === true && size > 2 && bytes >= ALLREDUCE_HOST_COPY_MIN_BYTES,
      run: allreduceHostCopy,
    },
    { name: 'recursive-doubling', enabled: (size: number, bytes: number) => bytes < allreduceRingMinBytes(size), run: allreduceRecursiveDoubling },
    { name: 'ring', enabled: () => true, run: allreduceRing },
    // Rank order for user ops that are not commutative; the communicator asks for it by name.
    { name: 'ordered', enabled: () => false, run: allreduceOrdered },
  ],
  broadcast: [
    {
      name: 'scatter-allgather',
      enabled: (size: number, bytes: number, topo: Topology) => topo.hosts > 1 && size > 2 && bytes >= BCAST_SCATTER_ALLGATHER_MIN_BYTES,
      run: bcastScatterAllgather,
    },
    { name: 'shm', enabled: (_size: number, bytes: number, topo: Topology) => topo.hosts === 1 && bytes <= (topo.hostBcastBytes ?? -1), run: bcastHost },
    { name: 'binomial', enabled: () => true, run: bcastBinomial },
  ],
  barrier: [
    { name: 'shm', enabled: (_size: number, _bytes: number, topo: Topology) => topo.hosts === 1 && topo.hostBytes !== undefined, run: barrierHost },
    { name: 'dissemination', enabled: () => true, run: barrierDissemination },
  ],
  reduce: [
    { name: 'binomial', enabled: () => true, run: reduceBinomial },
    { name: 'ordered', enabled: () => false, run: reduceOrdered },
  ],
  gather: only('binomial', gatherBinomial),
  allgather: only('ring', allgatherRingInPlace),
  scatter: only('binomial', scatterBinomial),
  reduceScatter: only('ring', reduceScatterRingInPlace),
  alltoall: [
    { name: 'bruck', enabled: (size: number, bytes: number) => size >= 8 && bytes / size <= ALLTOALL_BRUCK_MAX_BLOCK_BYTES, run: alltoallBruck },
    { name: 'pairwise', enabled: () => true, run: alltoallPairwise },
  ],
  gatherObject: only('linear', gatherLinear),
  scatterObject: only('linear', scatterLinear),
  allgatherv: only('ring', allgatherRingInPlace),
  gatherv: only('linear', gathervLinear),
  scatterv: only('linear', scattervLinear),
  alltoallv: only('pairwise', alltoallvPairwise),
  reduceScatterv: only('ring', reduceScatterRingInPlace),
  scan: only('recursive-doubling', scanRecursiveDoubling),
} satisfies Record<string, Candidate<unknown>[]>

/** The algorithm to run: the one requested by the call or the environment, else the table's first fit. */
export function pick<F>(
  collective: string,
  table: Candidate<F>[],
  size: number,
  bytes: number,
  requested?: string,
  topo: Topology = { hosts: 1 },
): Candidate<F> {
  // The environment's choice is read once per collective (settings.ts keeps it), not on every call.
  const want = requested ?? algorithmSetting(collective)
  if (want !== undefined && want !== '' && want !== 'auto') {
    const found = table.find((c) => c.name === want)
    if (!found) {
      const from = requested !== undefined ? 'algorithm' : algorithmVariable(collective)
      throw new UsageError(`${from} for ${collective} must be one of ${table.map((c) => `"${c.name}"`).join(', ')} or "auto", got "${want}"`)
    }
    return found
  }
  return table.find((c) => c.enabled(size, bytes, topo)) ?? table[table.length - 1]
}
