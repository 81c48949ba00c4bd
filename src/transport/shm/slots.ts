/**
 * The intra-host shared-memory path (Open MPI's sm/vader, MPICH's shm, NCCL's SHM transport): each ordered pair
 * of ranks on one host has a file of SLOTS slots in a per-job directory under /dev/shm, mapped by both. The
 * sender copies a large message into free slots, a segment per slot, and tells the receiver over the pair's
 * pipe (a unix stream, or ZeroMQ) which slot holds what (SHM frames, so data and notices keep one FIFO order); the receiver copies (or
 * reduces) each segment out and gives the slot back (SHM_FREE). A sender is done with its buffer once the
 * last segment is copied in: no acknowledgement round trip. Two copies per byte, both by the ranks' own
 * threads at memory speed, instead of four through sockets and ZeroMQ's I/O threads.
 *
 * Crash safety: the receiver unlinks the file as soon as it has mapped it, so the kernel frees it when both
 * are gone, however they end; the launcher (and local rank 0 under srun) removes the job's directory at the end.
 * A rank that dies mid-copy never completes a message on the other side: its peers see PeerLostError.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { setting } from '../../settings.ts'

/** Slots per ordered pair, and bytes per slot: 8 × 512 KiB = 4 MiB of /dev/shm per pair. */
export const SLOTS = 8
export const SLOT_BYTES = 512 * 1024
/**
 * Messages from this size on go through shared memory; smaller ones are cheaper inline in one frame. Measured
 * with `bench/p2p.ts` (3 alternations): from 4 KiB to 64 KiB a notice plus two copies took 38-57 µs against 52-104
 * µs inline on a unix stream. TSRUN_SHM_MIN_BYTES overrides it (for measuring).
 */
export const SHM_MIN_BYTES: number = setting('TSRUN_SHM_MIN_BYTES')

/** Where shared files live: /dev/shm (memory), if the machine has it. */
const SHM_ROOT = '/dev/shm'

/** The job's directory of shared files on this host (the launcher removes it at the end). */
export function shmDirOf(jobId: string): string | undefined {
  if (!existsSync(SHM_ROOT)) return undefined
  return join(SHM_ROOT, `tsrun-${jobId}`)
}

/** Creates the job's directory (private to the user); false if it cannot. */
export function makeShmDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    return true
  } catch {
    return false
  }
}

/** The file of the pair (from → to). */
export function channelPath(dir: string, from: number, to: number): string {
  return join(dir, `${from}-${to}`)
}
