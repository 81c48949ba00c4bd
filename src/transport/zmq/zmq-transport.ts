/**
 * ZeroMQ transport. Each rank binds one PULL socket (ipc:// and/or tcp://) and connects one PUSH socket to
 * every peer, so each ordered pair of ranks has its own FIFO pipe and its own send queue.
 *
 * Protocol, per message:
 * 1. Small messages (< SHM_MIN_BYTES, or <= COPY_MAX_BYTES to another host) are copied together with their
 *    header into one frame and `send` resolves at once (eager).
 * 2. Large ones to a rank on this host go through the pair's shared-memory slots (transport/shm, shm-route.ts):
 *    `send` resolves once the last segment is copied in.
 * 3. Large ones to another host are sent from the caller's memory, zero-copy, as segments of `segmentBytes`
 *    (several segments in flight go much faster than one huge frame through zeromq.js, see shared/anchors).
 *    The receiver reassembles them and replies with an ACK; `send` resolves on the ACK, because ZeroMQ reads
 *    the caller's memory until the bytes are written out and the caller must not change them before.
 *    A receive with a sink (the collectives' reducing receives) takes each segment as it arrives.
 * 4. `finalize` sends FIN to every peer after all data and waits for FIN from every peer: per-pair FIFO order
 *    means that all of a peer's messages have arrived when its FIN has.
 * 5. Peer loss, without help from a launcher: each PUSH socket is watched. A connection that closes before the
 *    peer's FIN arrived (crash, kill -9, exit without finalize), ZMTP heartbeats that go unanswered (dead host),
 *    or a peer never reachable after the rendezvous fail every pending and later operation with PeerLostError
 *    (gloo's IoException contract: the communicator is unusable afterwards).
 */
import * as zmq from 'zeromq'
import { DEFAULT_SEGMENT_BYTES } from '../../constants.ts'
import { FinalizedError, PeerLostError, TransportError } from '../../errors.ts'
import { native } from '../../native/native.ts'
import {
  decodeHeader,
  encodeHeader,
  FLAG_FIRST,
  FLAG_WANT_ACK,
  HEADER_BYTES,
  KIND_ACK,
  KIND_CONT,
  KIND_DATA,
  KIND_SHM,
  KIND_SHM_FREE,
  KIND_SHM_OPEN,
  writeHeader,
  type Header,
} from '../framing.ts'
import { fulfil, Matcher, type Posted } from '../matcher.ts'
import { SHM_MIN_BYTES } from '../shm/slots.ts'
import {
  NO_SIGNATURE,
  type ControlHandlers,
  type Message,
  type PeerAddress,
  type ReceiveOptions,
  type Signature,
  type Transport,
  type TransportKind,
} from '../transport.ts'
import { stopZapHandler } from './auth.ts'
import { ControlChannel } from './control.ts'
import { chooseEndpoint } from './endpoints.ts'
import { PeerLink } from './peer-link.ts'
import { watchPeer } from './peer-watch.ts'
import { Reassembly, type Assembled } from './reassembly.ts'
import { SendQueue } from './send-queue.ts'
import { ShmRoute } from './shm-route.ts'
import { bindPull, pushSocket, type ZmqTransportOptions } from './sockets.ts'

export type { ZmqTransportOptions }

/** Messages up to this size are copied and sent eagerly; larger ones are zero-copy and acknowledged. */
export const COPY_MAX_BYTES = 64 * 1024

interface PendingAck {
  resolve: () => void
  reject: (e: Error) => void
}

export class ZmqTransport implements Transport {
  readonly rank: number
  readonly size: number
  /** What this rank publishes for its peers. */
  readonly address: PeerAddress
  /** Frames dropped because they were malformed (counted, never fatal). */
  droppedFrames = 0
  /** Messages sent by each path: one eager frame, shared-memory slots, zero-copy segments with an ACK. */
  readonly sent = { eager: 0, shm: 0, zeroCopy: 0 }

