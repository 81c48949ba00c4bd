/**
 * One job's identity and private state: an id, a secret every store request must carry (never put on a
 * command line or printed), a private directory (mode 0700) for ipc socket files, and the store server.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StoreServer } from '../src/bootstrap/zmq/store-server.ts'
import { setting } from '../src/settings.ts'
import { shmDirOf } from '../src/transport/shm/files.ts'

export interface Job {
  id: string
  secret: string
  /** Private directory, removed by `cleanup`. */
  dir: string
  /** The ranks' shared-memory files on this host (made by the ranks), removed by `cleanup`. */
  shmDir: string | undefined
  store: StoreServer
  cleanup(): void
}

export async function createJob(storeEndpoint = 'tcp://127.0.0.1:*'): Promise<Job> {
  const id = randomBytes(6).toString('hex')
  // Bring your own (TSRUN_JOB_SECRET, e.g. from a secrets manager), or a fresh one per job.
  const secret = setting('TSRUN_JOB_SECRET') ?? randomBytes(32).toString('hex')
  const dir = mkdtempSync(join(tmpdir(), `tsrun-${id}-`)) // mkdtemp creates it with mode 0700
  const shmDir = shmDirOf(id)
  let store: StoreServer
  try {
    store = await StoreServer.start({ endpoint: storeEndpoint, secret })
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  return {
    id,
    secret,
    dir,
    shmDir,
    store,
    cleanup() {
      store.close()
      rmSync(dir, { recursive: true, force: true })
      if (shmDir) rmSync(shmDir, { recursive: true, force: true })
    },
  }
}
