// Ranks that call different collectives, or the same one with different arguments, are told so on every
// involved rank, naming both calls, instead of hanging or computing garbage.
import { expect, test } from 'vitest'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'

test.each([
  [
    'op',
    /rank 1 called broadcast\(root=0, Float32Array\[10\]\) while rank 0 called allreduce\(sum, Float32Array\[10\]\)|rank 0 called allreduce\(sum, Float32Array\[10\]\) while rank 1 called broadcast\(root=0, Float32Array\[10\]\)/,
  ],
  ['dtype', /called allreduce\(sum, Float(32|64)Array\[10\]\) while rank \d called allreduce\(sum, Float(64|32)Array\[10\]\)/],
  ['length', /called allreduce\(max, Float32Array\[(10|12)\]\) while rank \d called allreduce\(max, Float32Array\[(12|10)\]\)/],
  ['root', /called broadcast\(root=(0|1), Int32Array\[4\]\) while rank \d called broadcast\(root=(1|0), Int32Array\[4\]\)/],
  ['bigRoot', /called broadcast\(root=(0|1), Uint8Array\[65536\]\) while rank \d called broadcast\(root=(1|0), Uint8Array\[65536\]\)/],
  ['bigLength', /called broadcast\(root=0, Uint8Array\[(65536|32768)\]\) while rank \d called broadcast\(root=0, Uint8Array\[(32768|65536)\]\)/],
  [
    'bigOp',
    /called (broadcast\(root=0, Uint8Array\[65536\]\)|allreduce\(sum, Float32Array\[16\]\)) while rank \d called (allreduce\(sum, Float32Array\[16\]\)|broadcast\(root=0, Uint8Array\[65536\]\))/,
  ],
  ['scan', /called (ex)?scan\(sum, Int32Array\[3\]\) while rank \d called (ex)?scan\(sum, Int32Array\[3\]\)/],
  ['allgatherv', /called allgatherv\((Float32|Int32)Array\) while rank \d called allgatherv\((Int32|Float32)Array\)/],
  ['alltoallv', /called alltoallv?\(Int32Array(\[4\])?\) while rank \d called alltoallv?\(Int32Array(\[4\])?\)/],
])('mismatched %s: CollectiveMismatchError on both ranks, naming both calls', async (kind, message) => {
  const run = await runRanks(2, 'mismatch.ts', { env: { CASE: kind }, timeoutMs: 30_000 })
  const output = run.stdout + run.stderr
  const reports = run.cases.filter((c) => c.code)
  expect(reports.map((c) => c.rank).sort(), output).toEqual([0, 1])
  for (const c of reports) {
    expect(c.code, output).toBe('TSRUN_COLLECTIVE_MISMATCH')
    expect(c.message).toMatch(/collective #2 does not match/)
    expect(c.message).toMatch(message)
  }
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test.each([
  ['roundLength', 400, 600],
  ['copyLength', 70000, 30000],
])('mismatched %s on 3 ranks, one in a shared-memory round and two by messages: CollectiveMismatchError on every rank, none waits', async (kind, a, b) => {
  const run = await runRanks(3, 'mismatch.ts', { env: { CASE: kind }, timeoutMs: 30_000 })
  const output = run.stdout + run.stderr
  const reports = run.cases.filter((c) => c.code)
  expect(reports.map((c) => c.rank).sort(), output).toEqual([0, 1, 2])
  for (const c of reports) {
    expect(c.code, output).toBe('TSRUN_COLLECTIVE_MISMATCH')
    expect(c.message).toMatch(/collective #2 does not match/)
    expect(c.message).toMatch(
      new RegExp(`allreduce\\(sum, Float32Array\\[(${a}|${b})\\]\\) while rank \\d called allreduce\\(sum, Float32Array\\[(${b}|${a})\\]\\)`),
    )
  }
  expect(await leftoversAfter(run.mark)).toEqual([])
})

test('a peer ahead by a whole communicator: 40 allreduces on fresh dup()s with different lengths fail on every rank, none waits', async () => {
  const run = await runRanks(3, 'mismatch-race.ts', { env: { ITERS: '40' }, timeoutMs: 120_000 })
  expect(run.exitCode).toBe(0)
  const codes = run.cases.filter((c) => c.codes).map((c) => c.codes)
  expect(codes).toEqual(Array(3).fill({ TSRUN_COLLECTIVE_MISMATCH: 40 }))
})

test('broadcasts where every rank names itself as root never leave a rank waiting', async () => {
  const run = await runRanks(3, 'mismatch-race.ts', { env: { ITERS: '40', MODE: 'bcast' }, timeoutMs: 120_000 })
  expect(run.exitCode).toBe(0)
  const codes = run.cases.filter((c) => c.codes).map((c) => c.codes)
  expect(codes).toHaveLength(3)
  // A root that only sends may finish before the others' messages show the disagreement; no call may time out.
  for (const c of codes) expect(Object.keys(c).filter((k) => k !== 'ok' && k !== 'TSRUN_COLLECTIVE_MISMATCH')).toEqual([])
})

test('a gatherv whose root counts fewer elements than a sender sends fails on the root and on the sender, not only where it was found', async () => {
  const run = await runRanks(2, 'mismatch.ts', { env: { CASE: 'counts' }, timeoutMs: 30_000 })
  const output = run.stdout + run.stderr
  const byRank = new Map(run.cases.filter((c) => c.code).map((c) => [c.rank, c]))
  expect([...byRank.keys()].sort(), output).toEqual([0, 1])
  for (const c of byRank.values()) expect(c.code, output).toBe('TSRUN_COLLECTIVE_MISMATCH')
  // The root finds it (a 5-element block where its counts say 4); the sender, which only sent, is told and
  // fails at its next call (the barrier), instead of waiting there forever.
  expect(byRank.get(0)!.message).toMatch(/gatherv #2 expected 16 bytes of Int32Array from rank 1 but got 20 bytes of Int32Array/)
  expect(byRank.get(1)!.message).toMatch(
    /collective #2 does not match: rank 1 called gatherv\(root=0, Int32Array\[5\]\) while rank 0 called gatherv\(root=0, Int32Array\)/,
  )
  expect(await leftoversAfter(run.mark)).toEqual([])
})