  private readonly kind: TransportKind
  private readonly segmentBytes: number
  private readonly secret: string
  private readonly encrypt: boolean
  private readonly curveClient: { publicKey: string; secretKey: string } | undefined
  private readonly pull: zmq.Pull | undefined
  private readonly pushes: (zmq.Push | undefined)[] = []
  private readonly links: (PeerLink | undefined)[] = []
  /** Peers on this host that take large messages through shared memory. */
  private readonly shmPeers = new Set<number>()
  private readonly shm: ShmRoute | undefined
  private readonly nextSeq: Uint32Array
  private readonly acks = new Map<number, PendingAck>()
  private readonly matcher = new Matcher()
  private readonly reassembly: Reassembly
  private readonly control: ControlChannel
  /** Frames for peers we are not connected to yet: an ACK for a message that arrived during our rendezvous. */
  private readonly early = new Map<number, Buffer[][]>()
  private failure: Error | undefined
  private closed = false

  private constructor(opts: ZmqTransportOptions, pull: zmq.Pull | undefined, address: PeerAddress) {
    this.rank = opts.rank
    this.size = opts.size
    this.kind = opts.kind ?? 'auto'
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES
    this.secret = opts.secret ?? ''
    this.encrypt = opts.encrypt ?? false
    this.curveClient = this.encrypt ? zmq.curveKeyPair() : undefined
    this.pull = pull
    this.address = address
    const n = pull && opts.shmDir ? native() : undefined
    if (n) {
      this.shm = new ShmRoute(n, opts.shmDir!, this.rank)
      address.shm = true
    }
    this.nextSeq = new Uint32Array(opts.size)
    this.reassembly = new Reassembly(this.matcher, this.rank)
    this.control = new ControlChannel(this.rank, this.size, (peer, frames) => this.pushTo(peer, frames))
    if (pull) void this.receiveLoop(pull)
  }

  handle(handlers: ControlHandlers): void {
    this.control.handlers = handlers
  }

  /** Binds this rank's receive socket. A world of one binds nothing. */
  static async create(opts: ZmqTransportOptions): Promise<ZmqTransport> {
    const address: PeerAddress = { rank: opts.rank, host: opts.host, pid: process.pid }
    if (opts.size === 1) return new ZmqTransport(opts, undefined, address)
    return new ZmqTransport(opts, await bindPull(opts, address), address)
  }

  /** Connects a PUSH socket to every peer. `peers[r]` is rank r's published address. */
  connect(peers: PeerAddress[]): void {
    for (const peer of peers) {
      if (peer.rank === this.rank) continue
      const endpoint = chooseEndpoint(this.address, peer, this.kind)
      if (!endpoint) {
        throw new TransportError(
          `rank ${this.rank}: no way to reach rank ${peer.rank} on host ${peer.host} ` +
            `(it published ${JSON.stringify(peer)}); set TSRUN_TRANSPORT=tcp for ranks on different hosts`,
        )
      }
      if (this.encrypt && !peer.curve) {
        throw new TransportError(`rank ${this.rank}: rank ${peer.rank} did not publish an encryption key; start every rank with the same --encrypt setting`)
      }
      const push = pushSocket(peer, this.secret, this.curveClient)
      const settled = () => this.closed || this.failure !== undefined || this.control.hasFin(peer.rank)
      watchPeer(peer, push, settled, (why) => this.fail(lostPeer(this.rank, peer, why)))
      push.connect(endpoint)
      this.pushes[peer.rank] = push
      const queue = new SendQueue(push, (err) =>
        this.fail(new TransportError(`rank ${this.rank}: sending to rank ${peer.rank} failed: ${err.message}`, { cause: err })),
      )
      this.links[peer.rank] = new PeerLink(queue)
      if (this.shm && peer.shm && peer.host === this.address.host) this.shmPeers.add(peer.rank)
      for (const frames of this.early.get(peer.rank) ?? []) queue.push(frames)
      this.early.delete(peer.rank)
    }
  }

