import { describe, expect, test } from 'vitest'
import { parseHostfile, parseHostList } from '../../../launcher/hostfile.ts'
import { place } from '../../../launcher/placement.ts'
import { remoteCommand, shellQuote } from '../../../launcher/spawn-ssh.ts'
import { expandHostlist, expandTasksPerNode } from '../../../src/bootstrap/slurm-hostlist.ts'

describe('hostfiles', () => {
  test('Open MPI format: slots, max_slots, comments, blank lines, a bare host is one slot', () => {
    const text = '# cluster\nnode1 slots=4 max_slots=8\n\n  node2 slots=2   # two\nnode3\n'
    expect(parseHostfile(text)).toEqual([
      { name: 'node1', slots: 4, maxSlots: 8 },
      { name: 'node2', slots: 2, maxSlots: undefined },
      { name: 'node3', slots: 1, maxSlots: undefined },
    ])
  })

  test('MPICH format, and a host named twice adds up', () => {
    expect(parseHostfile('node1:4\nnode2\nnode1:2\n')).toEqual([
      { name: 'node1', slots: 6, maxSlots: undefined },
      { name: 'node2', slots: 1, maxSlots: undefined },
    ])
  })

  test.each([
    ['node1 slots=0\n', /hosts:1: slots must be a whole number >= 1, got '0'/],
    ['node1\nnode2 cores=3\n', /hosts:2: cannot read 'cores=3'/],
    ['node1:x\n', /hosts:1: the slot count after ":" must be a whole number/],
    ['node1 slots=4 max_slots=2\n', /hosts:1: max_slots=2 is below slots=4/],
    ['# nothing\n\n', /hosts: no hosts in the file/],
    ['node1:2 slots=3\n', /hosts:1: cannot read 'slots=3'/],
  ])('%j is an error with file:line', (text, message) => {
    expect(() => parseHostfile(text, 'hosts')).toThrow(message)
  })

  test('-H lists', () => {
    expect(parseHostList('node1:2,node2:2')).toEqual([
      { name: 'node1', slots: 2 },
      { name: 'node2', slots: 2 },
    ])
    expect(parseHostList('a,a,b')).toEqual([
      { name: 'a', slots: 2 },
      { name: 'b', slots: 1 },
    ])
    expect(() => parseHostList('a,,b')).toThrow(/-H: empty host name/)
    expect(() => parseHostList('a:0')).toThrow(/slot count of 'a' must be a whole number >= 1/)
  })
})

describe('placement', () => {
  const hosts = () => parseHostfile('n1 slots=2\nn2 slots=2\nn3 slots=2 max_slots=3\n')
  const where = (slots: ReturnType<typeof place>) => slots.map((s) => `${s.host}/${s.localRank}/${s.localSize}/${s.nodeRank}`)

  test('--map-by slot fills each host in order', () => {
    expect(where(place(5, hosts()))).toEqual(['n1/0/2/0', 'n1/1/2/0', 'n2/0/2/1', 'n2/1/2/1', 'n3/0/1/2'])
  })

  test('--map-by node goes round robin', () => {
    expect(where(place(4, hosts(), 'node'))).toEqual(['n1/0/2/0', 'n2/0/1/1', 'n3/0/1/2', 'n1/1/2/0'])
  })

  test('more ranks than slots: an error, unless oversubscribed (then round robin up to max_slots)', () => {
    expect(() => place(7, hosts())).toThrow(/7 ranks do not fit in 6 slots \(n1:2, n2:2, n3:2\).*--oversubscribe/)
    expect(place(8, hosts(), 'slot', true).map((s) => s.host)).toEqual(['n1', 'n1', 'n2', 'n2', 'n3', 'n3', 'n1', 'n2'])
    const capped = parseHostfile('n1 slots=1 max_slots=1\n')
    expect(() => place(2, capped, 'slot', true)).toThrow(/every host is at its max_slots/)
  })

  test('node ranks count only the hosts that got ranks', () => {
    expect(place(2, parseHostfile('a:2\nb:2\n')).map((s) => s.nodeRank)).toEqual([0, 0])
  })
})

