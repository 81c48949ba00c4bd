/** How a rank's transport is made (init.ts fills it in from the job's environment). */
import type { TransportKind } from './transport.ts'

export interface TransportOptions {
  rank: number
  size: number
  host: string
  /** Private per-job directory for ipc socket files. */
  jobDir?: string
  kind?: TransportKind
  multiHost?: boolean
  /** Address to bind tcp:// on (default 127.0.0.1). */
  tcpAddress?: string
  segmentBytes?: number
  /** Job secret: every connection to this rank must present it (PLAIN), unless it is empty. */
  secret?: string
  /** Use CURVE (authenticated and encrypted) instead of PLAIN. */
  encrypt?: boolean
  /** The job's directory of shared-memory files on this host; without it every byte goes through the sockets. */
  shmDir?: string
  /** Ranks of the job on this host (divides the shared-memory budget); default 1. */
  localSize?: number
  /** The host's shared-memory budget in bytes (TSRUN_SHM_BYTES); default from the free space of /dev/shm. */
  shmBytes?: number
  /** How long a waiting rank polls shared memory, in µs (TSRUN_SPIN_US); default 200, or 0 when oversubscribed. */
  spinUs?: number
  /** Single copy between ranks of a host where the system permits it (TSRUN_SINGLE_COPY); default true. */
  singleCopy?: boolean
  /** A peer on another host that stops answering for this long is lost (default 10 s). */
  heartbeatTimeoutMs?: number
}
