// Failure records: a rank that loses a peer records it when the runtime detects the loss, before the script's
// catch block runs, and the launcher names the lost rank from the records even when the ranks that lost it exit
// first (the script caught PeerLostError and called process.exit(1)) and the lost rank's own end comes late.
import { mkdtempSync, rmSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { fixture, leftoversAfter, runProcess, runRanks, type Run } from '../helpers/run-ranks.ts'

const killedOf = (run: Run) => run.cases.find((c) => c.killedAt)!
const survivorsOf = (run: Run) => run.cases.filter((c) => c.caught).sort((a, b) => a.rank - b.rank)
const lastLine = (run: Run) => run.stderr.trim().split('\n').at(-1)!

test('np=3 on one host, rank 2 killed mid-allreduce, the others catch and exit 1: the line names rank 2 first, not rank 0', async () => {
  const run = await runRanks(3, 'catch-peer-lost.ts', { timeoutMs: 60_000 })
  expect(run.timedOut).toBe(false)
  const killed = killedOf(run)
  expect(killed.rank, run.stdout + run.stderr).toBe(2)
  expect(run.stderr).toMatch(
    new RegExp(`^tsrun: rank 2 \\(pid ${killed.pid}, host [^)]+\\) was killed by SIGKILL; (stopped the other [12] ranks?|no other rank was running)$`, 'm'),
  )
  expect(run.stderr).not.toMatch(/tsrun: rank [01] \(pid \d+, host [^)]+\) exited with code 1/)
  expect(run.exitCode).toBe(137)
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('rank 2 killed while the others wait in a shared-memory round (a 4 B allreduce, no messages): they catch PeerLostError', async () => {
  const run = await runRanks(3, 'catch-peer-lost.ts', { env: { BYTES: '4', KILL_AFTER: '200', TSRUN_SUPERVISE: '0' }, timeoutMs: 60_000 })
  expect(run.timedOut).toBe(false)
  expect(killedOf(run).rank, run.stdout + run.stderr).toBe(2)
  const survivors = survivorsOf(run)
  expect(survivors.map((c) => [c.rank, c.caught])).toEqual([
    [0, 'PeerLostError'],
    [1, 'PeerLostError'],
  ])
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('each rank that lost rank 2 has its record on disk before its catch block runs: who, whom, when', async () => {
  const run = await runRanks(3, 'catch-peer-lost.ts', { env: { TSRUN_SUPERVISE: '0' }, timeoutMs: 60_000 })
  expect(run.timedOut).toBe(false)
  const killed = killedOf(run)
  const survivors = survivorsOf(run)
  expect(
    survivors.map((s) => [s.rank, s.caught, s.isPeerLost]),
    run.stdout + run.stderr,
  ).toEqual([
    [0, 'PeerLostError', true],
    [1, 'PeerLostError', true],
  ])
  for (const s of survivors) {
    // One directory for the host: each rank's own record, and maybe the other's already.
    const own = s.records.filter((r: { rank: number }) => r.rank === s.rank)
    expect(own).toHaveLength(1)
    const r = own[0]
    expect(r).toMatchObject({
      v: 1,
      kind: 'peer-lost',
      rank: s.rank,
      pid: s.pid,
      n: 0,
      lost: { rank: 2, pid: killed.pid },
      error: { name: 'PeerLostError', code: 'TSRUN_PEER_LOST' },
    })
    expect(r.host).toEqual(expect.any(String))
    // What the rank was doing when it found the loss: the allreduce it was in.
    expect(r.doing).toMatchObject({ op: 'allreduce', comm: 'world', seq: expect.any(Number) })
    expect(r.lost.host).toBe(r.host) // one host
    expect(r.at.time).toMatch(/^\d\d:\d\d:\d\d$/)
    expect(r.at.ms).toBeGreaterThanOrEqual(killed.killedAt)
    expect(r.at.ms).toBeLessThanOrEqual(s.at)
  }
  // The record lines on stderr are the launcher's: the user does not see them.
  expect(run.stderr).not.toContain('\u001e')
  expect(await leftoversAfter(run.mark)).toEqual([])
})

/** Three "hosts" on this machine through a launch agent whose connection to fake3 ends 3 s after its rank did. */
function lingering(env: Record<string, string> = {}) {
  return runRanks(undefined, 'catch-peer-lost.ts', {
    flags: ['-H', 'fake1.invalid:1,fake2.invalid:1,fake3.invalid:1', '--launch-agent', fixture('linger-agent.mjs')],
    env: { LINGER_HOST: 'fake3.invalid', LINGER_S: '3', ...env },
    timeoutMs: 60_000,
  })
}

test.each([
  ['the job directory on a shared disk (records as files)', false],
  ['each host its own disk (records through stderr only)', true],
])("the lost rank's end comes late and the survivors exit 1 first, %s: the line names rank 2 and host, then ranks 0 and 1", async (_how, otherDisk) => {
  const disk = otherDisk ? mkdtempSync(join(tmpdir(), 'tsrun-other-disk-')) : undefined
  try {
    const run = await lingering(disk ? { OTHER_DISK: disk } : {})
    expect(run.timedOut).toBe(false)
    const killed = killedOf(run)
    expect(
      survivorsOf(run).map((s) => s.rank),
      run.stdout + run.stderr,
    ).toEqual([0, 1])
    // Written on "its" disk too, each rank's own (the launcher's directory is not there).
    if (disk) for (const s of survivorsOf(run)) expect(s.records.map((r: { rank: number }) => r.rank)).toEqual([s.rank])
    expect(lastLine(run)).toMatch(
      new RegExp(
        `^tsrun: rank 2 \\(pid ${killed.pid}, host fake3\\.invalid\\) ended before it called finalize\\(\\) \\(its connection closed\\); ranks 0 and 1 lost it; stopped the other [12] ranks?$`,
      ),
    )
    expect(run.stderr).not.toMatch(/tsrun: rank [01] \(pid \d+, host fake[12]\.invalid\) exited with code 1/)
    expect(run.stderr).not.toContain('\u001e')
    expect(run.exitCode).toBe(1)
    expect(await leftoversAfter(run.mark)).toEqual([])
  } finally {
    if (disk) rmSync(disk, { recursive: true, force: true })
  }
})

test("under a bare srun (nobody reads the ranks' records), each task that lost rank 2 prints the launcher's line itself", async () => {
  // Three plain `node` tasks with Slurm's variables, as `srun -n 3 node --import tsx script.ts` starts them.
  const jobId = String(100_000 + Math.floor(Math.random() * 800_000))
  const node = `${process.execPath} --conditions=tsrun-dev --import tsx ${fixture('catch-peer-lost.ts')}`
  const slurm = {
    SLURM_JOB_ID: jobId,
    SLURM_STEP_ID: '0',
    SLURM_STEP_NUM_TASKS: '3',
    SLURM_NODEID: '0',
    SLURM_STEP_NODELIST: 'localhost',
    SLURM_STEP_TASKS_PER_NODE: '3',
  }
  try {
    const run = await runProcess('sh', (mark) => ['-c', `for i in 0 1 2; do SLURM_PROCID=$i SLURM_LOCALID=$i ${node} ${mark} & done; wait`], {
      env: slurm,
      timeoutMs: 60_000,
    })
    expect(run.timedOut).toBe(false)
    const killed = killedOf(run)
    expect(
      survivorsOf(run).map((s) => s.rank),
      run.stdout + run.stderr,
    ).toEqual([0, 1])
    for (const r of [0, 1]) {
      expect(run.stderr).toMatch(
        new RegExp(
          `^tsrun: rank 2 \\(pid ${killed.pid}, host [^)]+\\) ended before it called finalize\\(\\) \\(its connection closed\\); rank ${r} lost it$`,
          'm',
        ),
      )
    }
    expect(run.stderr).not.toContain('\u001e') // no record lines: nobody would take them out
    expect(await leftoversAfter(run.mark)).toEqual([])
  } finally {
    rmSync(join(tmpdir(), `tsrun-slurm-${jobId}.0.${hostname()}`), { recursive: true, force: true })
  }
})
