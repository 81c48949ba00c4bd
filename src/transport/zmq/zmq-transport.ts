/**
 * ZeroMQ transport. Each rank binds one PULL socket (ipc:// and/or tcp://) and connects one PUSH socket to
 * every peer, so each ordered pair of ranks has its own FIFO pipe and its own send queue.
 *
 * Protocol, per message:
 * 1. Small messages (<= COPY_MAX_BYTES) are copied into a fresh buffer and `send` resolves at once (eager).
 * 2. Larger ones are sent from the caller's memory, zero-copy, as segments of `segmentBytes` (several
 *    segments in flight go much faster than one huge frame through zeromq.js, see shared/anchors). The
 *    receiver reassembles them and replies with an ACK; `send` resolves on the ACK, because ZeroMQ reads the
 *    caller's memory until the bytes are written out and the caller must not change them before.
 * 3. `finalize` sends FIN to every peer after all data and waits for FIN from every peer: per-pair FIFO order
 *    means that all of a peer's messages have arrived when its FIN has.
 * 4. Peer loss, without help from a launcher: each PUSH socket is watched. A connection that closes before the
 *    peer's FIN arrived (crash, kill -9, exit without finalize), ZMTP heartbeats that go unanswered (dead host),
 *    or a peer never reachable after the rendezvous fail every pending and later operation with PeerLostError
 *    (gloo's IoException contract: the communicator is unusable afterwards).
 */
import * as zmq from 'zeromq'
import { FinalizedError, PeerLostError, TransportError, TimeoutError } from '../../errors.ts'
import {
  decodeHeader,
  encodeHeader,
  FLAG_WANT_ACK,
  KIND_ACK,
  KIND_CONT,
  KIND_DATA,
  KIND_FIN,
  KIND_MISMATCH,
  KIND_QUERY,
  KIND_STATUS,
  NO_SIGNATURE,
  type Signature,
  type Header,
} from '../framing.ts'
import { fulfil, Matcher, type Message, type Posted, type ReceiveOptions } from '../matcher.ts'
import type { Transport } from '../transport.ts'
import { PLAIN_USER, startZapHandler, stopZapHandler, ZAP_DOMAIN } from './auth.ts'
import { bindEndpoints, chooseEndpoint, type PeerAddress, type TransportKind } from './endpoints.ts'
import { SendQueue } from './send-queue.ts'

/** Messages up to this size are copied and sent eagerly; larger ones are zero-copy and acknowledged. */
export const COPY_MAX_BYTES = 64 * 1024
/** Default size of one segment of a large message. */
export const DEFAULT_SEGMENT_BYTES = 1024 * 1024
/** How long closing sockets may keep trying to deliver queued frames. */
const LINGER_MS = 2000
/** A closed connection counts as a lost peer if the peer's FIN has not arrived this much later. */
const FIN_GRACE_MS = 500
/** A peer never reached this long after connecting is lost. */
const CONNECT_LOST_MS = 5000
/** ZMTP heartbeats: a peer whose host stops answering for HEARTBEAT_TIMEOUT_MS is lost (a busy or slow
 *  peer still answers: heartbeats are handled by ZeroMQ's I/O thread, not by JavaScript). */
const HEARTBEAT_INTERVAL_MS = 2000
const HEARTBEAT_TIMEOUT_MS = 30_000

const EMPTY = Buffer.alloc(0)

export interface ZmqTransportOptions {
  rank: number
  size: number
  host: string
  /** Private per-job directory for ipc socket files. */
  jobDir?: string
  kind?: TransportKind
  multiHost?: boolean
  /** Address to bind tcp:// on (default 127.0.0.1). */
  tcpAddress?: string
  segmentBytes?: number
  /** Job secret: every connection to this rank must present it (PLAIN), unless it is empty. */
  secret?: string
  /** Use CURVE (authenticated and encrypted) instead of PLAIN. */
  encrypt?: boolean
}

