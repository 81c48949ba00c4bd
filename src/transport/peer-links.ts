/**
 * The links of a rank to its peers, opened when first used (as Open MPI's lazy add_procs and NCCL's lazy
 * connections do), not at init: a job talks to its ring and tree neighbours, so a rank of a thousand-rank job
 * holds a handful of connections, not a thousand.
 * - A peer's link opens on the first frame sent to it, and on the first receive posted for it (so a rank that
 *   waits on a peer watches it: a lost peer is found within the heartbeat bound by the ranks waiting on it).
 * - A new pipe says HELLO (a doorbell frame, harmless to the peer), and a rank that hears from a peer it has no
 *   link to opens one back: links come in pairs, so both ends know each other.
 * - The ranks of one host are all linked at connect (shared memory and a unix stream each): a host has few
 *   ranks, and a closed stream finds a local rank's crash at once. Only links across hosts wait for first use.
 * - A peer of another host may be known by its place only (bootstrap/rendezvous.ts): its pipe is made at once
 *   and holds what is pushed while the addresses of that host's ranks are fetched, in one request per host.
 * The linked peers are the ones finalize exchanges FIN with (control.ts expectFin).
 */
import type { Socket } from 'node:net'
import { TransportError } from '../errors.ts'
import { isOutOfFiles, outOfFilesLine } from '../native/file-limit.ts'
import { encodeHeader, KIND_DOORBELL } from './framing.ts'
import type { FrameQueue } from './frame-queue.ts'
import type { Link } from './peer-link.ts'
import { PipeLink } from './peer-link.ts'
import { HeldQueue } from './held-queue.ts'
import { openPipe, type PipeContext } from './pipes.ts'
import { isAddress, NO_SIGNATURE, type AddressFetch, type PeerAddress, type PeerPlace } from './transport.ts'

export interface PeerLinksContext {
  rank: number
  /** How pipes to peers are opened, per peer (pipes.ts). */
  pipe: (peer: PeerAddress) => PipeContext
  /** A peer was linked (its link opened, or its shared memory mapped): finalize waits for its FIN. */
  linked: (peer: number) => void
  /** The transport cannot go on (a peer's address could not be fetched, or no socket could be made). */
  fail: (err: Error) => void
}

export class PeerLinks {
  /** What each peer's messages go through: its shared-memory queue, or a pipe. */
  readonly links: (Link | undefined)[] = []
  /** The pipe to each peer (for a peer with shared memory: its doorbell, and control frames too large for a cell). */
  readonly pipes: (PipeLink | undefined)[] = []
  /** 1 for a peer we are linked to (hot path: one load), else 0. */
  readonly isLinked: Uint8Array

  private readonly c: PeerLinksContext
  private peers: PeerPlace[] | undefined
  private fetch: AddressFetch | undefined
  /** Addresses being fetched, by host. */
  private readonly fetching = new Map<string, Promise<void>>()
  private readonly sockets: Socket[] = []
  /** Frames for peers whose addresses we do not know yet: an ACK for a message that arrived during our rendezvous. */
  private readonly early = new Map<number, Buffer[][]>()
  private readonly hello: Buffer
  /** Peers heard from before the rendezvous ended: linked back once their addresses are known. */
  private readonly heard = new Set<number>()
  private closed = false

  constructor(size: number, c: PeerLinksContext) {
    this.c = c
    this.isLinked = new Uint8Array(size)
    this.hello = encodeHeader({ commId: 0, tag: 0, source: c.rank, dtype: 0, kind: KIND_DOORBELL, flags: 0, seq: 0, bytes: 0, ...NO_SIGNATURE })
  }

  /** True once the peers' addresses are known (after the rendezvous). */
  get known(): boolean {
    return this.peers !== undefined
  }

  /** The rendezvous is done: `peers[r]` is rank r's address, or its place and `fetch` gets it. Sends what was held. */
  setPeers(peers: readonly PeerPlace[], fetch?: AddressFetch): void {
    this.peers = peers.slice()
    this.fetch = fetch
    for (const [peer, held] of this.early) for (const frames of held) this.push(peer, frames)
    this.early.clear()
    for (const peer of this.heard) this.watch(peer)
    this.heard.clear()
  }

