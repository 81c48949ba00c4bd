// The ZeroMQ transport between two endpoints in this process, over real tcp and ipc sockets.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { ZmqTransport } from '../../../src/transport/zmq/zmq-transport.ts'

const open: ZmqTransport[] = []
afterEach(() => open.splice(0).forEach((t) => t.close()))

async function pair(kind: 'tcp' | 'ipc') {
  const jobDir = mkdtempSync(join(tmpdir(), 'tsrun-transport-'))
  const [a, b] = await Promise.all([0, 1].map((rank) => ZmqTransport.create({ rank, size: 2, host: 'h', jobDir, kind })))
  open.push(a, b)
  return [a, b]
}

test.each(['tcp', 'ipc'] as const)('%s: a large message that arrives before the receiver has connected back is still acknowledged', async (kind) => {
  const [a, b] = await pair(kind)
  a.connect([a.address, b.address])
  // b has not connected to a yet (it is still in its rendezvous) when a's message arrives and must be acked.
  const payload = new Uint8Array(256 * 1024).fill(7)
  const sent = a.send(1, 0, 5, 2, payload)
  const got = await b.recv(0, 0, 5)
  expect(got.payload.byteLength).toBe(payload.byteLength)
  b.connect([a.address, b.address])
  await expect(Promise.race([sent.then(() => 'acked'), new Promise((r) => setTimeout(() => r('no ack'), 5000))])).resolves.toBe('acked')
})

test.each(['tcp', 'ipc'] as const)('%s: 0 bytes, small, and multi-segment messages in order, both ways', async (kind) => {
  const [a, b] = await pair(kind)
  a.connect([a.address, b.address])
  b.connect([a.address, b.address])
  const sizes = [0, 1, 64 * 1024, 64 * 1024 + 1, 3 * 1024 * 1024 + 5]
  await Promise.all(sizes.map((n, i) => a.send(1, 0, 1, 2, new Uint8Array(n).fill(i))))
  for (const [i, n] of sizes.entries()) {
    const m = await b.recv(0, 0, 1)
    expect([m.payload.byteLength, m.payload[n - 1] ?? i]).toEqual([n, i])
  }
  expect(a.droppedFrames + b.droppedFrames).toBe(0)
})
