// Hostile input on every endpoint a job listens on (each rank's port or ipc socket, and the rendezvous
// store) while the job runs allreduces: nothing crashes, nothing is delivered, every result stays right.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { fuzz, type Endpoint } from '../helpers/fuzz.ts'
import { leftoversAfter, runRanks, tcpPorts } from '../helpers/run-ranks.ts'

test.each(['tcp', 'ipc', 'auto'])(
  'a bounded stream of garbage, bad handshakes and forged frames to every endpoint (%s) leaves the job and its results intact',
  async (transport) => {
    let fuzzing: Promise<number> | undefined
    let fuzzedAt = 0
    let endpoints: Endpoint[] = []
    const run = await runRanks(3, 'fuzz-target.ts', {
      env: { TSRUN_TRANSPORT: transport, DURATION_MS: '9000' },
      timeoutMs: 60_000,
      onStart: (child, output) => {
        const t = setInterval(() => {
          const ready = output()
            .split('\n')
            .filter((l) => l.startsWith('{"ready"'))
            .map((l) => JSON.parse(l))
          if (ready.length < 3) return
          clearInterval(t)
          // The store is served by the launcher; the ranks listen on tcp ports or on ipc and unix socket files in the job directory.
          endpoints = tcpPorts(child.pid!).map((port) => ({ port }))
          if (transport === 'tcp') for (const r of ready) endpoints.push(...tcpPorts(r.pid).map((port) => ({ port })))
          else endpoints.push(...readdirSync(ready[0].jobDir).map((f) => ({ path: join(ready[0].jobDir, f) })))
          fuzzing = fuzz(endpoints, 40, { tcp: 1, ipc: 2, auto: 3 }[transport]).finally(() => (fuzzedAt = Date.now()))
        }, 50)
        child.on('exit', () => clearInterval(t))
      },
    })
    const sent = await fuzzing
    // The store and three ranks; with auto each rank also listens on a unix-domain stream for its host's ranks.
    const expected = transport === 'auto' ? 7 : 4
    expect(endpoints.length).toBe(expected)
    expect(sent).toBe(expected * 40)
    expect(run.exitCode).toBe(0)
    const results = run.cases.filter((c) => 'iters' in c)
    expect(results).toHaveLength(3)
    for (const r of results) {
      expect(r.endedAt).toBeGreaterThan(fuzzedAt) // the whole stream hit the job while it was running
      expect(r.wrong).toBe(0)
      expect(r.iters).toBeGreaterThan(20)
    }
    expect(await leftoversAfter(run.mark, 100)).toEqual([])
  },
)
