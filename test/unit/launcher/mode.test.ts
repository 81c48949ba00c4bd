import { expect, test } from 'vitest'
import { modeOf } from '../../../launcher/launch.ts'
import type { LaunchOptions } from '../../../launcher/options.ts'

const base: LaunchOptions = {
  script: '/x.ts',
  args: [],
  tagOutput: false,
  env: {},
  mapBy: 'slot',
  oversubscribe: false,
  launchAgent: ['ssh'],
  trace: { report: false },
  maxRestarts: 0,
  elasticRespawn: true,
}
const step = { SLURM_JOB_ID: '7', SLURM_STEP_ID: '0', SLURM_PROCID: '1', SLURM_NTASKS: '2', SLURM_NODEID: '0', SLURM_LOCALID: '1', SLURM_STEP_NODELIST: 'n1' }

test('how tsrun decides what to do', () => {
  expect(modeOf(base, {})).toBe('local')
  expect(modeOf({ ...base, hosts: [{ name: 'n1', slots: 1 }] }, {})).toBe('hosts')
  expect(modeOf(base, step)).toBe('slurm-task')
  expect(modeOf(base, { SLURM_JOB_ID: '7', SLURM_NTASKS: '4', SLURM_PROCID: '0' })).toBe('slurm-allocation')
  expect(modeOf(base, { SLURM_JOB_ID: '7', TSRUN_NO_SLURM: '1' })).toBe('local')
  expect(modeOf(base, { ...step, TSRUN_RANK: '0' })).toBe('local') // a rank of ours, not a Slurm task
})
