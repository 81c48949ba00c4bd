/**
 * Reads what the launcher told this rank through the environment (TSRUN_*), or decides that this process is
 * a world of one (MPI singleton init). Never a silent world of singletons: when another launcher's variables
 * say the job has several ranks (srun, mpirun) and tsrun's do not, init fails and says why.
 */
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { UsageError } from '../errors.ts'
import { setting, SETTINGS, type Env } from '../settings.ts'
import type { TransportKind } from '../transport/transport.ts'
import { slurmTaskOf } from './slurm-env.ts'

/** Default rendezvous timeout, overridable with TSRUN_RENDEZVOUS_TIMEOUT (seconds). */
export const DEFAULT_RENDEZVOUS_TIMEOUT_MS = SETTINGS.TSRUN_RENDEZVOUS_TIMEOUT.default * 1000

export interface JobEnv {
  rank: number
  size: number
  localRank: number
  localSize: number
  nodeRank: number
  /** Endpoint of the rendezvous store; absent for a world of one. */
  store?: string
  jobId: string
  secret: string
  /** Private directory for ipc socket files (one per host). */
  jobDir?: string
  /** The ranks made jobDir themselves (under srun), so local rank 0 removes it at the end. */
  ownJobDir?: boolean
  host: string
  transport: TransportKind
  multiHost: boolean
  /** Address to bind tcp:// on; when undefined, found at init from `iface` or the route to `routeTarget`. */
  tcpAddress?: string
  /** TSRUN_IFACE: interface name or IPv4 range for tcp://. */
  iface?: string
  /** Host whose route picks our tcp:// address (the launcher, or the store host under Slurm). */
  routeTarget?: string
  /** Set on the rank that serves the store itself (rank 0 under srun): the endpoint to bind. */
  serveStore?: string
  /** Every rank of a job whose store a rank serves (srun): that rank must not close it while others may need it. */
  storeOnRank?: boolean
  rendezvousTimeoutMs: number
  /** finalize's wait for the other ranks; undefined: as long as they live. */
  finalizeTimeoutMs: number | undefined
  /** Segment size of large messages (TSRUN_SEGMENT_BYTES). */
  segmentBytes?: number
  /** TSRUN_ENCRYPT=1: CURVE-encrypt data connections. */
  encrypt: boolean
  /** TSRUN_SHM=0 turns the intra-host shared-memory path off. */
  shm: boolean
  /** TSRUN_SHM_DIR: where the launcher wants the job's shared files (else derived from the job id). */
  shmDir?: string
  /** TSRUN_STALL_WARNING (seconds, default 60): warn about a collective that waits this long. */
  stallWarningMs: number
  /** TSRUN_OP_TIMEOUT (seconds): fail a collective that waits this long; default never. */
  opTimeoutMs?: number
  /** A peer on another host that stops answering this long is lost (TSRUN_HEARTBEAT_TIMEOUT; default 10 s). */
  heartbeatTimeoutMs?: number
  /** An elastic job (TSRUN_ELASTIC): this rank's member id, and whether it joins a running job. */
  elastic?: ElasticEnv
}

/** What a rank of an elastic job knows of it. */
export interface ElasticEnv {
  min: number
  max: number
  /** Member id, the same through generations. */
  id: string
  /** A rank started into a running job: it asks to join instead of forming generation 0. */
  joining: boolean
  /** How long a generation may take to form before this rank gives up (the coordinator's wait below MIN, and more). */
  timeoutMs: number
}

/** The elastic part of a rank's environment, or undefined (UsageError for a malformed TSRUN_ELASTIC). */
function elasticEnv(env: Env, rank: number): ElasticEnv | undefined {
  const range = setting('TSRUN_ELASTIC', env)
  if (range === undefined) return undefined
  const m = /^(\d+):(\d+)$/.exec(range)
  if (!m) throw new UsageError(`TSRUN_ELASTIC must be MIN:MAX (e.g. 2:4), got "${range}"; tsrun --elastic sets it`)
  return {
    min: Number(m[1]),
    max: Number(m[2]),
    id: setting('TSRUN_ELASTIC_ID', env) ?? `r${rank}`,
    joining: setting('TSRUN_ELASTIC_JOIN', env),
    timeoutMs: setting('TSRUN_ELASTIC_TIMEOUT', env),
  }
}

/** Default stall warning interval (Horovod's is 60 s too). */
export const DEFAULT_STALL_WARNING_MS = SETTINGS.TSRUN_STALL_WARNING.default * 1000

/** A variable a rank of several cannot do without. */
function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new UsageError(`${name} is not set; start the script with tsrun (tsrun -np 4 script.ts)`)
  return value
}

