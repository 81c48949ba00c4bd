/**
 * A rank's one outgoing ZeroMQ socket: a ROUTER connected to every peer of another host it talks to (the routing
 * id of a connection is the peer's rank), instead of a PUSH socket per peer. A connection then costs its TCP
 * descriptor alone: a PUSH socket per peer also cost its mailbox and a monitor (two more sockets), about 3 more
 * descriptors per peer. One monitor watches every connection; its events carry the endpoint, which names the peer.
 *
 * Each connection still presents its own one-time proof (PLAIN) or the peer's CURVE key: the socket's options are
 * set for it just before its connect(), which ZeroMQ copies into that connection alone.
 */
import * as zmq from 'zeromq'
import { TransportError } from '../../errors.ts'
import type { FrameQueue } from '../frame-queue.ts'
import type { PeerAddress } from '../transport.ts'
import { connectionProof } from './auth.ts'
import { DEFAULT_HEARTBEAT_TIMEOUT_MS, heartbeat, type PeerEvents } from './peer-watch.ts'
import { SendQueue } from './send-queue.ts'

/** How long closing the socket may keep trying to deliver queued frames. */
const LINGER_MS = 2000

type EventName = 'connect' | 'connect:retry' | 'disconnect'

/** Per-connection options are meant to be set between connects; zeromq.js warns on every such set. Not a fault here. */
function quietly(f: () => void): void {
  const warn = process.emitWarning
  process.emitWarning = () => {}
  try {
    f()
  } finally {
    process.emitWarning = warn
  }
}

export class Outbox {
  private readonly router: zmq.Router
  private readonly queue: SendQueue
  private readonly secret: string
  private readonly curveClient: { publicKey: string; secretKey: string } | undefined
  private readonly listeners = new Map<string, Map<EventName, () => void>>()

  /** `fail` gets the error that ends the transport if ZeroMQ refuses a send (it queues without bound, so never in practice). */
  constructor(
    rank: number,
    secret: string,
    curveClient: { publicKey: string; secretKey: string } | undefined,
    heartbeatTimeoutMs: number | undefined,
    fail: (err: Error) => void,
  ) {
    this.secret = secret
    this.curveClient = curveClient
    this.router = new zmq.Router({
      sendHighWaterMark: 0,
      linger: LINGER_MS,
      // A frame for a peer whose connection is down waits for it, as on a PUSH socket; nothing is dropped.
      mandatory: false,
      ...heartbeat(heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS),
      ...(curveClient ? { curvePublicKey: curveClient.publicKey, curveSecretKey: curveClient.secretKey } : {}),
    })
    this.queue = new SendQueue(this.router, (err) => fail(new TransportError(`rank ${rank}: sending to another host failed: ${err.message}`, { cause: err })))
    for (const name of ['connect', 'connect:retry', 'disconnect'] as const) {
      this.router.events.on(name, (e: { address: string }) => this.listeners.get(e.address)?.get(name)?.())
    }
  }

  /** Connects to `peer` at `endpoint`; frames pushed to the returned queue go to it, in order. */
  open(peer: PeerAddress, endpoint: string): { queue: FrameQueue; events: PeerEvents } {
    const routingId = String(peer.rank)
    quietly(() => {
      if (this.curveClient) this.router.curveServerKey = peer.curve!
      else if (this.secret) {
        const proof = connectionProof(this.secret, peer.rank)
        this.router.plainUsername = proof.plainUsername
        this.router.plainPassword = proof.plainPassword
      }
      this.router.connect(endpoint, { routingId })
    })
    const id = Buffer.from(routingId)
    const on = new Map<EventName, () => void>()
    this.listeners.set(endpoint, on)
    const queue = this.queue
    return {
      queue: {
        push: (frames) => queue.push([id, ...frames]),
        get pending() {
          return queue.pending
        },
        drained: () => queue.drained(),
      },
      events: { on: (name, f) => void on.set(name, f) },
    }
  }

  close(): void {
    this.router.close()
  }
}
