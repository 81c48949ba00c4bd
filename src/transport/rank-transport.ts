/**
 * A rank's transport, both planes of transport.ts, choosing per peer how to reach it: ranks of this host that
 * both have shared memory through the intra-host transport (shm/: frames inline in cells of the peer's queue,
 * large messages in this rank's fragments; the unix stream only rings a sleeping peer's doorbell), other ranks
 * of this host over a unix stream (unix/), ranks of other hosts (or all, with --transport ipc|tcp) through the
 * inter-host transport (zmq/, pipes.ts: small messages eager, large ones zero-copy and acknowledged). Whatever
 * arrives goes through one receive path (inbound.ts). `finalize` sends FIN after all data and waits for every
 * peer's FIN (per-pair FIFO: a peer's messages have all arrived when its FIN has). A connection that closes before
 * the peer's FIN, unanswered heartbeats or a peer never reached fail every operation with PeerLostError.
 */
import { DEFAULT_SEGMENT_BYTES } from '../constants.ts'
import { FinalizedError, TransportError } from '../errors.ts'
import { native } from '../native/native.ts'
import { encodeHeader, HEADER_BYTES, KIND_DATA, KIND_DOORBELL, type Header } from './framing.ts'
import { Matcher } from './matcher.ts'
import { IntraHost } from './shm/intra-host.ts'
import { CELL_FRAME_BYTES } from './shm/segment.ts'
import { ShmLink } from './shm/shm-link.ts'
import { COPY_MAX_BYTES, sendOnPipe, type PipeContext } from './pipes.ts'
import { listenUnix, unixPath, type UnixListener } from './unix/unix-peers.ts'
import { NO_SIGNATURE, type ControlHandlers, type Message, type PeerAddress, type ReceiveOptions, type Signature, type Transport } from './transport.ts'
import type { AddressFetch, PeerPlace } from './transport.ts'
import { ControlChannel } from './control.ts'
import { Inbound } from './inbound.ts'
import type { TransportOptions } from './options.ts'
import type { Link } from './peer-link.ts'
import { PeerLinks } from './peer-links.ts'
import { PendingAcks } from './pending-acks.ts'
import { reportShmOff } from './shm/report.ts'
import { stopZapHandler } from './zmq/auth.ts'
import { lostPeer } from './zmq/peer-watch.ts'
import { Outbox } from './zmq/outbox.ts'
import { bindInbox, curveKeys, receiveAll, type InboxSocket } from './zmq/sockets.ts'
export type { TransportOptions }

export class RankTransport implements Transport {
  readonly rank: number
  readonly size: number
  /** What this rank publishes for its peers. */
  readonly address: PeerAddress
  /** Frames dropped because they were malformed (counted, never fatal). */
  get droppedFrames(): number {
    return this.inbound.dropped + (this.intra?.inbox.dropped ?? 0)
  }
  /**
   * Messages sent by each path: one eager frame on a pipe, one shared-memory cell, shared-memory fragments,
   * zero-copy segments with an ACK; and the doorbells rung (frames on a pipe that wake a sleeping local peer).
   */
  readonly sent = { eager: 0, cell: 0, shm: 0, zeroCopy: 0, doorbells: 0 }

  private readonly segmentBytes: number
  /** How pipes to peers are opened (pipes.ts). */
  private readonly pipeOpts: Omit<PipeContext, 'unix' | 'settled' | 'lost' | 'fail' | 'outbox'>
  private readonly pull: InboxSocket | undefined
  private outbox: Outbox | undefined // toward other hosts' ranks, made when the first of them is linked
  /** The links to peers, opened when first used. */
  private readonly peers: PeerLinks
  private readonly links: (Link | undefined)[]
  private readonly intra: IntraHost | undefined
  /** This rank's unix-domain listener. */
  private unix: UnixListener | undefined
  private readonly nextSeq: Uint32Array
  private readonly acks = new PendingAcks()
  private readonly matcher = new Matcher()
  private readonly fromHost = (source: number): boolean => this.intra?.isPeer(source) ?? false // worth polling shm for
  /** @internal */
  readonly inbound: Inbound
  private readonly control: ControlChannel
  private failure: Error | undefined
  private closed = false
  private finalizing = false

