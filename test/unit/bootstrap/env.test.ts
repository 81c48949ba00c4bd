import { expect, test } from 'vitest'
import { readJobEnv } from '../../../src/bootstrap/env.ts'

test('no launcher variables: a world of one', () => {
  expect(readJobEnv({})).toMatchObject({ rank: 0, size: 1, localRank: 0, localSize: 1, nodeRank: 0 })
})

test('launcher variables are read', () => {
  const env = readJobEnv({ TSRUN_RANK: '2', TSRUN_SIZE: '4', TSRUN_LOCAL_RANK: '0', TSRUN_LOCAL_SIZE: '2', TSRUN_NODE_RANK: '1',
    TSRUN_STORE: 'tcp://127.0.0.1:5000', TSRUN_JOB_ID: 'j', TSRUN_JOB_SECRET: 's', TSRUN_RENDEZVOUS_TIMEOUT: '5' })
  expect(env).toMatchObject({ rank: 2, size: 4, localRank: 0, localSize: 2, nodeRank: 1, store: 'tcp://127.0.0.1:5000', rendezvousTimeoutMs: 5000 })
})

test.each([
  [{ TSRUN_SIZE: '4', TSRUN_RANK: '4', TSRUN_STORE: 'x' }, /TSRUN_RANK must be below TSRUN_SIZE=4, got 4/],
  [{ TSRUN_SIZE: 'four', TSRUN_RANK: '0' }, /TSRUN_SIZE must be an integer >= 1, got 'four'/],
  [{ TSRUN_SIZE: '2', TSRUN_RANK: '0' }, /TSRUN_STORE .* is not set/],
  [{ SLURM_NTASKS: '8', SLURM_PROCID: '3' }, /SLURM_NTASKS=8/],
  [{ OMPI_COMM_WORLD_SIZE: '2' }, /OMPI_COMM_WORLD_SIZE=2/],
  [{ TSRUN_TRANSPORT: 'udp' }, /TSRUN_TRANSPORT must be auto, ipc or tcp/],
  [{ TSRUN_RENDEZVOUS_TIMEOUT: '-1' }, /TSRUN_RENDEZVOUS_TIMEOUT must be a positive number of seconds/],
])('bad environment %j is a UsageError', (env, message) => {
  expect(() => readJobEnv(env)).toThrow(message)
})

test('a Slurm allocation of one task (or sbatch shell without srun) is not an error', () => {
  expect(readJobEnv({ SLURM_NTASKS: '1', SLURM_PROCID: '0' }).size).toBe(1)
  expect(readJobEnv({ SLURM_NTASKS: '8' }).size).toBe(1) // batch script itself, not a task of a step
})
