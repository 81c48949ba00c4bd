/**
 * Unix-domain streams between the ranks of one host: Node's own sockets, served by libuv on the JavaScript
 * thread, carry a message from rank to rank in about half the time of a ZeroMQ ipc:// pipe, whose messages
 * pass through ZeroMQ's I/O thread on each side (8 B half round trip about 45 µs against 85 µs:
 * `tsrun -np 2 bench/p2p.ts --sizes 8` with `--transport auto`, then `--transport ipc`, as measured before shared memory carried them). Where both ranks
 * have shared memory (transport/shm) these streams only ring doorbells and carry long control notices; where
 * one has none, they carry everything.
 *
 * Each rank listens on `<job dir>/rank-N.unix` (a directory only the user can enter) and connects to each peer
 * of its host; each connection carries one direction (like a PUSH/PULL pipe), so each ordered pair has its
 * own FIFO. A connection starts with a hello: magic, the connecting rank, and an HMAC of that rank under the
 * job secret, so a process that does not know the secret is dropped before anything it sends is read.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { rmSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { StreamReader, StreamWriter } from './stream-frames.ts'

const HELLO_MAGIC = 0x31555354 // "TSU1" read little-endian
const HELLO_BYTES = 4 + 4 + 32
/** A connection that has not said hello within this time is dropped: long, as a peer starting among many on few cores may not run for seconds. */
const HELLO_TIMEOUT_MS = 60_000

/** The path a rank listens on. */
export function unixPath(jobDir: string, rank: number): string {
  return join(jobDir, `rank-${rank}.unix`)
}

function proof(secret: string, rank: number): Buffer {
  return createHmac('sha256', secret).update(`tsrun unix hello from rank ${rank}`).digest()
}

export interface UnixListener {
  path: string
  close(): void
}

/**
 * Listens for this rank's peers. `onMessage(source, frames)` gets every message of an authenticated
 * connection; `rejected` counts connections dropped for a bad hello or a malformed record.
 */
export async function listenUnix(
  path: string,
  secret: string,
  size: number,
  onMessage: (source: number, frames: Buffer[]) => void,
  rejected: () => void,
): Promise<UnixListener> {
  rmSync(path, { force: true })
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    socket.unref()
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    // The check runs after the loop's next poll for I/O (setImmediate), so a rank whose loop was blocked past
    // the bound (64 ranks starting on 2 cores) reads a hello that did arrive before it judges the connection.
    const timer = setTimeout(() => setImmediate(() => reader || drop()), HELLO_TIMEOUT_MS).unref()
    const drop = () => {
      clearTimeout(timer)
      rejected()
      socket.destroy()
    }
    let hello = Buffer.alloc(0)
    let reader: StreamReader | undefined
    socket.on('data', (data: Buffer) => {
      if (reader) return reader.push(data)
      hello = Buffer.concat([hello, data])
      if (hello.length < HELLO_BYTES) return
      const source = hello.readUInt32LE(4)
      if (hello.readUInt32LE(0) !== HELLO_MAGIC || source >= size || !timingSafeEqual(hello.subarray(8, HELLO_BYTES), proof(secret, source))) return drop()
      clearTimeout(timer)
      reader = new StreamReader((frames) => onMessage(source, frames), drop)
      if (hello.length > HELLO_BYTES) reader.push(hello.subarray(HELLO_BYTES))
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => resolve())
  })
  server.on('error', () => {}) // after listening, errors belong to single connections
  // The transport's ZeroMQ receive keeps the process alive while it is open; these must not keep it longer.
  server.unref()
  return {
    path,
    close() {
      server.close()
      for (const s of sockets) s.destroy()
      rmSync(path, { force: true })
    },
  }
}

/** An outgoing connection to a peer: its writer, and `onClose` when it ends (the peer watch's cue, with the error if any). */
export function connectUnix(path: string, rank: number, secret: string, onClose: (why: string, err?: Error) => void): { writer: StreamWriter; socket: Socket } {
  const socket = createConnection(path)
  socket.unref()
  socket.setNoDelay?.(true)
  let opened = false
  let failure: Error | undefined
  socket.on('connect', () => (opened = true))
  socket.on('error', (err) => (failure = err)) // 'close' follows and says what matters
  socket.on('close', () => onClose(opened ? 'its connection closed' : 'it could not be reached', failure))
  const hello = Buffer.allocUnsafe(HELLO_BYTES)
  hello.writeUInt32LE(HELLO_MAGIC, 0)
  hello.writeUInt32LE(rank, 4)
  proof(secret, rank).copy(hello, 8)
  socket.write(hello)
  return { writer: new StreamWriter(socket), socket }
}