  private constructor(opts: TransportOptions, pull: InboxSocket | undefined, address: PeerAddress) {
    this.rank = opts.rank
    this.size = opts.size
    // Whole elements per segment (8 bytes is the largest element): a sink reduces each segment on its own.
    this.segmentBytes = Math.max(8, (opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES) & ~7)
    const encrypt = opts.encrypt ?? false
    const curveClient = encrypt ? curveKeys() : undefined
    this.pipeOpts = {
      rank: opts.rank,
      address,
      kind: opts.kind ?? 'auto',
      secret: opts.secret ?? '',
      encrypt,
      curveClient,
      heartbeatTimeoutMs: opts.heartbeatTimeoutMs,
    }
    this.pull = pull
    this.address = address
    const n = pull && opts.shmDir ? native() : undefined
    const intra =
      n &&
      IntraHost.create(n, {
        ...opts,
        dir: opts.shmDir!,
        localSize: opts.localSize ?? 1,
        budget: opts.shmBytes,
        onFrame: (f) => this.inbound.onFrames([f]),
        waiting: () => this.matcher.waitsOn(this.fromHost),
      })
    if (typeof intra === 'string') address.shmOff = intra
    else if (intra) address.shm = true
    this.intra = typeof intra === 'string' ? undefined : intra
    this.nextSeq = new Uint32Array(opts.size)
    this.control = new ControlChannel(this.rank, this.size, (peer, frames) => this.pushTo(peer, frames))
    this.peers = new PeerLinks(opts.size, {
      rank: opts.rank,
      pipe: (peer) => ({
        ...this.pipeOpts,
        unix: this.unix !== undefined,
        outbox: () => (this.outbox ??= new Outbox(this.rank, this.pipeOpts.secret, curveClient, opts.heartbeatTimeoutMs, (e) => this.fail(e))),
        settled: () => this.closed || this.failure !== undefined || this.control.hasFin(peer.rank),
        lost: (why, kind) => this.fail(lostPeer(this.rank, peer, why, kind)),
        fail: (err) => this.fail(err),
      }),
      linked: (peer) => {
        this.control.expectFin(peer)
        if (this.finalizing) this.peers.push(peer, this.control.fin())
      },
      fail: (err) => this.fail(err),
    })
    this.links = this.peers.links
    this.inbound = new Inbound({
      rank: this.rank,
      size: this.size,
      matcher: this.matcher,
      control: this.control,
      shm: () => this.intra?.inbox,
      acks: this.acks,
      pushTo: (peer, frames) => this.pushTo(peer, frames),
      doorbell: () => this.intra?.doorbell(),
      linked: this.peers.isLinked,
      heard: (peer) => this.peers.watch(peer),
    })
    const failed = (err: Error) => this.closed || this.fail(new TransportError(`rank ${this.rank}: receive failed: ${err.message}`, { cause: err }))
    if (pull) void receiveAll(pull, (frames) => this.inbound.onFrames(frames), failed)
  }

  handle(handlers: ControlHandlers): void {
    this.control.handlers = handlers
  }

