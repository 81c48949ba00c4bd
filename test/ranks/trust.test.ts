// Only the job's own ranks can talk to a rank: a process without the job secret that connects to a rank's
// port is refused during the ZeroMQ handshake, and garbage sent to the port is ignored.
import { createHmac } from 'node:crypto'
import { connect } from 'node:net'
import { join } from 'node:path'
import * as zmq from 'zeromq'
import { expect, test } from 'vitest'
import { encodeHeader, KIND_DATA } from '../../src/transport/framing.ts'
import { NO_SIGNATURE } from '../../src/transport/transport.ts'
import { runRanks, tcpPorts } from '../helpers/run-ranks.ts'
import { COLLECTIVE_CASES } from '../helpers/collective-cases.ts'

async function intrude(port: number): Promise<void> {
  const forged = [
    encodeHeader({ commId: 0, tag: 5, source: 1, dtype: 2, kind: KIND_DATA, flags: 0, seq: 0, bytes: 3, ...NO_SIGNATURE }),
    Buffer.from([6, 6, 6]),
  ]
  const sockets = [
    new zmq.Dealer({ linger: 0 }), // no credentials (a DEALER: the socket type a rank's receive socket accepts)
    new zmq.Dealer({ linger: 0, plainUsername: 'tsrun', plainPassword: 'not-the-secret' }),
  ]
  for (const s of sockets) {
    s.connect(`tcp://127.0.0.1:${port}`)
    s.sendTimeout = 500
    await s.send(forged).catch(() => {})
  }
  // Raw garbage, a truncated greeting and an oversized length on plain TCP.
  for (const bytes of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f]), Buffer.alloc(4096, 0xab)]) {
    // libzmq keeps a connection with a bad greeting open until its handshake timeout: do not wait for it.
    await new Promise<void>((resolve) => {
      const c = connect(port, '127.0.0.1', () => c.write(bytes))
      c.on('error', () => {})
      setTimeout(() => {
        c.destroy()
        resolve()
      }, 300)
    })
  }
  await new Promise((r) => setTimeout(r, 1500))
  for (const s of sockets) s.close()
}

test('a process without the job secret cannot deliver a message to a rank; garbage is ignored; the job goes on', async () => {
  let attempted: Promise<void> | undefined
  let ports: number[] = []
  const run = await runRanks(2, 'intrusion-target.ts', {
    env: { TSRUN_TRANSPORT: 'tcp', WAIT_MS: '5000' },
    timeoutMs: 40_000,
    onStart: (child, output) => {
      const t = setInterval(() => {
        const m = /\{"ready":0,"pid":(\d+)/.exec(output())
        if (!m) return
        clearInterval(t)
        ports = tcpPorts(Number(m[1]))
        attempted = Promise.all(ports.map(intrude)).then(() => {})
      }, 50)
      child.on('exit', () => clearInterval(t))
    },
  })
  await attempted
  expect(ports.length).toBeGreaterThan(0)
  expect(run.cases.find((c) => c.rank === 0 && 'got' in c)?.got).toBe('TSRUN_TIMEOUT') // the forged message never arrived
  expect(run.cases.filter((c) => c.sum === 2)).toHaveLength(2)
  expect(run.exitCode).toBe(0)
})

/** A unix-domain hello from "rank 1" with a proof made from the wrong secret, then a forged frame, then garbage. */
async function intrudeUnix(path: string): Promise<void> {
  const frame = Buffer.concat([
    encodeHeader({ commId: 0, tag: 5, source: 1, dtype: 2, kind: KIND_DATA, flags: 0, seq: 0, bytes: 3, ...NO_SIGNATURE }),
    Buffer.from([6, 6, 6]),
  ])
  const record = Buffer.alloc(8)
  record.writeUInt32LE(frame.length, 0)
  const hello = Buffer.alloc(40)
  hello.writeUInt32LE(0x31555354, 0)
  hello.writeUInt32LE(1, 4)
  createHmac('sha256', 'not-the-secret').update('tsrun unix hello from rank 1').digest().copy(hello, 8)
  for (const bytes of [Buffer.concat([hello, record, frame]), Buffer.concat([record, frame]), Buffer.alloc(4096, 0xab)]) {
    await new Promise<void>((resolve) => {
      const c = connect(path, () => c.write(bytes))
      c.on('error', () => {})
      setTimeout(() => {
        c.destroy()
        resolve()
      }, 300)
    })
  }
}

test('unix-domain streams between ranks of a host: a hello without the secret is dropped before any frame is read', async () => {
  let attempted: Promise<void> | undefined
  const run = await runRanks(2, 'intrusion-target.ts', {
    env: { WAIT_MS: '4000' },
    timeoutMs: 40_000,
    onStart: (child, output) => {
      const t = setInterval(() => {
        const m = /\{"ready":0,"pid":\d+,"jobDir":"([^"]+)"\}/.exec(output())
        if (!m) return
        clearInterval(t)
        attempted = intrudeUnix(join(m[1]!, 'rank-0.unix'))
      }, 50)
      child.on('exit', () => clearInterval(t))
    },
  })
  await attempted
  expect(attempted).toBeDefined()
  expect(run.cases.find((c) => c.rank === 0 && 'got' in c)?.got).toBe('TSRUN_TIMEOUT')
  expect(run.cases.filter((c) => c.sum === 2)).toHaveLength(2)
  expect(run.exitCode).toBe(0)
})

test('--encrypt: the collectives matrix passes over CURVE-encrypted connections', async () => {
  const run = await runRanks(3, 'collective-cases.ts', { flags: ['--encrypt'], env: { TSRUN_TRANSPORT: 'tcp' }, timeoutMs: 150_000 })
  expect(run.cases.filter((c) => c.case && !c.ok)).toEqual([])
  expect(run.cases.filter((c) => c.done).map((c) => c.count)).toEqual(Array(3).fill(COLLECTIVE_CASES))
  expect(run.exitCode).toBe(0)
})
