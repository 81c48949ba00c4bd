/**
 * The transport. Each rank binds a ZeroMQ PULL socket (ipc:// and/or tcp://) and listens on a unix-domain socket;
 * it reaches each rank of its host over a unix stream (transport/unix) and each other rank over a ZeroMQ PUSH
 * socket, so each ordered pair of ranks has its own FIFO pipe (a PeerLink). Per message:
 * 1. Small ones (< SHM_MIN_BYTES on one host, <= COPY_MAX_BYTES to another) travel behind their header in one
 *    frame; `send` resolves at once.
 * 2. Large ones to a rank of this host go through the pair's shared-memory slots (shm-route.ts); `send` resolves
 *    once the last segment is copied in.
 * 3. Large ones to another host go zero-copy in segments of `segmentBytes` (several in flight go much faster than
 *    one huge frame through zeromq.js); `send` resolves on the receiver's ACK, since ZeroMQ reads the caller's
 *    memory until it is written out. A receive with a sink (a reducing receive) takes each segment as it comes.
 * 4. `finalize` sends FIN after all data and waits for every peer's FIN: per-pair FIFO order means that all of a
 *    peer's messages have arrived when its FIN has.
 * 5. Peer loss, without help from a launcher: a connection that closes before the peer's FIN (crash, kill -9,
 *    exit without finalize), unanswered ZMTP heartbeats (dead host), or a peer never reached fail every pending
 *    and later operation with PeerLostError (gloo's IoException contract: the communicator is unusable).
 */
import type { Socket } from 'node:net'
import * as zmq from 'zeromq'
import { DEFAULT_SEGMENT_BYTES } from '../../constants.ts'
import { FinalizedError, TransportError } from '../../errors.ts'
import { native } from '../../native/native.ts'
import { encodeHeader, FLAG_WANT_ACK, HEADER_BYTES, KIND_CONT, KIND_DATA, writeHeader, type Header } from '../framing.ts'
import { Matcher } from '../matcher.ts'
import type { FrameQueue } from '../frame-queue.ts'
import { SHM_MIN_BYTES } from '../shm/slots.ts'
import { connectUnix, listenUnix, unixPath, type UnixListener } from '../unix/unix-peers.ts'
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
import { endpointFor } from './endpoints.ts'
import { PeerLink } from './peer-link.ts'
import { lostPeer, suspectPeer, watchPeer, type LossKind } from './peer-watch.ts'
import { PendingAcks } from './pending-acks.ts'
import { Inbound } from './inbound.ts'
import { SendQueue } from './send-queue.ts'
import { ShmRoute } from './shm-route.ts'
import { bindPull, pushSocket, type ZmqTransportOptions } from './sockets.ts'
export type { ZmqTransportOptions }

/** Messages up to this size are copied and sent eagerly; larger ones are zero-copy and acknowledged. */
export const COPY_MAX_BYTES = 64 * 1024

export class ZmqTransport implements Transport {
  readonly rank: number
  readonly size: number
  /** What this rank publishes for its peers. */
  readonly address: PeerAddress
  /** Frames dropped because they were malformed (counted, never fatal). */
  get droppedFrames(): number {
    return this.inbound.dropped
  }
  /** Messages sent by each path: one eager frame, shared-memory slots, zero-copy segments with an ACK. */
  readonly sent = { eager: 0, shm: 0, zeroCopy: 0 }

  private readonly kind: TransportKind
  private readonly segmentBytes: number
  private readonly secret: string
  private readonly heartbeatTimeoutMs: number | undefined
  private readonly encrypt: boolean
  private readonly curveClient: { publicKey: string; secretKey: string } | undefined
  private readonly pull: zmq.Pull | undefined
  private readonly pushes: (zmq.Push | undefined)[] = []
  private readonly links: (PeerLink | undefined)[] = []
  /** Peers on this host that take large messages through shared memory. */
  private readonly shmPeers = new Set<number>()
  private readonly shm: ShmRoute | undefined
  /** This rank's unix-domain listener, and its connections to the ranks of its host. */
  private unix: UnixListener | undefined
  private readonly unixSockets: Socket[] = []
  private readonly nextSeq: Uint32Array
  private readonly acks = new PendingAcks()
  private readonly matcher = new Matcher()
  /** @internal */
  readonly inbound: Inbound
  private readonly control: ControlChannel
  /** Frames for peers we are not connected to yet: an ACK for a message that arrived during our rendezvous. */
  private readonly early = new Map<number, Buffer[][]>()
  private failure: Error | undefined
  private closed = false

