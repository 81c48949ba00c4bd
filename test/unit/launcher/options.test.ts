import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { parseArgs } from '../../../launcher/options.ts'

const dir = mkdtempSync(join(tmpdir(), 'tsrun-options-'))
writeFileSync(join(dir, 'job.ts'), '')
const parse = (...argv: string[]) => parseArgs(argv, dir, '1.2.3')
const run = async (...argv: string[]) => {
  const r = await parse(...argv)
  if (r.kind !== 'run') throw new Error(`expected a run, got ${r.kind}`)
  return r.options
}

describe('parseArgs', () => {
  test('-np and -n set the rank count; the default is the number of cores', async () => {
    expect((await run('-np', '4', 'job.ts')).np).toBe(4)
    expect((await run('-n', '3', 'job.ts')).np).toBe(3)
    expect((await run('--np=5', 'job.ts')).np).toBe(5)
    expect((await run('job.ts')).np).toBeUndefined() // decided at launch: slots, Slurm tasks or cores
  })

  test('everything after the script goes to the script untouched, even launcher-looking flags', async () => {
    const o = await run('-np', '2', 'job.ts', '--epochs', '3', '-np', '7', '--tag-output', '--', 'x')
    expect(o.script).toBe(join(dir, 'job.ts'))
    expect(o.args).toEqual(['--epochs', '3', '-np', '7', '--tag-output', '--', 'x'])
    expect(o.tagOutput).toBe(false)
  })

  test('-- before the script is allowed', async () => {
    expect((await run('-np', '2', '--', 'job.ts', 'a')).args).toEqual(['a'])
  })

  test('-x exports NAME=VALUE, or NAME from the environment; repeated', async () => {
    process.env.TSRUN_OPTIONS_TEST = 'inherited'
    const o = await run('-x', 'A=1', '-x', 'TSRUN_OPTIONS_TEST', '-x', 'EMPTY=', '-x', 'UNSET_NAME_XYZ', 'job.ts')
    expect(o.env).toEqual({ A: '1', TSRUN_OPTIONS_TEST: 'inherited', EMPTY: '' })
  })

  test('--stall-warning and --op-timeout reach the ranks as TSRUN_STALL_WARNING and TSRUN_OP_TIMEOUT', async () => {
    const o = await run('--stall-warning', '30', '--op-timeout', '120', 'job.ts')
    expect(o.env).toEqual({ TSRUN_STALL_WARNING: '30', TSRUN_OP_TIMEOUT: '120' })
    await expect(parse('--op-timeout', '0', 'job.ts')).rejects.toThrow(/--op-timeout must be a positive number of seconds, got "0"/)
  })

  test('hosts: --hostfile, -H, --map-by, --oversubscribe, --launch-agent, --iface', async () => {
    writeFileSync(join(dir, 'hosts'), 'a slots=2\nb:1\n')
    const o = await run('--hostfile', 'hosts', '--map-by', 'node', '--oversubscribe', '--launch-agent', 'ssh -p 2222', '--iface', 'eth0', 'job.ts')
    expect(o.hosts).toEqual([
      { name: 'a', slots: 2, maxSlots: undefined },
      { name: 'b', slots: 1, maxSlots: undefined },
    ])
    expect([o.mapBy, o.oversubscribe, o.launchAgent, o.iface]).toEqual(['node', true, ['ssh', '-p', '2222'], 'eth0'])
    expect((await run('-H', 'x:2,y', 'job.ts')).hosts).toEqual([
      { name: 'x', slots: 2 },
      { name: 'y', slots: 1 },
    ])
    await expect(parse('--hostfile', 'hosts', '-H', 'x', 'job.ts')).rejects.toThrow(/either --hostfile or -H/)
    await expect(parse('--map-by', 'core', 'job.ts')).rejects.toThrow(/--map-by must be 'slot' or 'node', got 'core'/)
    await expect(parse('--hostfile', 'nope', 'job.ts')).rejects.toThrow(/cannot read hostfile/)
  })

  test('--tag-output and --timeout', async () => {
    const o = await run('--tag-output', '--timeout', '2.5', 'job.ts')
    expect(o.tagOutput).toBe(true)
    expect(o.timeoutSec).toBe(2.5)
  })

  test.each([
    [['--nope', 'job.ts'], /unknown option --nope/],
    [['-np', '0', 'job.ts'], /-np must be a whole number of ranks >= 1, got "0"/],
    [['-np', '-2', 'job.ts'], /-np must be a whole number/],
    [['-np', '1.5', 'job.ts'], /-np must be a whole number of ranks >= 1, got "1.5"/],
    [['-np', '2', '-np', '3', 'job.ts'], /more than once/],
    [[], /no script given/],
    [['missing.ts'], /script 'missing.ts' not found/],
    [['--timeout', 'soon', 'job.ts'], /--timeout must be a positive number of seconds, got "soon"/],
    [['-x', 'A-B=1', 'job.ts'], /-x takes NAME or NAME=VALUE/],
  ])('%j is rejected with a UsageError', async (argv, message) => {
    await expect(parse(...argv)).rejects.toMatchObject({ code: 'TSRUN_USAGE', message: expect.stringMatching(message) })
  })

  test('--help and --version', async () => {
    const help = await parse('--help')
    expect(help.kind).toBe('help')
    expect((help as { text: string }).text).toMatch(/Usage: tsrun \[options\] <script> \[args\.\.\.\]/)
    expect(await parse('--version')).toEqual({ kind: 'version', text: 'tsrun 1.2.3' })
  })
})
