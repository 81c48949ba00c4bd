import { expect, test } from 'vitest'
import { allocationHosts, elasticInAllocation, srunAgent } from '../../../launcher/slurm-elastic.ts'
import type { LaunchOptions } from '../../../launcher/options.ts'

const env = { SLURM_JOB_NODELIST: 'gpu[07-09]', SLURM_TASKS_PER_NODE: '4(x2),2', SLURM_JOB_CPUS_PER_NODE: '8(x3)', TSRUN_SRUN: 'srun' }

test("an elastic job in an allocation: the allocation's nodes and task slots are its hosts", () => {
  expect(allocationHosts(env)).toEqual([
    { name: 'gpu07', slots: 4 },
    { name: 'gpu08', slots: 4 },
    { name: 'gpu09', slots: 2 },
  ])
  expect(() => allocationHosts({ SLURM_JOB_NODELIST: 'gpu[07-09]', SLURM_TASKS_PER_NODE: '4' })).toThrow(/3 nodes .* but tasks for 1/)
  expect(() => allocationHosts({})).toThrow(/needs SLURM_JOB_NODELIST and SLURM_TASKS_PER_NODE/)
})

test("each other node's host agent is a one-task srun step there, with the job's CPUs on it, output unbuffered", () => {
  const argv = srunAgent(env)('gpu08', 'exec node agent.mjs')
  expect(argv.slice(0, 1)).toEqual(['srun'])
  expect(argv).toContain('--nodelist=gpu08')
  expect(argv).toContain('--ntasks=1')
  expect(argv).toContain('--cpus-per-task=8')
  expect(argv).toContain('--unbuffered')
  expect(argv.slice(-3)).toEqual(['sh', '-c', 'exec node agent.mjs'])
})

test('an elastic job in an allocation takes no hostfile of its own', () => {
  const options = { hosts: [{ name: 'x', slots: 1 }] } as unknown as LaunchOptions
  expect(() => elasticInAllocation(options, env)).toThrow(/leave out --hostfile, -H and --host-discovery-script/)
  const made = elasticInAllocation({} as LaunchOptions, env)
  expect(made.hosts?.map((h) => h.name)).toEqual(['gpu07', 'gpu08', 'gpu09'])
  expect(typeof made.remoteArgv).toBe('function')
})
