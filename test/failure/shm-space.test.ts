// Shared memory that runs short never kills a rank: ranks whose share of the budget is too small, or whose
// /dev/shm is full, talk over unix streams instead, the host's lowest rank says so once, and the job's results
// are right. The small /dev/shm is a 64 MiB tmpfs in a private mount namespace (Docker's default size), as
// root; elsewhere that case is skipped.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { expect, test } from 'vitest'
import { BIN, fixture, runProcess, runRanks } from '../helpers/run-ranks.ts'

const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true']).status === 0

test('a budget too small for any rank: every rank talks over unix streams, one line says why and what to set', async () => {
  const run = await runRanks(4, 'shm-space.ts', { env: { TSRUN_SHM_BYTES: String(1 << 20), PEER_KIB: '256' }, timeoutMs: 60_000 })
  expect(run.exitCode).toBe(0)
  expect(run.cases.map((c) => c.ok)).toEqual([true, true, true, true])
  for (const c of run.cases) expect([c.sent.cell, c.sent.shm]).toEqual([0, 0])
  const lines = run.stderr.split('\n').filter((l) => l.includes('shared memory is off'))
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(/ranks 0, 1, 2, 3 of host .*budget of 1\.0 MiB for 4 ranks is below .*TSRUN_SHM_BYTES/)
})

test('the default budget: small messages go inline in cells, large ones in fragments; no file is left', async () => {
  const run = await runRanks(4, 'shm-space.ts', { env: { PEER_KIB: '256' }, timeoutMs: 60_000 })
  expect(run.exitCode).toBe(0)
  expect(run.cases.map((c) => c.ok)).toEqual([true, true, true, true])
  for (const c of run.cases) expect([c.sent.shm > 0, c.sent.eager, c.sent.zeroCopy]).toEqual([true, 0, 0])
  expect(run.stderr).not.toMatch(/shared memory is off/)
  expect(existsSync(run.cases[0]!.shmDir)).toBe(false)
})

test.skipIf(!canUnshare)('np=8 in a 64 MiB /dev/shm: the alltoall and allreduce complete, no SIGBUS', async () => {
  const script = `mount -t tmpfs -o size=64m tmpfs /dev/shm && exec "${process.execPath}" "${BIN}" -np 8 "${fixture('shm-space.ts')}" "$1"`
  const run = await runProcess('unshare', (mark) => ['-m', 'sh', '-c', script, 'sh', mark], { env: { PEER_KIB: '1024' }, timeoutMs: 120_000 })
  expect(run.stderr).not.toMatch(/SIGBUS/)
  expect(run.exitCode).toBe(0)
  expect(run.cases.map((c) => c.ok)).toEqual(Array(8).fill(true))
  for (const c of run.cases) expect(c.sent.shm).toBeGreaterThan(0) // 4 MiB a rank fits: shared memory stays on
})

test.skipIf(!canUnshare)('a /dev/shm too full for some ranks: those talk over unix streams, the job completes', async () => {
  // 8 MiB of tmpfs and a budget that promises 32 MiB: the first ranks reserve their pages, the rest find no space.
  const script = `mount -t tmpfs -o size=8m tmpfs /dev/shm && exec "${process.execPath}" "${BIN}" -np 8 "${fixture('shm-space.ts')}" "$1"`
  const run = await runProcess('unshare', (mark) => ['-m', 'sh', '-c', script, 'sh', mark], {
    env: { PEER_KIB: '256', TSRUN_SHM_BYTES: String(32 << 20) },
    timeoutMs: 120_000,
  })
  expect(run.stderr).not.toMatch(/SIGBUS/)
  expect(run.exitCode).toBe(0)
  expect(run.cases.map((c) => c.ok)).toEqual(Array(8).fill(true))
  expect(run.stderr).toMatch(/shared memory is off for ranks? [\d, ]+ of host .*(No space left|cannot reserve)/)
  expect(run.cases.some((c) => c.sent.shm > 0)).toBe(true)
})
