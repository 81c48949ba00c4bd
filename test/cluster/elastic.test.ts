// Elastic jobs across the namespace hosts with --host-discovery-script (Horovod's format: host:slots lines) or a
// hostfile read again: the job starts on the hosts listed, grows onto a host added while it trains, and leaves a
// host taken out.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { leftoversAfter, runRanks } from '../helpers/run-ranks.ts'

test("a host added to the discovery script's list joins the running job: world 2 → 3, every position used once", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-discovery-'))
  const list = join(dir, 'hosts')
  const script = join(dir, 'discover.sh')
  writeFileSync(list, 'node1:1\nnode2:1\n')
  writeFileSync(script, `#!/bin/sh\ncat ${list}\n`)
  chmodSync(script, 0o755)
  try {
    let added = 0
    const run = await runRanks(undefined, 'elastic-ids.ts', {
      flags: ['--host-discovery-script', script, '--elastic', '2:3', '-x', 'READY=1'],
      args: ['6000', '2', '24', '20'],
      timeoutMs: 90_000,
      onStart: (_child, output) => {
        const poll = setInterval(() => {
          if ((output().match(/"generation":0/g) ?? []).length < 2) return
          clearInterval(poll)
          writeFileSync(list, 'node1:1\nnode2:1\nnode3:1\n')
          added = Date.now()
        }, 100)
      },
    })
    expect(run.exitCode).toBe(0)
    expect(run.stderr).toMatch(/tsrun: world 2 → 3 with 1 joining; resumed at step \d+ in \d+\.\d+ s/)
    const r = JSON.parse(/ELASTIC-RESULT (\{.*\})/.exec(run.stdout)![1]!)
    expect(r).toMatchObject({ ok: true, bad: 0, size: 3, same: true })
    const joined = run.cases.find((x) => x.ready !== undefined && x.generation === 1)
    console.log(JSON.stringify({ joinedAfterMs: joined!.at - added }))
    expect(await leftoversAfter(run.mark, 100)).toEqual([])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('an elastic job reads its --hostfile again: a host added joins (world 2 → 3), a host taken out leaves (3 → 2), every position used once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-hostfile-'))
  const hostfile = join(dir, 'hosts')
  writeFileSync(hostfile, 'node1 slots=1\nnode2 slots=1\n')
  try {
    const run = await runRanks(undefined, 'elastic-ids.ts', {
      flags: ['--hostfile', hostfile, '--elastic', '2:3', '-x', 'READY=1'],
      args: ['12000', '2', '24', '20'],
      timeoutMs: 120_000,
      onStart: (_child, output) => {
        let stage = 0
        const poll = setInterval(() => {
          const o = output()
          if (stage === 0 && (o.match(/"generation":0/g) ?? []).length >= 2) {
            stage = 1
            writeFileSync(hostfile, 'node1 slots=1\nnode2 slots=1\nnode3 slots=1\n')
          } else if (stage === 1 && (o.match(/"generation":1/g) ?? []).length >= 3) {
            stage = 2
            clearInterval(poll)
            writeFileSync(hostfile, 'node1 slots=1\nnode3 slots=1\n')
          }
        }, 100)
      },
    })
    if (run.exitCode !== 0) console.log(run.stderr)
    expect(run.exitCode).toBe(0)
    expect(run.stderr).toMatch(/tsrun: world 2 → 3 with 1 joining; resumed at step \d+/)
    expect(run.stderr).toMatch(/host node2 is no longer listed by the hostfile \S+; its rank is stopped/)
    expect(run.stderr).toMatch(/tsrun: world 3 → 2 after rank 1 \(host node2\) was lost; resumed at step \d+/)
    const r = JSON.parse(/ELASTIC-RESULT (\{.*\})/.exec(run.stdout)![1]!)
    expect(r).toMatchObject({ ok: true, bad: 0, size: 2, same: true })
    expect(await leftoversAfter(run.mark, 100)).toEqual([])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('--host-discovery-script that is not executable: one line saying so, exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsrun-discovery-'))
  const script = join(dir, 'discover.sh')
  writeFileSync(script, '#!/bin/sh\necho node1:1\n')
  try {
    const run = await runRanks(undefined, 'elastic-ids.ts', { flags: ['--host-discovery-script', script, '--elastic', '1:2'], timeoutMs: 20_000 })
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toMatch(/the host discovery script \S+ is not executable; chmod \+x it/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
