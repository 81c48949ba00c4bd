// The job secret never crosses the network: a packet capture on the bridge of the namespace hosts, during a job
// on three hosts (store requests, ZeroMQ handshakes and data), holds proofs of the secret but never the secret.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'

test('a capture of all traffic between the hosts during a job contains no trace of the job secret', async () => {
  const secret = randomBytes(32).toString('hex')
  const pcap = join(mkdtempSync(join(tmpdir(), 'tsrun-pcap-')), 'job.pcap')
  const dump = spawn('tcpdump', ['-i', 'tsrunbr0', '-s', '0', '-U', '-w', pcap], { stdio: ['ignore', 'ignore', 'pipe'] })
  let dumpErr = ''
  dump.stderr.on('data', (d) => (dumpErr += d))
  try {
    await new Promise((r) => setTimeout(r, 1000)) // tcpdump is listening
    const run = await runRanks(undefined, 'timeline-job.ts', {
      flags: ['-H', 'node1:1,node2:1,node3:1', '-x', 'STEPS=3'],
      env: { TSRUN_JOB_SECRET: secret },
      timeoutMs: 60_000,
    })
    expect(run.exitCode, run.stderr).toBe(0)
    expect(await leftoversAfter(run.mark)).toEqual([])
  } finally {
    dump.kill('SIGINT')
    await new Promise((r) => dump.once('exit', r))
  }
  const bytes = readFileSync(pcap)
  expect(dumpErr).toMatch(/listening on tsrunbr0/)
  // The capture saw the job: store requests and ZeroMQ handshakes carry one-time claims...
  expect(bytes.includes('tsrun1:')).toBe(true)
  expect(bytes.includes('store request') || bytes.includes('PLAIN')).toBe(true)
  // ...and never the secret, as text or as bytes.
  expect(bytes.includes(secret)).toBe(false)
  expect(bytes.includes(Buffer.from(secret, 'hex'))).toBe(false)
  expect(bytes.includes(secret.slice(0, 16))).toBe(false)
}, 120_000)
