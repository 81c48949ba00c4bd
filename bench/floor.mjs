// The floor under tsrun's point-to-point times: two bare processes ping-ponging one message at a time, with no
// tsrun code, over ZeroMQ (PUSH/PULL over ipc://, what tsrun's ZeroMQ path uses) or Node's own unix-domain
// streams (what tsrun uses between ranks of one host). Prints `floor-<kind>,<bytes>,<half round trip µs>`.
//   node bench/floor.mjs zmq|unix BYTES [ITERS]      (bench/p2p.ts --compare-floor runs it between its own reps)
import { fork } from 'node:child_process'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const [kind = 'zmq', bytesArg = '8', itersArg = '2000'] = process.argv.slice(2)
const bytes = Number(bytesArg)
const iters = Number(itersArg)
const warm = Math.min(500, iters)
const base = join(tmpdir(), `tsrun-floor-${process.env.FLOOR_ID ?? process.pid}`)

/** role 0 measures, role 1 echoes. `open` gives send(buf) and a receive queue for one message at a time. */
async function pingpong(role, open) {
  const { send, next, close } = await open(role)
  const msg = Buffer.alloc(bytes, 1)
  let t0 = 0
  for (let i = 0; i < warm + iters; i++) {
    if (role === 0) {
      if (i === warm) t0 = performance.now()
      send(msg)
      await next()
    } else send(await next())
  }
  if (role === 0) console.log(`floor-${kind},${bytes},${(((performance.now() - t0) * 1000) / iters / 2).toFixed(2)}`)
  await close() // the echo's last reply must leave before its process does
}

/** One message at a time from an async source, handed to whoever awaits next(). */
function queue() {
  const items = []
  const waiters = []
  return {
    put: (m) => (waiters.length ? waiters.shift()(m) : items.push(m)),
    next: () => (items.length ? Promise.resolve(items.shift()) : new Promise((r) => waiters.push(r))),
  }
}

async function openZmq(role) {
  const zmq = await import('zeromq')
  const pull = new zmq.Pull()
  await pull.bind(`ipc://${base}-${role}.zmq`)
  const push = new zmq.Push()
  push.connect(`ipc://${base}-${1 - role}.zmq`)
  await new Promise((r) => setTimeout(r, 200))
  const close = async () => {
    await new Promise((r) => setTimeout(r, 200))
    pull.close()
    push.close()
  }
  return { send: (m) => void push.send(m), next: async () => (await pull.receive())[0], close }
}

/** Length-prefixed messages over a unix-domain stream: role 0 listens, role 1 connects. */
async function openUnix(role) {
  const q = queue()
  const path = `${base}.sock`
  const sock = await new Promise((resolve) => {
    if (role === 0) createServer((s) => resolve(s)).listen(path)
    else
      setTimeout(() => {
        const s = createConnection(path, () => resolve(s))
      }, 200)
  })
  // Chunks are joined once a whole message is there (not at every chunk: large messages come in many).
  let chunks = []
  let have = 0
  sock.on('data', (d) => {
    chunks.push(d)
    have += d.length
    for (;;) {
      if (chunks[0].length < 4) chunks = [Buffer.concat(chunks)]
      if (have < 4) return
      const n = chunks[0].readUInt32LE(0)
      if (have < 4 + n) return
      const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
      q.put(buf.subarray(4, 4 + n))
      const rest = buf.subarray(4 + n)
      chunks = rest.length ? [rest] : []
      have = rest.length
      if (!have) return
    }
  })
  const send = (m) => {
    const h = Buffer.allocUnsafe(4)
    h.writeUInt32LE(m.length, 0)
    sock.cork()
    sock.write(h)
    sock.write(m)
    sock.uncork()
  }
  return { send, next: q.next, close: () => new Promise((r) => sock.end(r)) }
}

if (process.env.FLOOR_ROLE !== undefined) {
  await pingpong(Number(process.env.FLOOR_ROLE), kind === 'unix' ? openUnix : openZmq)
  process.exit(0)
} else {
  const kids = [0, 1].map((role) =>
    fork(new URL(import.meta.url).pathname, process.argv.slice(2), { env: { ...process.env, FLOOR_ROLE: String(role), FLOOR_ID: String(process.pid) } }),
  )
  await Promise.all(kids.map((k) => new Promise((r) => k.on('exit', r))))
}