  private constructor(opts: ZmqTransportOptions, pull: zmq.Pull | undefined, address: PeerAddress) {
    this.rank = opts.rank
    this.size = opts.size
    this.kind = opts.kind ?? 'auto'
    // Whole elements per segment (8 bytes is the largest element): a sink reduces each segment on its own.
    this.segmentBytes = Math.max(8, (opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES) & ~7)
    this.secret = opts.secret ?? ''
    this.heartbeatTimeoutMs = opts.heartbeatTimeoutMs
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
    this.control = new ControlChannel(this.rank, this.size, (peer, frames) => this.pushTo(peer, frames))
    this.inbound = new Inbound({
      rank: this.rank,
      size: this.size,
      matcher: this.matcher,
      control: this.control,
      shm: this.shm,
      acks: this.acks,
      link: (peer) => this.links[peer],
      pushTo: (peer, frames) => this.pushTo(peer, frames),
      pushNow: (peer, frames) => this.pushTo(peer, frames, true),
    })
    if (pull) void this.receiveLoop(pull)
  }

  handle(handlers: ControlHandlers): void {
    this.control.handlers = handlers
  }

  /** Binds this rank's receive socket. A world of one binds nothing. */
  static async create(opts: ZmqTransportOptions): Promise<ZmqTransport> {
    const address: PeerAddress = { rank: opts.rank, host: opts.host, pid: process.pid }
    if (opts.size === 1) return new ZmqTransport(opts, undefined, address)
    const t = new ZmqTransport(opts, await bindPull(opts, address), address)
    // Ranks of one host talk over unix-domain streams unless a ZeroMQ transport is asked for by name.
    if (opts.jobDir && (opts.kind ?? 'auto') === 'auto') {
      const path = unixPath(opts.jobDir, opts.rank)
      const onFrames = (source: number, frames: Buffer[]) => t.inbound.onFrames(frames, source)
      t.unix = await listenUnix(path, opts.secret ?? '', opts.size, onFrames, () => t.inbound.dropped++).catch((err: Error) => {
        t.close()
        throw new TransportError(`rank ${opts.rank}: could not listen on ${path}: ${err.message}`, { cause: err })
      })
      address.unix = path
    }
    return t
  }

  /** Connects a PUSH socket to every peer. `peers[r]` is rank r's published address. */
  connect(peers: PeerAddress[]): void {
    for (const peer of peers) {
      if (peer.rank === this.rank) continue
      const endpoint = endpointFor(this.address, peer, this.kind, this.rank, this.encrypt)
      const settled = () => this.closed || this.failure !== undefined || this.control.hasFin(peer.rank)
      const lost = (why: string, kind?: LossKind) => this.fail(lostPeer(this.rank, peer, why, kind))
      let queue: FrameQueue
      if (this.unix && peer.unix && peer.host === this.address.host) {
        const { writer, socket } = connectUnix(peer.unix, this.rank, this.secret, (why) => suspectPeer(settled, lost, why))
        this.unixSockets.push(socket)
        queue = writer
      } else {
        const push = pushSocket(peer, this.secret, this.curveClient, this.heartbeatTimeoutMs)
        watchPeer(peer, push, settled, lost, this.heartbeatTimeoutMs)
        push.connect(endpoint)
        this.pushes[peer.rank] = push
        queue = new SendQueue(push, (err) =>
          this.fail(new TransportError(`rank ${this.rank}: sending to rank ${peer.rank} failed: ${err.message}`, { cause: err })),
        )
      }
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
    const { coll, op, root, count } = sig
    const header: Header = { commId, tag, source: this.rank, dtype, kind: KIND_DATA, flags: 0, seq, bytes, coll, op, root, count }
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
    return this.acks.wait(peer, seq)
  }

  recv(commId: number, source: number, tag: number, opts?: ReceiveOptions): Promise<Message> {
    return this.matcher.receive(commId, source, tag, opts)
  }
  probe = (commId: number, source: number, tag: number, opts?: ReceiveOptions) => this.matcher.probe(commId, source, tag, opts)
  iprobe = (commId: number, source: number, tag: number) => this.matcher.peek(commId, source, tag)

  busy(): boolean {
    if (this.closed) return false
    return this.matcher.depth.posted > 0 || this.acks.size > 0 || this.control.pendingQueries > 0 || this.links.some((l) => l?.pending)
  }

  query(peers: number[], commId: number, timeoutMs: number): Promise<Map<number, number | undefined>> {
    return this.control.query(peers, (p) => this.links[p] !== undefined, commId, timeoutMs)
  }

  notify = (peers: number[], commId: number, info: unknown) => this.control.notify(peers, commId, info)
  failComm = (commId: number, err: Error) => this.matcher.failComm(commId, err)

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
    this.unix?.close()
    for (const s of this.unixSockets) s.destroy()
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
    this.acks.fail(err)
    for (const l of this.links) l?.fail(err)
  }

  /** Queues frames for `peer` in order (or, `now`, ahead of a waiting backlog), held until we are connected. */
  private pushTo(peer: number, frames: Buffer[], now = false): void {
    const link = this.links[peer]
    if (link) return now ? link.pushNow(frames) : link.push(frames)
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
      this.inbound.onFrames(frames)
    }
  }
}
