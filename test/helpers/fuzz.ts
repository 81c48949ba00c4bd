/**
 * A bounded stream of hostile input for a job's listening endpoints (loopback TCP ports and ipc socket
 * files only): raw garbage, truncated and malformed ZMTP greetings, oversized frame lengths, ZeroMQ peers
 * without the job secret sending forged tsrun frames, and connections opened and dropped at once.
 * Deterministic for a seed.
 */
import { connect, type Socket } from 'node:net'
import * as zmq from 'zeromq'
import { seededRandom } from '../../src/dl/data.ts'
import { encodeHeader, KIND_ACK, KIND_CONT, KIND_DATA, KIND_FIN, KIND_QUERY } from '../../src/transport/framing.ts'
import { NO_SIGNATURE } from '../../src/transport/transport.ts'

export type Endpoint = { port: number } | { path: string }

const describeEndpoint = (e: Endpoint) => ('port' in e ? `tcp://127.0.0.1:${e.port}` : `ipc://${e.path}`)

/** A ZMTP 3.0 greeting (64 bytes) announcing `mechanism`, optionally cut short. */
function greeting(mechanism: string, cut = 64): Buffer {
  const g = Buffer.alloc(64)
  g[0] = 0xff
  g[9] = 0x7f
  g[10] = 3
  g[11] = 0
  g.write(mechanism, 12, 'ascii')
  return g.subarray(0, cut)
}

/** A long frame (flag 0x02, or 0x06 for a command) whose 8-byte length says `size`, with few bytes after it. */
function oversized(command: boolean, size: bigint): Buffer {
  const f = Buffer.alloc(9 + 16, 0x41)
  f[0] = command ? 0x06 : 0x02
  f.writeBigUInt64BE(size, 1)
  return f
}

async function rawSend(e: Endpoint, chunks: Buffer[], holdMs: number): Promise<void> {
  await new Promise<void>((resolve) => {
    let sock: Socket
    const done = () => {
      sock.destroy()
      resolve()
    }
    sock = 'port' in e ? connect(e.port, '127.0.0.1') : connect(e.path)
    sock.on('error', () => {})
    sock.on('connect', () => {
      for (const c of chunks) sock.write(c)
      setTimeout(done, holdMs)
    })
    sock.on('close', () => resolve())
    setTimeout(done, holdMs + 500)
  })
}

async function zmqForge(e: Endpoint, rand: () => number): Promise<void> {
  const kinds = [KIND_DATA, KIND_CONT, KIND_ACK, KIND_FIN, KIND_QUERY]
  const creds = rand() < 0.5 ? {} : { plainUsername: 'tsrun', plainPassword: 'guess-' + Math.floor(rand() * 1e9) }
  const s = new zmq.Dealer({ linger: 0, sendTimeout: 200, ...creds }) // the socket type a rank's receive socket accepts
  s.connect(describeEndpoint(e))
  const h = encodeHeader({
    commId: 0,
    tag: -1 - Math.floor(rand() * 8),
    source: Math.floor(rand() * 4),
    dtype: Math.floor(rand() * 12),
    kind: kinds[Math.floor(rand() * kinds.length)]!,
    flags: Math.floor(rand() * 4),
    seq: Math.floor(rand() * 100),
    bytes: Math.floor(rand() * 2 ** 31),
    ...NO_SIGNATURE,
  })
  await s.send([h, Buffer.alloc(Math.floor(rand() * 64), 7)]).catch(() => {})
  await new Promise((r) => setTimeout(r, 100))
  s.close()
}

/** Sends `rounds` hostile inputs to each endpoint (all endpoints at once); resolves with how many were sent. */
export async function fuzz(endpoints: Endpoint[], rounds: number, seed = 1): Promise<number> {
  let sent = 0
  await Promise.all(
    endpoints.map(async (e, i) => {
      const rand = seededRandom(seed * 1000 + i)
      const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)))
      for (let r = 0; r < rounds; r++) {
        const pick = Math.floor(rand() * 8)
        if (pick === 0) await rawSend(e, [bytes(1 + Math.floor(rand() * 8192))], 50)
        else if (pick === 1) await rawSend(e, [greeting('PLAIN', 1 + Math.floor(rand() * 63))], 50)
        else if (pick === 2) await rawSend(e, [greeting(rand() < 0.5 ? 'NULL' : 'CURVE'), bytes(64)], 100)
        else if (pick === 3) await rawSend(e, [greeting('PLAIN'), oversized(true, 0xffffffffffffffffn)], 100)
        else if (pick === 4) await rawSend(e, [greeting('PLAIN'), oversized(false, BigInt(2 ** 40))], 100)
        else if (pick === 5) await rawSend(e, [], 0)
        else if (pick === 6) await rawSend(e, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], 50)
        else await zmqForge(e, rand)
        sent++
      }
    }),
  )
  return sent
}