/** Sizes that other launchers (mpirun, hydra) announce; > 1 without TSRUN_* means we were started wrongly. */
function foreignSize(env: Env): string | undefined {
  for (const name of ['OMPI_COMM_WORLD_SIZE', 'PMI_SIZE', 'PMIX_SIZE'] as const) {
    const n = setting(name, env)
    if (n !== undefined && n > 1) return `${name}=${n}`
  }
  return undefined
}

export function readJobEnv(env: Env = process.env): JobEnv {
  const opTimeoutMs = setting('TSRUN_OP_TIMEOUT', env)
  const common = {
    host: setting('TSRUN_HOST', env) ?? hostname(),
    transport: setting('TSRUN_TRANSPORT', env) as TransportKind,
    rendezvousTimeoutMs: setting('TSRUN_RENDEZVOUS_TIMEOUT', env),
    // finalize waits for ranks that are still working as long as they live, like a collective: no timeout
    // unless TSRUN_FINALIZE_TIMEOUT (or --op-timeout) asks for one.
    finalizeTimeoutMs: setting('TSRUN_FINALIZE_TIMEOUT', env) ?? opTimeoutMs,
    segmentBytes: setting('TSRUN_SEGMENT_BYTES', env),
    stallWarningMs: setting('TSRUN_STALL_WARNING', env),
    encrypt: setting('TSRUN_ENCRYPT', env),
    shm: setting('TSRUN_SHM', env),
    shmDir: setting('TSRUN_SHM_DIR', env),
    opTimeoutMs,
    heartbeatTimeoutMs: setting('TSRUN_HEARTBEAT_TIMEOUT', env),
  }
  const iface = setting('TSRUN_IFACE', env)
  const worldSize = setting('TSRUN_SIZE', env)
  if (worldSize === undefined) {
    const slurm = slurmTaskOf(env)
    if (slurm && slurm.size > 1) {
      // One task of `srun -n N`: rank 0 serves the store on the first node; everyone meets there.
      const id = `slurm-${slurm.jobId}.${slurm.stepId}`
      return {
        ...common,
        rank: slurm.rank,
        size: slurm.size,
        localRank: slurm.localRank,
        localSize: slurm.localSize,
        nodeRank: slurm.nodeRank,
        store: `tcp://${slurm.nodes[0]}:${slurm.storePort}`,
        serveStore: slurm.rank === 0 ? `tcp://0.0.0.0:${slurm.storePort}` : undefined,
        storeOnRank: true,
        jobId: id,
        secret: setting('TSRUN_JOB_SECRET', env) ?? id,
        // Per host as well as per step: hosts that share a file system (or namespace hosts on one machine) must
        // not remove each other's directories when their ranks finish at different times.
        jobDir: join(tmpdir(), `tsrun-${id}.${hostname()}`),
        ownJobDir: true,
        multiHost: slurm.nodes.length > 1,
        iface,
        routeTarget: slurm.nodes[0],
      }
    }
    const foreign = foreignSize(env)
    if (foreign) {
      throw new UsageError(
        `this process was started by another launcher as one of several ranks (${foreign}) but not by tsrun, ` +
          `so it cannot join the others; start the job as 'tsrun script.ts' (inside srun or mpirun too), ` +
          `or set TSRUN_RANK/TSRUN_SIZE/TSRUN_STORE yourself`,
      )
    }
    return {
      ...common,
      rank: 0,
      size: 1,
      localRank: 0,
      localSize: 1,
      nodeRank: 0,
      jobId: `singleton-${process.pid}`,
      secret: '',
      multiHost: false,
      tcpAddress: '127.0.0.1',
    }
  }
  const size = worldSize
  const rank = required(setting('TSRUN_RANK', env), 'TSRUN_RANK')
  if (rank >= size) throw new UsageError(`TSRUN_RANK must be below TSRUN_SIZE=${size}, got ${rank}`)
  const store = setting('TSRUN_STORE', env)
  if (size > 1 && !store) throw new UsageError(`TSRUN_SIZE=${size} but TSRUN_STORE (the rendezvous address) is not set`)
  const multiHost = setting('TSRUN_MULTI_HOST', env)
  return {
    ...common,
    rank,
    size,
    localRank: setting('TSRUN_LOCAL_RANK', env) ?? rank,
    localSize: setting('TSRUN_LOCAL_SIZE', env) ?? size,
    nodeRank: setting('TSRUN_NODE_RANK', env),
    store,
    jobId: setting('TSRUN_JOB_ID', env),
    secret: setting('TSRUN_JOB_SECRET', env) ?? '',
    jobDir: setting('TSRUN_JOB_DIR', env),
    multiHost,
    tcpAddress: setting('TSRUN_TCP_ADDRESS', env) ?? (multiHost ? undefined : '127.0.0.1'),
    iface,
    routeTarget: setting('TSRUN_ROUTE_TARGET', env),
    elastic: elasticEnv(env, rank),
  }
}
