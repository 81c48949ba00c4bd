// Ranks on three hosts (network namespaces with their own address, hostname and sshd), started over real ssh.
import { expect, test } from 'vitest'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChromeTrace } from '../../src/trace-offline/merge.ts'
import { fixture, leftoversAfter, ROOT, type Run, runRanks, tornLines } from '../helpers/run-ranks.ts'
import { clusterEnv, withoutLoginShellNoise } from './cluster-env.ts'
import { COLLECTIVE_CASES } from '../helpers/collective-cases.ts'

const cluster = clusterEnv()
const byRank = (cases: Run['cases']) => cases.filter((c) => c.env).sort((a, b) => a.rank - b.rank)

test('Open MPI hostfile, 6 ranks by slot: each rank on its host with the right node and local ranks', async () => {
  const run = await runRanks(undefined, 'env-report.ts', { flags: ['--hostfile', cluster.hostfile] })
  expect(withoutLoginShellNoise(run.stderr)).toBe('')
  expect(run.exitCode).toBe(0)
  const ranks = byRank(run.cases)
  expect(ranks.map((r) => [r.rank, r.hostname, r.nodeRank, r.localRank, r.localSize])).toEqual([
    [0, 'node1', 0, 0, 2],
    [1, 'node1', 0, 1, 2],
    [2, 'node2', 1, 0, 2],
    [3, 'node2', 1, 1, 2],
    [4, 'node3', 2, 0, 2],
    [5, 'node3', 2, 1, 2],
  ])
  for (const r of ranks) {
    expect(r.env.TSRUN_NODE_RANK).toBe(String(r.nodeRank))
    expect(r.hasSecret).toBe(true)
  }
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('MPICH hostfile with --map-by node: ranks go round robin over the hosts', async () => {
  const run = await runRanks(6, 'env-report.ts', { flags: ['-f', cluster.hostfileMpich, '--map-by', 'node'] })
  expect(run.exitCode).toBe(0)
  expect(byRank(run.cases).map((r) => [r.hostname, r.localRank])).toEqual([
    ['node1', 0],
    ['node2', 0],
    ['node3', 0],
    ['node1', 1],
    ['node2', 1],
    ['node3', 1],
  ])
})

test('-H: collectives across three hosts give the same results as on one', async () => {
  const run = await runRanks(undefined, 'collective-cases.ts', { flags: ['-H', 'node1:1,node2:1,node3:1'], timeoutMs: 150_000 })
  expect(run.cases.filter((c) => c.case && !c.ok)).toEqual([])
  expect(run.cases.filter((c) => c.done).map((c) => c.count)).toEqual(Array(3).fill(COLLECTIVE_CASES))
  expect(run.exitCode).toBe(0)
})

test("tsrun's stdin reaches rank 0 on another host through its host agent, as with mpirun; the others read none", async () => {
  const run = await runRanks(undefined, 'stdin-echo.ts', { flags: ['-H', 'node1:1,node2:1'], stdin: 'line one\nline two\n', timeoutMs: 30_000 })
  expect(run.exitCode).toBe(0)
  expect(run.cases.sort((a, b) => a.rank - b.rank)).toEqual([
    { rank: 0, input: 'line one\nline two\n' },
    { rank: 1, input: '' },
  ])
})

test('output of ranks on three hosts through their agents: every line, none torn, stderr too, a last line without newline kept', async () => {
  // -x: variables of the launcher's shell reach remote ranks only when passed on.
  const run = await runRanks(undefined, 'chatty.ts', { flags: ['-H', 'node1:2,node2:2,node3:2', '-x', 'LINES=3000', '-x', 'WIDTH=2000'], timeoutMs: 60_000 })
  expect(run.exitCode).toBe(0)
  const lines = run.stdout.split('\n').filter(Boolean)
  expect(lines).toHaveLength(6 * 3001)
  expect(tornLines(lines)).toEqual([])
  for (let r = 0; r < 6; r++)
    expect(
      withoutLoginShellNoise(run.stderr)
        .split('\n')
        .filter((l) => l.startsWith(`${r}:err`)),
    ).toHaveLength(300)
})

test('point to point across hosts (tcp between hosts, ipc within one), 64 MiB included', async () => {
  const run = await runRanks(4, 'p2p-cases.ts', { flags: ['-H', 'node1:2,node2:1,node3:1'], timeoutMs: 120_000 })
  expect(run.cases.filter((c) => !c.ok)).toEqual([])
  expect(run.cases).toHaveLength(4 * 12)
  expect(run.exitCode).toBe(0)
})

test('more ranks than slots: a clear error, or --oversubscribe', async () => {
  const refused = await runRanks(7, 'env-report.ts', { flags: ['--hostfile', cluster.hostfile] })
  expect(refused.exitCode).toBe(2)
  expect(refused.stderr).toMatch(/tsrun: 7 ranks do not fit in 6 slots \(node1:2, node2:2, node3:2\).*--oversubscribe/)
  expect(refused.cases).toEqual([])
  const over = await runRanks(7, 'env-report.ts', { flags: ['--hostfile', cluster.hostfile, '--oversubscribe'] })
  expect(over.exitCode).toBe(0)
  expect(byRank(over.cases).map((r) => r.hostname)).toEqual(['node1', 'node1', 'node2', 'node2', 'node3', 'node3', 'node1'])
})

test('an unknown host: one line naming it and the ssh error; nothing left behind', async () => {
  const run = await runRanks(undefined, 'sleep-forever.ts', { flags: ['-H', 'node1:1,nosuchhost:1'], timeoutMs: 30_000 })
  expect(run.exitCode).toBe(255)
  expect(run.stderr).toMatch(
    /tsrun: rank 1 \(pid \d+, host nosuchhost\) could not be started: ssh: Could not resolve hostname nosuchhost.*; stopped the other 1 rank/,
  )
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('an unreachable address: the ssh timeout, named', async () => {
  const run = await runRanks(undefined, 'sleep-forever.ts', {
    flags: ['-H', 'node1:1,198.18.0.99:1', '--launch-agent', 'ssh -o BatchMode=yes -o ConnectTimeout=2'],
    timeoutMs: 30_000,
  })
  expect(run.exitCode).toBe(255)
  expect(run.stderr).toMatch(/host 198\.18\.0\.99\) could not be started: ssh: connect to host 198\.18\.0\.99 port 22: (Connection timed out|No route to host)/)
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('node missing on a host: named, with the host', async () => {
  const run = await runRanks(undefined, 'env-report.ts', {
    flags: ['-H', 'node2:1', '--launch-agent', fixture('rsh-without-node.sh')],
    env: { TSRUN_TEST_NODE: process.execPath },
  })
  expect(run.exitCode).toBe(127)
  expect(run.stderr).toMatch(/tsrun: rank 0 \(pid \d+, host node2\) could not be started: tsrun: node not found at \/nonexistent\/bin\/node on node2/)
})

test('a failing remote rank ends every rank on every host, named with its host', async () => {
  let endedAt = 0
  const run = await runRanks(undefined, 'exit-code.ts', {
    flags: ['--hostfile', cluster.hostfile, '-x', 'FAIL_RANK=4', '-x', 'FAIL_CODE=3'],
    onStart: (child) => child.on('exit', () => (endedAt = Date.now())),
  })
  expect(run.exitCode).toBe(3)
  expect(run.stderr).toMatch(/tsrun: rank 4 \(pid \d+, host node3\) exited with code 3; stopped the other 5 ranks/)
  const fail = run.cases.find((c) => c.failAt)!
  expect(endedAt - fail.failAt).toBeLessThan(5000)
  expect(await leftoversAfter(run.mark, 3000)).toEqual([])
})

test('Ctrl-C ends the ranks on every host', async () => {
  const run = await runRanks(undefined, 'sleep-forever.ts', {
    flags: ['--hostfile', cluster.hostfile],
    onStart: (child, output) => {
      const t = setInterval(() => {
        if ((output().match(/"ready"/g) ?? []).length === 6) {
          clearInterval(t)
          child.kill('SIGINT')
        }
      }, 50)
      child.on('exit', () => clearInterval(t))
    },
    timeoutMs: 60_000,
  })
  expect(run.exitCode).toBe(130)
  expect(await leftoversAfter(run.mark, 5000)).toEqual([])
})

test('--iface with an address range picks the namespace network', async () => {
  const run = await runRanks(undefined, 'env-report.ts', { flags: ['-H', 'node1:1,node2:1', '--iface', '198.18.0.0/24'] })
  expect(run.exitCode).toBe(0)
  for (const r of byRank(run.cases)) expect(r.env.TSRUN_STORE).toMatch(/^tcp:\/\/198\.18\.0\.1:\d+$/)
  const bad = await runRanks(undefined, 'env-report.ts', { flags: ['-H', 'node1:1', '--iface', '10.99.0.0/16'] })
  expect(bad.exitCode).toBe(2)
  expect(bad.stderr).toMatch(/--iface 10\.99\.0\.0\/16: no IPv4 address on this host .* fits; it has .*198\.18\.0\.1/)
})

test('tsrun/dl across hosts: hybrid groups over tcp and ipc keep groups bitwise equal and average on schedule', async () => {
  const run = await runRanks(undefined, 'dl-train.ts', {
    flags: ['-H', 'node1:2,node2:1,node3:1'],
    args: ['sync', 'steps=6', 'batch=4', 'groupSize=2', 'averageEvery=3', 'optimizer=momentum'],
    timeoutMs: 120_000,
  })
  expect(run.exitCode).toBe(0)
  const [r0, r1, r2, r3] = run.cases.filter((c) => c.hashes).sort((a, b) => a.rank - b.rank)
  expect(r1.hashes).toEqual(r0.hashes) // group {0, 1} on node1 (ipc)
  expect(r3.hashes).toEqual(r2.hashes) // group {2, 3} across node2 and node3 (tcp)
  expect(r0.hashes[2]).toBe(r2.hashes[2]) // averaged at step 3...
  expect(r0.hashes[3]).not.toBe(r2.hashes[3]) // ...apart again at step 4
  expect(r0.hashes[5]).toBe(r2.hashes[5])
})

test('the MNIST example trains across three hosts to at least 90 % test accuracy', async () => {
  const run = await runRanks(undefined, join(ROOT, 'examples/mnist/train.ts'), {
    flags: ['-H', 'node1:1,node2:1,node3:1'],
    args: ['--epochs', '3', '--json'],
    timeoutMs: 150_000,
  })
  expect(run.exitCode).toBe(0)
  const summary = run.cases.find((c) => c.testAccuracy !== undefined)!
  expect(summary.ranks).toBe(3)
  expect(summary.testAccuracy).toBeGreaterThanOrEqual(0.9)
})

/** hierarchical.ts's rows: every algorithm right on every rank, with the same bits everywhere. */
function sameResultsEverywhere(cases: Run['cases']): Run['cases'] {
  const results = cases.filter((c) => c.algorithm)
  expect(results).toHaveLength(18)
  for (const algorithm of ['hierarchical', 'ring', 'auto']) {
    const mine = results.filter((c) => c.algorithm === algorithm)
    expect(mine.every((c) => c.ok)).toBe(true)
    expect(new Set(mine.map((c) => c.digest)).size).toBe(1)
  }
  return results
}

test('hierarchical allreduce across 3 hosts with 2 ranks each: right sums, identical bits, and the table picks it', async () => {
  const run = await runRanks(6, 'hierarchical.ts', { flags: ['--hostfile', cluster.hostfile], timeoutMs: 120_000 })
  expect(run.exitCode).toBe(0)
  expect(run.cases.find((c) => c.picked)).toEqual({ picked: 'hierarchical', hosts: 3 })
  sameResultsEverywhere(run.cases)
})

test('small hierarchical allreduce across 3 hosts with 2 ranks each: its host phases are shared-memory rounds (no message from a non-leader)', async () => {
  const run = await runRanks(6, 'hierarchical.ts', { flags: ['--hostfile', cluster.hostfile, '-x', 'BYTES=1024'], timeoutMs: 120_000 })
  expect(run.exitCode, run.stderr).toBe(0)
  // Small data across hosts: the table keeps the flat algorithm (docs/benchmarks.md says why).
  expect(run.cases.find((c) => c.picked)).toEqual({ picked: 'recursive-doubling', hosts: 3 })
  const results = sameResultsEverywhere(run.cases)
  // Ranks by slot: 0,1 on node1, 2,3 on node2, 4,5 on node3; the leaders are 0, 2 and 4.
  const hier = results.filter((c) => c.algorithm === 'hierarchical').sort((a, b) => a.rank - b.rank)
  expect(hier.map((c) => c.sent > 0)).toEqual([true, false, true, false, true, false])
})

test('the timeline across three hosts: a process per host, clock offsets within half a round trip of the truth, the straggler named', async () => {
  // The hosts are network namespaces of one kernel: their clocks are one clock, so the true offset is 0 and the
  // measured one must be within the error bound the method promises (half the shortest round trip).
  const trace = join(mkdtempSync(join(tmpdir(), 'tsrun-cluster-trace-')), 'cluster.json')
  const run = await runRanks(undefined, 'timeline-job.ts', {
    flags: ['-H', 'node1:1,node2:1,node3:1', '--timeline', trace, '--report', '-x', 'STEPS=4'],
    timeoutMs: 90_000,
  })
  expect(run.exitCode, run.stderr).toBe(0)
  const t = JSON.parse(readFileSync(trace, 'utf8')) as ChromeTrace
  const processes = t.traceEvents.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => e.args?.name)
  expect(processes).toEqual(['host node1', 'host node2', 'host node3'])
  for (const r of t.otherData.tsrun.ranks.filter((x) => x.rank > 0)) {
    expect(r.rttUs).toBeGreaterThan(0)
    expect(r.rttUs).toBeLessThan(20_000)
    expect(Math.abs(r.offsetUs)).toBeLessThanOrEqual(r.rttUs / 2)
  }
  expect(run.stderr).toMatch(/stragglers on world \(8 collectives\): rank 2 last in [4-8] \(others waited [1-9]/)
  expect(await leftoversAfter(run.mark)).toEqual([])
})