  send(peer: number, commId: number, tag: number, dtype: number, payload: Uint8Array, sig: Signature = NO_SIGNATURE): Promise<void> {
    if (this.failure) return Promise.reject(this.failure)
    const bytes = payload.byteLength
    if (peer === this.rank) {
      // To ourselves: a copy, so the caller may reuse its buffer at once, as with any small send.
      this.matcher.deliver({ commId, source: this.rank, tag, dtype, payload: payload.slice() })
      return Promise.resolve()
    }
    const link = this.links[peer]!
    const seq = this.nextSeq[peer]++
    // Only the signature's fields: a caller's richer object (with its own dtype) must not override ours.
    const header: Header = { commId, tag, source: this.rank, dtype, kind: KIND_DATA, flags: 0, seq, bytes, coll: sig.coll, op: sig.op, root: sig.root, count: sig.count }
    const viaShm = bytes >= SHM_MIN_BYTES && this.shmPeers.has(peer)
    if (!viaShm && bytes <= COPY_MAX_BYTES) {
      // Header and payload in one frame: one allocation, one ZeroMQ message.
      const frame = Buffer.allocUnsafe(HEADER_BYTES + bytes)
      writeHeader(frame, header)
      frame.set(payload, HEADER_BYTES)
      link.push([frame])
      this.sent.eager++
      return Promise.resolve()
    }
    if (viaShm) {
      this.shm!.ready(link, peer)
      this.sent.shm++
      return link.sendShm(header, payload)
    }
    header.flags = FLAG_WANT_ACK
    this.sent.zeroCopy++
    const view = Buffer.from(payload.buffer, payload.byteOffset, bytes)
    const seg = this.segmentBytes
    link.push([encodeHeader(header), view.subarray(0, seg)])
    if (bytes > seg) {
      header.kind = KIND_CONT
      const cont = encodeHeader(header)
      for (let off = seg; off < bytes; off += seg) link.push([cont, view.subarray(off, off + seg)])
    }
    return new Promise((resolve, reject) => this.acks.set(peer * 2 ** 32 + seq, { resolve, reject }))
  }

  recv(commId: number, source: number, tag: number, opts?: ReceiveOptions): Promise<Message> {
    return this.matcher.receive(commId, source, tag, opts)
  }

  busy(): boolean {
    if (this.closed) return false
    return this.matcher.depth.posted > 0 || this.acks.size > 0 || this.control.pendingQueries > 0 || this.links.some((l) => l?.pending)
  }

  query(peers: number[], commId: number, timeoutMs: number): Promise<Map<number, number | undefined>> {
    return this.control.query(peers, (p) => this.links[p] !== undefined, commId, timeoutMs)
  }

  notifyMismatch(peers: number[], commId: number, info: unknown): void {
    this.control.notifyMismatch(peers, commId, info)
  }

  failComm(commId: number, err: Error): void {
    this.matcher.failComm(commId, err)
  }

  async finalize(timeoutMs?: number): Promise<void> {
    if (this.closed) return
    const fin = this.control.fin()
    for (const l of this.links) l?.push(fin)
    // After a failure there is nobody to wait for: finalize just cleans up (the failure was reported already).
    if (!this.failure) await this.control.waitForFins(timeoutMs)
    await Promise.all(this.links.map((l) => l?.queue.drained()))
    this.close()
  }

  finalizeMissing(): number[] {
    return this.control.finalizeMissing()
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.pull?.close()
    for (const p of this.pushes) p?.close()
    if (this.secret || this.encrypt) stopZapHandler()
    this.shm?.close()
    this.failAll(this.failure ?? new FinalizedError(`rank ${this.rank}: the transport is closed (after finalize)`))
  }

  /** Fails every pending and later operation with `err`. */
  fail(err: Error): void {
    if (this.failure) return
    this.failure = err
    this.control.fail(err)
    this.failAll(err)
  }

  private failAll(err: Error): void {
    this.matcher.fail(err)
    for (const a of this.acks.values()) a.reject(err)
    this.acks.clear()
    for (const l of this.links) l?.fail(err)
  }

  /** Queues frames for `peer` in order, holding them until we are connected to it. */
  private pushTo(peer: number, frames: Buffer[]): void {
    const link = this.links[peer]
    if (link) return link.push(frames)
    const held = this.early.get(peer)
    if (held) held.push(frames)
    else this.early.set(peer, [frames])
  }

