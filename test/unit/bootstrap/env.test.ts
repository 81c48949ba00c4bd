import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { readJobEnv } from '../../../src/bootstrap/env.ts'

test('no launcher variables: a world of one', () => {
  expect(readJobEnv({})).toMatchObject({ rank: 0, size: 1, localRank: 0, localSize: 1, nodeRank: 0 })
})

test('launcher variables are read', () => {
  const env = readJobEnv({
    TSRUN_RANK: '2',
    TSRUN_SIZE: '4',
    TSRUN_LOCAL_RANK: '0',
    TSRUN_LOCAL_SIZE: '2',
    TSRUN_NODE_RANK: '1',
    TSRUN_STORE: 'tcp://127.0.0.1:5000',
    TSRUN_JOB_ID: 'j',
    TSRUN_JOB_SECRET: 's',
    TSRUN_RENDEZVOUS_TIMEOUT: '5',
  })
  expect(env).toMatchObject({ rank: 2, size: 4, localRank: 0, localSize: 2, nodeRank: 1, store: 'tcp://127.0.0.1:5000', rendezvousTimeoutMs: 5000 })
})

test.each([
  [{ TSRUN_SIZE: '4', TSRUN_RANK: '4', TSRUN_STORE: 'x' }, /TSRUN_RANK must be below TSRUN_SIZE=4, got 4/],
  [{ TSRUN_SIZE: 'four', TSRUN_RANK: '0' }, /TSRUN_SIZE must be an integer >= 1, got "four"/],
  [{ TSRUN_SIZE: '2', TSRUN_STORE: 'x' }, /TSRUN_RANK is not set; start the script with tsrun/],
  [{ TSRUN_SIZE: '2', TSRUN_RANK: '0' }, /TSRUN_STORE .* is not set/],
  [{ OMPI_COMM_WORLD_SIZE: '2' }, /OMPI_COMM_WORLD_SIZE=2/],
  [{ TSRUN_TRANSPORT: 'udp' }, /TSRUN_TRANSPORT must be one of auto, ipc, tcp, got "udp"/],
  [{ TSRUN_RENDEZVOUS_TIMEOUT: '-1' }, /TSRUN_RENDEZVOUS_TIMEOUT must be a number of seconds > 0, got "-1"/],
  [{ TSRUN_SHM: 'maybe' }, /TSRUN_SHM must be 1 or 0/],
])('bad environment %j is a UsageError', (env, message) => {
  expect(() => readJobEnv(env)).toThrow(message)
})

test('timeouts are seconds in the environment and milliseconds in the job; unset ones take their defaults', () => {
  expect(readJobEnv({})).toMatchObject({
    rendezvousTimeoutMs: 60_000,
    stallWarningMs: 60_000,
    opTimeoutMs: undefined,
    finalizeTimeoutMs: undefined,
    shm: true,
    encrypt: false,
    transport: 'auto',
  })
  expect(readJobEnv({ TSRUN_OP_TIMEOUT: '1.5' })).toMatchObject({ opTimeoutMs: 1500, finalizeTimeoutMs: 1500 })
  expect(readJobEnv({ TSRUN_OP_TIMEOUT: '2', TSRUN_FINALIZE_TIMEOUT: '3', TSRUN_HEARTBEAT_TIMEOUT: '4' })).toMatchObject({
    opTimeoutMs: 2000,
    finalizeTimeoutMs: 3000,
    heartbeatTimeoutMs: 4000,
  })
})

test("a batch script's own shell (no step) is a world of one, not a task", () => {
  expect(readJobEnv({ SLURM_NTASKS: '1', SLURM_PROCID: '0' }).size).toBe(1)
  expect(readJobEnv({ SLURM_NTASKS: '8', SLURM_PROCID: '0', SLURM_JOB_ID: '5' }).size).toBe(1)
})

test('a task of srun -n 3 across two nodes joins from Slurm variables; rank 0 serves the store', () => {
  const slurm = {
    SLURM_JOB_ID: '12',
    SLURM_STEP_ID: '0',
    SLURM_NTASKS: '3',
    SLURM_STEP_NUM_TASKS: '3',
    SLURM_STEP_NODELIST: 'node[1-2]',
    SLURM_STEP_TASKS_PER_NODE: '2,1',
    SLURM_NODEID: '1',
    SLURM_LOCALID: '0',
  }
  const r2 = readJobEnv({ ...slurm, SLURM_PROCID: '2' })
  expect(r2).toMatchObject({ rank: 2, size: 3, nodeRank: 1, localRank: 0, localSize: 1, multiHost: true, routeTarget: 'node1', serveStore: undefined })
  expect(r2.store).toMatch(/^tcp:\/\/node1:\d+$/)
  const r0 = readJobEnv({ ...slurm, SLURM_PROCID: '0', SLURM_NODEID: '0', TSRUN_STORE_PORT: '29999' })
  expect(r0).toMatchObject({ rank: 0, localSize: 2, store: 'tcp://node1:29999', serveStore: 'tcp://0.0.0.0:29999' })
  expect(r0.jobId).toBe(r2.jobId)
  // The directory the ranks make and remove is this host's own: hosts sharing a file system must not remove
  // each other's while their ranks still start (seen with namespace hosts on one machine).
  expect(r2.jobDir).toBe(join(tmpdir(), `tsrun-slurm-12.0.${hostname()}`))
  // TSRUN_* set by hand win over Slurm's.
  expect(readJobEnv({ ...slurm, SLURM_PROCID: '2', TSRUN_RANK: '0', TSRUN_SIZE: '1' }).size).toBe(1)
})
