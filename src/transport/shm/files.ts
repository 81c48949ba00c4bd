/**
 * Where the intra-host transport's shared memory lives: one file per rank in the job's private directory
 * under /dev/shm (mode 0700, files 0600), named by world rank. Each file is unlinked as soon as every rank of
 * the host that uses it has mapped it (segment.ts), so the kernel frees it when the last of them ends, however
 * it ends; the launcher (and local rank 0 under srun) removes the directory at the end as well.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'

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

/** The segment file of world rank `rank`: its receive queue and its pool of fragments. */
export function segmentPath(dir: string, rank: number): string {
  return join(dir, `rank-${rank}.shm`)
}