  private async receiveLoop(pull: zmq.Pull): Promise<void> {
    for (;;) {
      let frames: Buffer[]
      try {
        frames = await pull.receive()
      } catch (err) {
        if (!this.closed) this.fail(new TransportError(`rank ${this.rank}: receive failed: ${(err as Error).message}`, { cause: err }))
        return
      }
      this.onFrames(frames)
    }
  }

  private onFrames(frames: Buffer[]): void {
    if (frames.length > 2) return this.drop()
    const h = decodeHeader(frames[0], this.size)
    if (typeof h === 'string') return this.drop()
    // One frame: the payload follows the header. Two: the payload is the second frame.
    const payload = frames.length === 2 ? frames[1] : frames[0].subarray(HEADER_BYTES)
    if (frames.length === 2 && frames[0].length !== HEADER_BYTES) return this.drop()
    switch (h.kind) {
      case KIND_DATA:
        if (h.coll !== 0 && h.tag < -1) this.control.handlers.onCollective(h.commId, h.tag, h.source, h)
        if (payload.length === h.bytes) return this.complete(h, payload, undefined)
        return this.assembled(this.reassembly.first(h, payload))
      case KIND_CONT:
        return this.assembled(this.reassembly.next(h, payload))
      case KIND_SHM: {
        const first = (h.flags & FLAG_FIRST) !== 0
        const seg = this.shm?.segment(h, first)
        if (!seg || first === this.reassembly.busy(h.source)) return this.drop()
        if (first && h.coll !== 0 && h.tag < -1) this.control.handlers.onCollective(h.commId, h.tag, h.source, h)
        const done = first ? this.reassembly.first(h, seg) : this.reassembly.next(h, seg)
        // The segment has been copied (or reduced) out: the slot is free again.
        this.links[h.source]?.pushNow(this.shm!.freeFrame(h.aux ?? 0))
        return this.assembled(done)
      }
      case KIND_SHM_OPEN:
        return this.shm?.open(h) ? undefined : this.drop()
      case KIND_SHM_FREE:
        return this.links[h.source]?.credit(h.aux ?? 0) ? undefined : this.drop()
      case KIND_ACK: {
        const key = h.source * 2 ** 32 + h.seq
        const pending = this.acks.get(key)
        if (!pending) return this.drop()
        this.acks.delete(key)
        return pending.resolve()
      }
      default:
        if (!this.control.onFrame(h, payload)) this.drop()
    }
  }

  private assembled(done: Assembled | null | false): void {
    if (done === false) return this.drop()
    if (!done) return
    if (done.sunk) {
      this.ack(done.header)
      const h = done.header
      return done.posted!.resolve({ commId: h.commId, source: h.source, tag: h.tag, dtype: h.dtype, payload: done.payload })
    }
    this.complete(done.header, done.payload, done.posted)
  }

  private complete(h: Header, payload: Uint8Array, posted: Posted | undefined): void {
    this.ack(h)
    const m: Message = { commId: h.commId, source: h.source, tag: h.tag, dtype: h.dtype, payload }
    if (posted) fulfil(posted, m)
    else this.matcher.deliver(m)
  }

  /** A sender waiting to reuse its buffer may now. */
  private ack(h: Header): void {
    // A peer that is faster through the rendezvous can send to us before we have connected back to it.
    if (h.flags & FLAG_WANT_ACK) this.pushTo(h.source, [encodeHeader({ ...h, source: this.rank, kind: KIND_ACK, flags: 0, bytes: 0 })])
  }

  private drop(): void {
    this.droppedFrames++
  }
}

function lostPeer(rank: number, peer: PeerAddress, why: string): PeerLostError {
  return new PeerLostError(
    peer.rank,
    `rank ${rank}: lost rank ${peer.rank} (pid ${peer.pid}, host ${peer.host}): ${why} before it called ` +
      `finalize(); it crashed, was killed, or exited early. This rank cannot go on with the job.`,
  )
}