interface Assembly {
  header: Header
  /** Where the segments go: the claimed receive's buffer, or a fresh one for an unexpected message. */
  buf: Uint8Array
  offset: number
  /** The receive this message was matched with on its first segment, if one was posted. */
  posted: Posted | undefined
}

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

  private readonly kind: TransportKind
  private readonly segmentBytes: number
  private readonly secret: string
  private readonly encrypt: boolean
  private readonly curveClient: { publicKey: string; secretKey: string } | undefined
  private readonly pull: zmq.Pull | undefined
  private readonly pushes: (zmq.Push | undefined)[] = []
  private readonly queues: (SendQueue | undefined)[] = []
  private readonly nextSeq: Uint32Array
  private readonly assembling: (Assembly | undefined)[] = []
  private readonly acks = new Map<number, PendingAck>()
  private readonly matcher = new Matcher()
  private readonly finsFrom = new Set<number>()
  statusOf: (commId: number) => number | undefined = () => undefined
  onCollective: ((commId: number, tag: number, source: number, sig: Signature & { dtype: number }) => void) | undefined
  onMismatch: ((commId: number, source: number, info: unknown) => void) | undefined
  private readonly queries = new Map<number, { answers: Map<number, number | undefined>; waiting: Set<number>; done: () => void }>()
  private nextQuery = 1
  /** Frames for peers we are not connected to yet: an ACK for a message that arrived during our rendezvous. */
  private readonly early = new Map<number, Buffer[][]>()
  private finWaiter: ((err?: Error) => void) | undefined
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
    this.nextSeq = new Uint32Array(opts.size)
    if (pull) void this.receiveLoop(pull)
  }

  /** Binds this rank's receive socket. A world of one binds nothing. */
  static async create(opts: ZmqTransportOptions): Promise<ZmqTransport> {
    const address: PeerAddress = { rank: opts.rank, host: opts.host, pid: process.pid }
    if (opts.size === 1) return new ZmqTransport(opts, undefined, address)
    const secured = Boolean(opts.secret) || Boolean(opts.encrypt)
    if (secured) await startZapHandler(opts.secret ?? '')
    const server = opts.encrypt ? zmq.curveKeyPair() : undefined
    const pull = new zmq.Pull({
      receiveHighWaterMark: 0,
      linger: 0,
      ...(secured ? { zapDomain: ZAP_DOMAIN, zapEnforceDomain: true } : {}),
      ...(server ? { curveServer: true, curveSecretKey: server.secretKey, curvePublicKey: server.publicKey } : secured ? { plainServer: true } : {}),
    })
    if (server) address.curve = server.publicKey
    const endpoints = bindEndpoints({
      rank: opts.rank,
      jobDir: opts.jobDir,
      kind: opts.kind ?? 'auto',
      multiHost: opts.multiHost ?? false,
      tcpAddress: opts.tcpAddress ?? '127.0.0.1',
    })
    try {
      for (const ep of endpoints) {
        await pull.bind(ep)
        const bound = pull.lastEndpoint ?? ep
        if (bound.startsWith('ipc://')) address.ipc = bound
        else address.tcp = bound
      }
    } catch (err) {
      pull.close()
      throw new TransportError(
        `rank ${opts.rank}: could not listen on ${endpoints.join(', ')}: ${(err as Error).message}`,
        { cause: err },
      )
    }
    return new ZmqTransport(opts, pull, address)
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
      const push = new zmq.Push({
        sendHighWaterMark: 0,
        linger: LINGER_MS,
        heartbeatInterval: HEARTBEAT_INTERVAL_MS,
        heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
        ...(this.curveClient
          ? { curveServerKey: peer.curve!, curvePublicKey: this.curveClient.publicKey, curveSecretKey: this.curveClient.secretKey }
          : this.secret
            ? { plainUsername: PLAIN_USER, plainPassword: this.secret }
            : {}),
      })
      this.watch(peer, push)
      push.connect(endpoint)
      this.pushes[peer.rank] = push
      const queue = new SendQueue(push, (err) =>
        this.fail(new TransportError(`rank ${this.rank}: sending to rank ${peer.rank} failed: ${err.message}`, { cause: err })),
      )
      this.queues[peer.rank] = queue
      for (const frames of this.early.get(peer.rank) ?? []) queue.push(frames)
      this.early.delete(peer.rank)
    }
  }

  /** Queues frames for `peer`, holding them until we are connected to it. */
  private pushTo(peer: number, frames: Buffer[]): void {
    const queue = this.queues[peer]
    if (queue) return queue.push(frames)
    const held = this.early.get(peer)
    if (held) held.push(frames)
    else this.early.set(peer, [frames])
  }

  send(peer: number, commId: number, tag: number, dtype: number, payload: Uint8Array, sig: Signature = NO_SIGNATURE): Promise<void> {
    if (this.failure) return Promise.reject(this.failure)
    const bytes = payload.byteLength
    if (peer === this.rank) {
      // To ourselves: a copy, so the caller may reuse its buffer at once, as with any small send.
      this.matcher.deliver({ commId, source: this.rank, tag, dtype, payload: payload.slice() })
      return Promise.resolve()
    }
    const queue = this.queues[peer]!
    const seq = this.nextSeq[peer]++
    const wantAck = bytes > COPY_MAX_BYTES
    // Only the signature's fields: a caller's richer object (with its own dtype) must not override ours.
    const header: Header = { commId, tag, source: this.rank, dtype, kind: KIND_DATA, flags: 0, seq, bytes, coll: sig.coll, op: sig.op, root: sig.root, count: sig.count }
    if (!wantAck) {
      queue.push([encodeHeader(header), bytes === 0 ? EMPTY : Buffer.from(payload)])
      return Promise.resolve()
    }
    header.flags = FLAG_WANT_ACK
    const view = Buffer.from(payload.buffer, payload.byteOffset, bytes)
    const seg = this.segmentBytes
    queue.push([encodeHeader(header), view.subarray(0, seg)])
    if (bytes > seg) {
      header.kind = KIND_CONT
      const cont = encodeHeader(header)
      for (let off = seg; off < bytes; off += seg) queue.push([cont, view.subarray(off, off + seg)])
    }
    return new Promise((resolve, reject) => this.acks.set(peer * 2 ** 32 + seq, { resolve, reject }))
  }

  busy(): boolean {
    if (this.closed) return false
    return this.matcher.depth.posted > 0 || this.acks.size > 0 || this.queries.size > 0 || this.queues.some((q) => q?.pending)
  }

  recv(commId: number, source: number, tag: number, opts?: ReceiveOptions): Promise<Message> {
    return this.matcher.receive(commId, source, tag, opts)
  }

  query(peers: number[], commId: number, timeoutMs: number): Promise<Map<number, number | undefined>> {
    const id = this.nextQuery++ >>> 0
    const answers = new Map<number, number | undefined>(peers.map((p) => [p, undefined]))
    const waiting = new Set(peers.filter((p) => p !== this.rank && this.queues[p]))
    for (const p of peers) if (p === this.rank) answers.set(p, this.statusOf(commId))
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.queries.delete(id)
        resolve(answers)
      }
      const timer = setTimeout(done, timeoutMs)
      if (waiting.size === 0) return done()
      this.queries.set(id, { answers, waiting, done })
      const q = encodeHeader({ commId, tag: 0, source: this.rank, dtype: 0, kind: KIND_QUERY, flags: 0, seq: id, bytes: 0, ...NO_SIGNATURE })
      for (const p of waiting) this.queues[p]!.push([q, EMPTY])
    })
  }

  /** Tells `peers` that collectives on `commId` no longer match (JSON `info`), best effort. */
  notifyMismatch(peers: number[], commId: number, info: unknown): void {
    const body = Buffer.from(JSON.stringify(info))
    const h = encodeHeader({ commId, tag: 0, source: this.rank, dtype: 0, kind: KIND_MISMATCH, flags: 0, seq: 0, bytes: body.length, ...NO_SIGNATURE })
    for (const p of peers) if (p !== this.rank) this.pushTo(p, [h, body])
  }

  /** Fails every pending and later receive on one communicator. */
  failComm(commId: number, err: Error): void {
    this.matcher.failComm(commId, err)
  }

  async finalize(timeoutMs?: number): Promise<void> {
    if (this.closed) return
    const fin = encodeHeader({ commId: 0, tag: 0, source: this.rank, dtype: 0, kind: KIND_FIN, flags: 0, seq: 0, bytes: 0, ...NO_SIGNATURE })
    for (const q of this.queues) q?.push([fin, EMPTY])
    // After a failure there is nobody to wait for: finalize just cleans up (the failure was reported already).
    if (this.finsFrom.size < this.size - 1 && !this.failure) {
      await new Promise<void>((resolve, reject) => {
        const timer =
          timeoutMs === undefined
            ? undefined
            : setTimeout(() => {
                this.finWaiter = undefined
                reject(
                  new TimeoutError(
                    `rank ${this.rank}: finalize waited ${timeoutMs} ms for ranks [${this.finalizeMissing().join(', ')}], which have ` +
                      `not called finalize(); every rank must call it (TSRUN_FINALIZE_TIMEOUT / --op-timeout set this limit)`,
                  ),
                )
              }, timeoutMs)
        this.finWaiter = (err?: Error) => {
          clearTimeout(timer)
          this.finWaiter = undefined
          if (err) reject(err)
          else resolve()
        }
      })
    }
    await Promise.all(this.queues.map((q) => q?.drained()))
    this.close()
  }

  finalizeMissing(): number[] {
    return [...Array(this.size).keys()].filter((r) => r !== this.rank && !this.finsFrom.has(r))
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.pull?.close()
    for (const p of this.pushes) p?.close()
    if (this.secret || this.encrypt) stopZapHandler()
    const err = this.failure ?? new FinalizedError(`rank ${this.rank}: the transport is closed (after finalize)`)
    this.matcher.fail(err)
    for (const a of this.acks.values()) a.reject(err)
    this.acks.clear()
  }

  /** Fails every pending and later operation with `err`. */
  fail(err: Error): void {
    if (this.failure) return
    this.failure = err
    this.finWaiter?.(err)
    this.matcher.fail(err)
    for (const a of this.acks.values()) a.reject(err)
    this.acks.clear()
  }

  /** Turns a connection that drops (or never comes up) before the peer's FIN into PeerLostError. */
  private watch(peer: PeerAddress, push: zmq.Push): void {
    const since = Date.now()
    let connected = false
    push.events.on('connect', () => {
      connected = true
    })
    push.events.on('disconnect', () => this.suspect(peer, 'its connection closed'))
    push.events.on('connect:retry', () => {
      if (!connected && Date.now() - since > CONNECT_LOST_MS) this.suspect(peer, `it could not be reached for ${CONNECT_LOST_MS / 1000} s`)
    })
  }

  private suspect(peer: PeerAddress, why: string): void {
    if (this.closed || this.failure || this.finsFrom.has(peer.rank)) return
    // Its FIN may still be on the way on the other socket: give it a moment.
    setTimeout(() => {
      if (this.closed || this.failure || this.finsFrom.has(peer.rank)) return
      this.fail(
        new PeerLostError(
          peer.rank,
          `rank ${this.rank}: lost rank ${peer.rank} (pid ${peer.pid}, host ${peer.host}): ${why} before it called ` +
            `finalize(); it crashed, was killed, or exited early. This rank cannot go on with the job.`,
        ),
      )
    }, FIN_GRACE_MS).unref()
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
    if (frames.length !== 2) return this.drop()
    const h = decodeHeader(frames[0], this.size)
    if (typeof h === 'string') return this.drop()
    const payload = frames[1]
    switch (h.kind) {
      case KIND_DATA: {
        if (h.coll !== 0 && h.tag < -1) this.onCollective?.(h.commId, h.tag, h.source, h)
        if (payload.length === h.bytes) return this.complete(h, payload, undefined)
        if (payload.length > h.bytes || this.assembling[h.source]) return this.drop()
        // First segment of a large message: match it now, so the rest goes straight into the receive's buffer.
        const posted = this.matcher.claim(h.commId, h.source, h.tag)
        let buf: Uint8Array
        try {
          buf = posted?.into && posted.into.byteLength >= h.bytes ? posted.into.subarray(0, h.bytes) : Buffer.allocUnsafe(h.bytes)
        } catch {
          posted?.reject(new TransportError(`rank ${this.rank}: no memory for a message of ${h.bytes} bytes from rank ${h.source}`))
          return this.drop()
        }
        buf.set(payload, 0)
        this.assembling[h.source] = { header: h, buf, offset: payload.length, posted }
        return
      }
      case KIND_CONT: {
        const a = this.assembling[h.source]
        if (!a || a.header.seq !== h.seq || a.offset + payload.length > a.buf.byteLength) return this.drop()
        a.buf.set(payload, a.offset)
        a.offset += payload.length
        if (a.offset === a.buf.byteLength) {
          this.assembling[h.source] = undefined
          this.complete(a.header, a.buf, a.posted)
        }
        return
      }
      case KIND_ACK: {
        const key = h.source * 2 ** 32 + h.seq
        const pending = this.acks.get(key)
        if (!pending) return this.drop()
        this.acks.delete(key)
        return pending.resolve()
      }
      case KIND_QUERY: {
        const count = this.statusOf(h.commId)
        const answer = encodeHeader({ ...h, source: this.rank, kind: KIND_STATUS, bytes: count === undefined ? 0 : count + 1 })
        return this.pushTo(h.source, [answer, EMPTY])
      }
      case KIND_STATUS: {
        const q = this.queries.get(h.seq)
        if (!q || !q.waiting.has(h.source)) return this.drop()
        q.waiting.delete(h.source)
        // bytes carries count + 1; 0 means "I do not know this communicator (yet)".
        q.answers.set(h.source, h.bytes === 0 ? -1 : h.bytes - 1)
        if (q.waiting.size === 0) q.done()
        return
      }
      case KIND_MISMATCH: {
        let info: unknown
        try {
          info = JSON.parse(payload.toString())
        } catch {
          return this.drop()
        }
        try {
          this.onMismatch?.(h.commId, h.source, info)
        } catch {
          this.drop() // a malformed report must not take the rank down
        }
        return
      }
      case KIND_FIN:
        this.finsFrom.add(h.source)
        if (this.finsFrom.size === this.size - 1) this.finWaiter?.()
        return
    }
  }

  private complete(h: Header, payload: Uint8Array, posted: Posted | undefined): void {
    if (h.flags & FLAG_WANT_ACK) {
      // A peer that is faster through the rendezvous can send to us before we have connected back to it.
      const ack = encodeHeader({ ...h, source: this.rank, kind: KIND_ACK, flags: 0, bytes: 0 })
      this.pushTo(h.source, [ack, EMPTY])
    }
    const m: Message = { commId: h.commId, source: h.source, tag: h.tag, dtype: h.dtype, payload }
    if (posted) fulfil(posted, m)
    else this.matcher.deliver(m)
  }

  private drop(): void {
    this.droppedFrames++
  }
}