  /** Binds this rank's receive socket. A world of one binds nothing. */
  static async create(opts: TransportOptions): Promise<RankTransport> {
    const address: PeerAddress = { rank: opts.rank, host: opts.host, pid: process.pid }
    if (opts.size === 1) return new RankTransport(opts, undefined, address)
    const t = new RankTransport(opts, await bindInbox(opts, address), address)
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

  /**
   * The rendezvous is done: `peers[r]` is rank r's published address, or its place (`fetch` gets the address).
   * Links this host's ranks (shared memory and pipes); a link to a rank of another host opens when first used.
   */
  connect(peers: readonly PeerPlace[], fetch?: AddressFetch): void {
    this.peers.setPeers(peers, fetch)
    const local = peers.filter((p) => p.host === this.address.host) as PeerAddress[] // whole addresses (rendezvous.ts)
    reportShmOff(this.rank, local)
    // The pipes to this host's ranks open now: they are cheap, and they find a local rank's crash at once.
    for (const p of local) if (p.rank !== this.rank) this.peers.pipe(p.rank)
    if (this.intra) {
      const bell = [encodeHeader({ commId: 0, tag: 0, source: this.rank, dtype: 0, kind: KIND_DOORBELL, flags: 0, seq: 0, bytes: 0, ...NO_SIGNATURE })]
      const ring = (peer: number) => () => {
        this.sent.doorbells++
        this.peers.pipe(peer).push(bell)
      }
      const withShm = local.filter((p) => p.shm).map((p) => p.rank)
      const everyone = peers.every((p) => p.shm)
      try {
        for (const [peer, link] of this.intra.connect(withShm, ring, everyone)) this.peers.attach(peer, link)
      } catch (err) {
        throw new TransportError(`rank ${this.rank}: cannot map the shared memory of its host's ranks: ${(err as Error).message}`, { cause: err })
      }
    }
  }

  send(peer: number, commId: number, tag: number, dtype: number, payload: Uint8Array, sig: Signature = NO_SIGNATURE): Promise<void> {
    if (this.failure) return Promise.reject(this.failure)
    const bytes = payload.byteLength
    if (peer === this.rank) {
      // To ourselves: a copy, so the caller may reuse its buffer at once, as with any small send.
      this.matcher.deliver({ commId, source: this.rank, tag, dtype, payload: payload.slice() })
      return RESOLVED
    }
    const link = this.links[peer] ?? this.peers.link(peer)!
    const seq = this.nextSeq[peer]++
    // Only the signature's fields: a caller's richer object (with its own dtype) must not override ours.
    const { coll, op, root, count } = sig
    const header: Header = { commId, tag, source: this.rank, dtype, kind: KIND_DATA, flags: 0, seq, bytes, coll, op, root, count }
    if (link instanceof ShmLink) {
      if (bytes + HEADER_BYTES <= CELL_FRAME_BYTES) this.sent.cell++
      else this.sent.shm++
      return link.send(header, payload) ?? RESOLVED
    }
    if (bytes <= COPY_MAX_BYTES) this.sent.eager++
    else this.sent.zeroCopy++
    return sendOnPipe(link, header, payload, this.segmentBytes) ? this.acks.wait(peer, seq) : RESOLVED
  }

  recv(commId: number, source: number, tag: number, opts?: ReceiveOptions): Promise<Message> {
    if (source >= 0 && this.peers.isLinked[source] === 0) this.peers.watch(source)
    return this.waitFor(this.matcher.receive(commId, source, tag, opts))
  }

  probe(commId: number, source: number, tag: number, opts?: ReceiveOptions): Promise<Message> {
    return this.waitFor(this.matcher.probe(commId, source, tag, opts))
  }

  iprobe(commId: number, source: number, tag: number): Message | undefined {
    this.intra?.drain()
    return this.matcher.peek(commId, source, tag)
  }

  /**
   * What shared memory holds already is taken once the script's synchronous code is done (a microtask), and a
   * receive still waiting then makes the rank poll for it. Not at once: an algorithm posts several receives in a
   * row, and a message taken before its receive is posted is copied twice, into memory of its own first.
   */
  private waitFor(p: Promise<Message>): Promise<Message> {
    this.intra?.soon()
    return p
  }

  busy(): boolean {
    if (this.closed) return false
    return this.matcher.depth.posted > 0 || this.acks.size > 0 || this.control.pendingQueries > 0 || this.peers.pending
  }

  query(peers: number[], commId: number, timeoutMs: number): Promise<Map<number, number | undefined>> {
    return this.control.query(peers, () => this.peers.known, commId, timeoutMs)
  }

  notify = (peers: number[], commId: number, info: unknown) => this.control.notify(peers, commId, info)
  failComm = (commId: number, err: Error) => {
    this.matcher.failComm(commId, err)
    this.intra?.fail(err, commId)
  }
  hostCollectives = (commId: number) => (this.failure ? undefined : this.intra?.hostCollectives(commId))

  async finalize(timeoutMs?: number): Promise<void> {
    if (this.closed) return
    // FIN to every linked peer, and to any linked while we wait (PeerLinks' `linked`).
    this.finalizing = true
    const fin = this.control.fin()
    for (const peer of this.peers.linkedPeers()) this.peers.push(peer, fin)
    // After a failure there is nobody to wait for: finalize just cleans up (the failure was reported already).
    if (!this.failure) await this.control.waitForFins(timeoutMs)
    await this.peers.drained()
    this.close()
  }

  finalizeMissing = (): number[] => this.control.finalizeMissing()

  close(): void {
    if (this.closed) return
    this.closed = true
    this.pull?.close()
    this.peers.close()
    this.outbox?.close()
    this.unix?.close()
    if (this.pipeOpts.secret || this.pipeOpts.encrypt) stopZapHandler()
    this.intra?.close()
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
    this.intra?.fail(err)
    this.acks.fail(err)
    this.peers.fail(err)
  }

  /** Queues frames for `peer` in order, held until we know its address; one too large for a cell takes the pipe. */
  private pushTo(peer: number, frames: Buffer[]): void {
    const link = this.links[peer]
    if (link instanceof ShmLink && frames[0]!.length + (frames[1]?.length ?? 0) > CELL_FRAME_BYTES) return this.peers.pipe(peer).push(frames)
    this.peers.push(peer, frames)
  }
}

const RESOLVED = Promise.resolve()
