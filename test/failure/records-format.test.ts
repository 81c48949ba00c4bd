// The record a rank writes (src/failure/record.ts) is the record the launcher reads (launcher/failure-records.ts):
// whole files under their final names only, numbered per rank, and nothing the launcher cannot parse.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { FailureRecords } from '../../launcher/failure-records.ts'
import { parseRecord, RECORDS_SUBDIR } from '../../src/failure/format.ts'
import { FailureRecorder, ownRootCauseLine } from '../../src/failure/record.ts'
import { PeerLostError, TimeoutError } from '../../src/errors.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

test('a loss and an uncaught error, written by the rank, read back by the launcher', () => {
  const jobDir = mkdtempSync(join(tmpdir(), 'tsrun-records-'))
  dirs.push(jobDir)
  const dir = join(jobDir, RECORDS_SUBDIR)
  const rec = new FailureRecorder({ me: { rank: 0, pid: 11, host: 'node1' }, dir, stderr: false })
  const peer = { rank: 1, pid: 4242, host: 'node2', tcp: 'tcp://10.0.0.2:5000' }
  const at = Date.UTC(2026, 0, 2, 3, 4, 5)
  rec.doing = { op: 'allreduce', seq: 7, comm: 'world' }
  const a = rec.peerLost({
    rank: 0,
    peer,
    kind: 'silent',
    at,
    lastHeard: at - 10_000,
    error: new PeerLostError(1, 'rank 0: lost rank 1\nmore', { kind: 'silent' }),
  })
  rec.doing = undefined
  const b = rec.write('timeout', { error: new TimeoutError('recv timed out'), uncaught: true })
  expect(readdirSync(dir).sort()).toEqual(['rank-0-0.json', 'rank-0-1.json']) // no temporary file left
  expect(a).toMatchObject({
    v: 1,
    kind: 'peer-silent',
    rank: 0,
    pid: 11,
    host: 'node1',
    n: 0,
    lost: { rank: 1, pid: 4242, host: 'node2' },
    doing: { op: 'allreduce', seq: 7, comm: 'world' },
  })
  expect(a.lost).toEqual({ rank: 1, pid: 4242, host: 'node2' }) // the address's other fields stay out
  expect(a.at.ms).toBe(at)
  expect(a.at.time).toMatch(/^\d\d:\d\d:\d\d$/)
  expect(a.lastHeard!.ms).toBe(at - 10_000)
  expect(a.error).toEqual({ name: 'PeerLostError', code: 'TSRUN_PEER_LOST', message: 'rank 0: lost rank 1' })
  expect(b).toMatchObject({ kind: 'timeout', n: 1, uncaught: true, error: { name: 'TimeoutError', code: 'TSRUN_TIMEOUT' } })
  expect(b.doing).toBeUndefined()
  expect(ownRootCauseLine(rec.firstLoss()!)).toBe(
    `rank 1 (pid 4242, host node2) stopped answering at about ${a.lastHeard!.time} (host down or network cut); rank 0 lost it`,
  )

  // A file being written (temporary name) and a stranger's file are not records.
  writeFileSync(join(dir, '.rank-0-2.json.99.tmp'), '{')
  writeFileSync(join(dir, 'rank-5-0.json'), '{"v":1,"kind":"peer-lost"}')
  const launcher = new FailureRecords(jobDir)
  expect(launcher.all()).toEqual([a, b])
  launcher.add(a) // the same record from stderr counts once
  expect(launcher.all()).toHaveLength(2)
  expect(new FailureRecords(join(jobDir, 'nothing')).all()).toEqual([])
})

test('only well-formed records of this version parse', () => {
  const ok = { v: 1, kind: 'peer-lost', rank: 0, pid: 1, host: 'h', n: 0, at: { ms: 1, time: '00:00:00' }, lost: { rank: 1, pid: 2, host: 'h' } }
  expect(parseRecord(ok)).toEqual(ok)
  expect(parseRecord({ ...ok, v: 2 })).toBeUndefined()
  expect(parseRecord({ ...ok, kind: 'other' })).toBeUndefined()
  expect(parseRecord({ ...ok, lost: undefined })).toBeUndefined() // a loss names the lost rank
  expect(parseRecord({ ...ok, lost: { rank: '1', pid: 2, host: 'h' } })).toBeUndefined()
  expect(parseRecord({ ...ok, at: 5 })).toBeUndefined()
  expect(parseRecord(null)).toBeUndefined()
  expect(parseRecord([ok])).toBeUndefined()
})