  /** Links `peer` through `link` (its shared memory), keeping a pipe that may open later beside it. */
  attach(peer: number, link: Link): void {
    this.links[peer] = link
    this.mark(peer)
  }

  /** The link to `peer`, opened now if there is none. Undefined before the rendezvous. */
  link(peer: number): Link | undefined {
    return this.links[peer] ?? (this.peers && !this.closed ? this.openPipe(peer) : undefined)
  }

  /** The pipe to `peer`, opened now if there is none (the peer's address must be known). */
  pipe(peer: number): PipeLink {
    return this.pipes[peer] ?? this.openPipe(peer)
  }

  /** Makes sure we are linked to `peer` (a receive waits on it, or it said HELLO). */
  watch(peer: number): void {
    if (this.isLinked[peer] !== 0 || this.closed || peer === this.c.rank) return
    if (this.peers) this.openPipe(peer)
    else this.heard.add(peer)
  }

  /** Queues frames for `peer` in order, held until its address is known. */
  push(peer: number, frames: Buffer[]): void {
    const link = this.link(peer)
    if (link) return link.push(frames)
    const held = this.early.get(peer)
    if (held) held.push(frames)
    else this.early.set(peer, [frames])
  }

  /** Peers we are linked to. */
  linkedPeers(): number[] {
    const out: number[] = []
    for (let r = 0; r < this.isLinked.length; r++) if (this.isLinked[r]) out.push(r)
    return out
  }

  /** True while something pushed has not been handed over. */
  get pending(): boolean {
    return this.links.some((l) => l?.pending) || this.pipes.some((l) => l?.pending)
  }

  async drained(): Promise<void> {
    await Promise.all(this.links.map((l) => l?.drained()))
    await Promise.all(this.pipes.map((l) => l?.drained()))
  }

  fail(err: Error): void {
    for (const l of this.links) l?.fail(err)
  }

  close(): void {
    this.closed = true
    for (const s of this.sockets) s.destroy()
  }

  private openPipe(peer: number): PipeLink {
    const known = this.peers![peer]!
    let queue: FrameQueue
    if (isAddress(known)) queue = this.open(known)
    else {
      const held = new HeldQueue()
      queue = held
      this.addressOf(known).then(
        (address) => {
          if (this.closed) return held.drop()
          try {
            held.release(this.open(address))
          } catch (err) {
            held.drop()
            this.c.fail(err as Error)
          }
        },
        (err: Error) => {
          held.drop()
          this.c.fail(
            new TransportError(`rank ${this.c.rank}: cannot link to rank ${peer} (host ${known.host}): its address could not be fetched: ${err.message}`, {
              cause: err,
            }),
          )
        },
      )
    }
    const pipe = new PipeLink(queue)
    this.pipes[peer] = pipe
    this.links[peer] ??= pipe
    pipe.push([this.hello])
    this.mark(peer)
    return pipe
  }

  private open(address: PeerAddress): FrameQueue {
    let opened: ReturnType<typeof openPipe>
    try {
      opened = openPipe(this.c.pipe(address), address)
    } catch (err) {
      // ZeroMQ cannot make the socket: say so in one line, not from deep inside.
      if (isOutOfFiles(err)) throw new TransportError(outOfFilesLine(this.c.rank, address.rank), { cause: err })
      throw err
    }
    if (opened.socket) this.sockets.push(opened.socket)
    return opened.queue
  }

  /** `place`'s address, once the addresses of every rank of its host still known by place only are fetched. */
  private async addressOf(place: PeerPlace): Promise<PeerAddress> {
    let fetching = this.fetching.get(place.host)
    if (!fetching) {
      const peers = this.peers!
      const ranks = peers.filter((p) => p.host === place.host && !isAddress(p)).map((p) => p.rank)
      if (!this.fetch) throw new Error('no way to fetch addresses was given')
      fetching = this.fetch(ranks).then((addresses) => {
        for (const a of addresses) peers[a.rank] = a
      })
      this.fetching.set(place.host, fetching)
    }
    await fetching
    const address = this.peers![place.rank]!
    if (!isAddress(address)) throw new Error(`the store has no address for rank ${place.rank}`)
    return address
  }

  private mark(peer: number): void {
    if (this.isLinked[peer]) return
    this.isLinked[peer] = 1
    this.c.linked(peer)
  }
}