describe('Slurm host lists', () => {
  test.each([
    ['node[1-3,7]', ['node1', 'node2', 'node3', 'node7']],
    ['gpu-[01-04]', ['gpu-01', 'gpu-02', 'gpu-03', 'gpu-04']],
    ['a,b[8-10],c', ['a', 'b8', 'b9', 'b10', 'c']],
    ['rack[1-2]-n[1-2]', ['rack1-n1', 'rack1-n2', 'rack2-n1', 'rack2-n2']],
    ['single', ['single']],
  ])('%s', (text, hosts) => {
    expect(expandHostlist(text)).toEqual(hosts)
  })

  test('bad lists are UsageErrors', () => {
    expect(() => expandHostlist('node[1-3')).toThrow(/unbalanced '\['/)
    expect(() => expandHostlist('node[3-1]')).toThrow(/goes down/)
    expect(() => expandHostlist('node[a]')).toThrow(/cannot read range 'a'/)
  })

  test('tasks per node', () => {
    expect(expandTasksPerNode('2(x3),1')).toEqual([2, 2, 2, 1])
    expect(expandTasksPerNode('4')).toEqual([4])
    expect(() => expandTasksPerNode('2(x)')).toThrow(/bad Slurm tasks-per-node list/)
  })
})

describe('remote command', () => {
  test('quotes words for the remote shell, reads the secret from stdin and runs the host agent', () => {
    expect(shellQuote('plain/path-1.ts')).toBe('plain/path-1.ts')
    expect(shellQuote("it's here")).toBe(`'it'\\''s here'`)
    const cmd = remoteCommand('/work dir', ['/usr/bin/node', '/opt/ts run/host-agent.mjs'])
    expect(cmd).toContain(`cd '/work dir' || exit 120`)
    expect(cmd).toContain('IFS= read -r TSRUN_JOB_SECRET; export TSRUN_JOB_SECRET')
    expect(cmd).toContain(`[ -x /usr/bin/node ] ||`)
    expect(cmd).toMatch(/exec \/usr\/bin\/node '\/opt\/ts run\/host-agent.mjs'$/)
    expect(cmd).not.toMatch(/SECRET=/)
  })
})

describe('an elastic job reads its hostfile again', () => {
  test('a change counts once the file has stayed the same for a round; a bad file leaves the hosts as they were', async () => {
    const { mkdtempSync, rmSync, writeFileSync, utimesSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const { hostfileHosts } = await import('../../../launcher/discovery.ts')
    const dir = mkdtempSync(join(tmpdir(), 'tsrun-hostfile-'))
    const file = join(dir, 'hosts')
    const names = (h: unknown) => (Array.isArray(h) ? h.map((x: { name: string; slots: number }) => `${x.name}:${x.slots}`) : h)
    try {
      writeFileSync(file, 'node1:1\nnode2:1\n')
      const first = parseHostfile('node1:1\nnode2:1\n')
      const discover = hostfileHosts(file, first)
      expect(names(await discover())).toEqual(['node1:1', 'node2:1'])
      writeFileSync(file, 'node1:1\nnode2:1\nnode3:2\n')
      expect(names(await discover())).toEqual(['node1:1', 'node2:1']) // just changed: one more round
      expect(names(await discover())).toEqual(['node1:1', 'node2:1', 'node3:2'])
      expect(names(await discover())).toEqual(['node1:1', 'node2:1', 'node3:2'])
      writeFileSync(file, 'node1 slots=x\n')
      utimesSync(file, new Date(), new Date(Date.now() + 5000))
      await discover()
      const bad = await discover()
      expect(bad).toMatch(/slots/) // the parse error, for the log; the job keeps its hosts
      rmSync(file)
      expect(await discover()).toMatch(/cannot read the hostfile .*hosts \(ENOENT\)/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
