/**
 * What communicators, collectives and the bootstrap see of a transport, split as Horovod splits its runtime:
 * a data plane that moves tagged messages (send, receive, match) and a control plane that moves facts about
 * the job (how far each peer is, mismatch notices, the finalize handshake). rank-transport.ts implements both
 * over shared memory (shm/), unix streams (unix/) and ZeroMQ (zmq/, the only folder that knows ZeroMQ). The types every layer shares live here.
 */

/** Receive from any source (MPI_ANY_SOURCE). */
export const ANY_SOURCE = -1
/** The null process (MPI_PROC_NULL): a send to it or a receive from it completes at once and moves nothing. */
export const PROC_NULL = -2
/** Receive with any tag >= 0 (MPI_ANY_TAG). Never matches the negative tags that collectives use. */
export const ANY_TAG = -1

/** How ranks reach each other: ipc:// on one host, tcp:// across hosts, or chosen per peer (auto). */
export type TransportKind = 'auto' | 'ipc' | 'tcp'

/** What a rank publishes to the others through the rendezvous store. */
export interface PeerAddress {
  rank: number
  host: string
  pid: number
  ipc?: string
  tcp?: string
  /** CURVE public key of the rank's receive socket (with --encrypt). */
  curve?: string
  /** True if the rank has a shared-memory segment (a receive queue and fragments) for the ranks of its host. */
  shm?: boolean
  /** Why it has none, where it tried (budget too small, /dev/shm full): its host's lowest rank says so once. */
  shmOff?: string
  /** Unix-domain socket for ranks on its host (transport/unix). */
  unix?: string
}

/** What a collective message says about the call that sent it, so that ranks can compare calls. */
export interface Signature {
  /** Collective code (comm/signature.ts); 0 for point to point. */
  coll: number
  op: number
  /** 0xffff: no root. */
  root: number
  /** -1: not known to every rank (scatter's non-roots, JSON values). */
  count: number
}

/** The signature of a point-to-point message. */
export const NO_SIGNATURE: Signature = { coll: 0, op: 0, root: 0xffff, count: -1 }

/** A whole message as delivered by a transport. `source` is the sender's world rank. */
export interface Message {
  commId: number
  source: number
  tag: number
  dtype: number
  payload: Uint8Array
}

/**
 * Where a receive's bytes go as they arrive, segment by segment, instead of into a buffer: the reducing
 * receives of the collectives combine each segment straight from the transport's memory (a ZeroMQ frame or a
 * shared-memory slot), so a large message is reduced while its later segments are still on the way.
 */
export interface Sink {
  /** The message must have exactly this many bytes of this element type; another is a mismatch (UsageError). */
  bytes: number
  dtype: number
  /** Takes `segment`, the message's bytes from `offset`; the memory is only valid during the call. */
  write(segment: Uint8Array, offset: number): void
}

/** Options of a receive. */
export interface ReceiveOptions {
  timeoutMs?: number
  /** Write the message here; the resolved payload is a view of its first `bytes` bytes. */
  into?: Uint8Array
  /** Hand the message to this sink instead (see Sink); the resolved payload is then empty. */
  sink?: Sink
  /** Builds the timeout message lazily, so the hot path builds no strings. */
  describeWait?: () => string
}

/** Moves tagged messages between world ranks. */
export interface DataPlane {
  /** This process's rank in the world. */
  readonly rank: number
  /** Number of ranks in the world. */
  readonly size: number
  /**
   * Sends `payload` to world rank `peer`. Resolves when `payload` may be modified again: at once for small
   * messages (copied); for large ones to a rank of this host once the last segment is copied into shared
   * memory; for large ones sent from the caller's memory (another host, or no shared memory) on the
   * receiver's acknowledgement.
   */
  send(peer: number, commId: number, tag: number, dtype: number, payload: Uint8Array, sig?: Signature): Promise<void>
  /**
   * Resolves with the earliest message that matches; ANY_SOURCE / ANY_TAG are wildcards. With `into`, the
   * message is written into that buffer and the payload is a view of it.
   */
  recv(commId: number, source: number, tag: number, opts?: ReceiveOptions): Promise<Message>
  /**
   * Resolves with the envelope of the earliest matching message once it has arrived, leaving it to be received
   * (MPI_Probe); its payload must not be kept.
   */
  probe(commId: number, source: number, tag: number, opts?: ReceiveOptions): Promise<Message>
  /** The earliest matching message that has arrived, left to be received; undefined if none (MPI_Iprobe). */
  iprobe(commId: number, source: number, tag: number): Message | undefined
  /** Fails every pending and later receive on one communicator. */
  failComm(commId: number, err: Error): void
  /** True while an operation is under way: a posted receive, a send not yet acknowledged or handed over. */
  busy(): boolean
}

/** What a rank's communicators tell the control plane, and hear from it. */
export interface ControlHandlers {
  /** How this rank answers queries: the number of collectives started on a communicator. */
  statusOf: (commId: number) => number | undefined
  /** Called for each arriving collective message with the signature of the call that sent it. */
  onCollective: (commId: number, tag: number, source: number, sig: Signature & { dtype: number }) => void
  /** Called with a peer's notice about `commId` (collectives that do not match, a join, ...; see comm/). */
  onNotice: (commId: number, source: number, notice: unknown) => void
}

/** Facts about the job that travel beside the data: progress queries, mismatch notices, finalize. */
export interface ControlPlane {
  /**
   * Asks `peers` how many collectives they have started on `commId` (answered by their transports from
   * `statusOf`, even while their JavaScript is busy in a collective). A peer that does not answer within
   * `timeoutMs` (stopped, or its event loop blocked) maps to undefined.
   */
  query(peers: number[], commId: number, timeoutMs: number): Promise<Map<number, number | undefined>>
  /** Sets how this rank answers the control plane (init sets them once, before any collective). */
  handle(handlers: ControlHandlers): void
  /** Tells peers that collectives on a communicator do not match. */
  notify(peers: number[], commId: number, notice: unknown): void
  /**
   * Collective: delivers everything sent so far, waits for every rank's finalize (failing at once if a peer is
   * lost, or after `timeoutMs` if given), then closes. Every rank must call it.
   */
  finalize(timeoutMs?: number): Promise<void>
  /** Ranks whose finalize has not reached this one yet. */
  finalizeMissing(): number[]
  /** Closes at once, dropping undelivered messages (error paths). */
  close(): void
}

/** One round of a host collective, as its `read` sees it (transport/shm/host-collectives.ts). */
export interface HostRound {
  readonly size: number
  /** The data of the host's rank number r in this round: a view of shared memory, valid only while `read` runs. */
  data(r: number): Uint8Array
  /** Signature word `i` of the host's rank number r in this round. */
  signature(r: number, i: number): number
}

/**
 * Collectives among the ranks of this host through shared memory, without messages. `round` writes this rank's
 * signature words and data, waits until every rank of the host has, and runs `read` on what they wrote.
 */
export interface HostCollectives {
  /** The host's ranks (world ranks, ascending): rank number r of a round is `ranks[r]`. */
  readonly ranks: readonly number[]
  readonly size: number
  /** Most data bytes a rank can write in one round. */
  readonly maxBytes: number
  /** True where the host's ranks poll for rounds (a core each); false when they sleep (oversubscribed). */
  readonly polls: boolean
  /**
   * `stray(r, theirs)`, where given, is called while this rank waits if host rank r has not arrived but runs the
   * same call (the same last signature word) by messages (`byMessages`); what it throws fails the round.
   */
  round<T>(sig: ArrayLike<number>, data: Uint8Array | undefined, read: (r: HostRound) => T, stray?: (r: number, theirs: number[]) => void): Promise<T>
  /** This rank runs the call of signature `sig` by messages: peers waiting for it in a round learn so. */
  byMessages(sig: ArrayLike<number>): void
  /** Most bytes `bcast` carries. */
  readonly maxBcastBytes: number
  /**
   * A round in which the host's rank number `root` broadcasts `bytes` (the others' `bytes` receive them): once
   * every rank has arrived and `check` has passed on its signatures, the root copies its data into its segment
   * and the others copy it out as it comes, piece by piece.
   */
  bcast(sig: ArrayLike<number>, root: number, bytes: Uint8Array, check: (r: HostRound) => void, stray?: (r: number, theirs: number[]) => void): Promise<void>
  /**
   * Reads of the host's other ranks' memory (single copy: process_vm_readv), where this rank found them
   * permitted at start (native/cma.h); absent elsewhere. `read` gives the bytes copied, or -errno.
   */
  readonly peerMemory?: {
    addressOf(view: Uint8Array): number
    read(pid: number, address: number, dst: Uint8Array): number
  }
}

/** A transport: both planes. */
export interface Transport extends DataPlane, ControlPlane {
  /**
   * The host collectives, for the one communicator `commId` that may use them (the world, when every rank of the
   * job has shared memory); undefined elsewhere.
   */
  hostCollectives?(commId: number): HostCollectives | undefined
}

/**
 * Where a rank is, as the rendezvous tells every rank of every other: enough to place it (its host, for
 * topology and for naming it when it is lost) and to know whether its host can run shared-memory collectives.
 * A `PeerAddress` is a place too; a place without `pid` is not an address yet: it is fetched when first linked.
 */
export interface PeerPlace {
  rank: number
  host: string
  shm?: boolean
}

/** True when `p` is a whole address (it can be linked to), not only a place. */
export function isAddress(p: PeerPlace): p is PeerAddress {
  return (p as PeerAddress).pid !== undefined
}

/** Fetches the addresses of `ranks` (all of one host), in that order. */
export type AddressFetch = (ranks: number[]) => Promise<PeerAddress[]>

/** What the rendezvous needs of a transport: its own address and a way to connect to the others. */
export interface Connectable {
  readonly rank: number
  readonly size: number
  readonly address: PeerAddress
  /**
   * `peers[r]` is rank r's address, or only its place (then `fetch` gets the address when rank r is first
   * linked). The ranks of this rank's host must be whole addresses.
   */
  connect(peers: readonly PeerPlace[], fetch?: AddressFetch): void
}

/** A peer that a transport has declared lost, at that moment (before any operation fails because of it). */
export interface PeerLoss {
  /** This process's world rank. */
  rank: number
  /** The peer, as it published itself. */
  peer: PeerAddress
  /** Its connection closed (it crashed or exited early), or it went silent (host down, network cut). */
  kind: 'closed' | 'silent'
  /** When the transport declared it lost (epoch ms). */
  at: number
  /** A silent peer: about when it was last heard from (epoch ms), if known. */
  lastHeard?: number
  /** The error every operation fails with from now on. */
  error: Error
}

type PeerLossListener = (loss: PeerLoss) => void
const peerLossListeners = new Set<PeerLossListener>()

/**
 * Calls `listener` whenever a transport of this process declares a peer lost, synchronously, whatever the
 * script later does with the error (failure/record.ts writes the failure record there). Returns the unsubscribe.
 */
export function onPeerLost(listener: PeerLossListener): () => void {
  peerLossListeners.add(listener)
  return () => peerLossListeners.delete(listener)
}

/** For transports: tells the listeners that a peer is lost. A listener that throws does not stop the others. */
export function announcePeerLost(loss: PeerLoss): void {
  for (const l of peerLossListeners) {
    try {
      l(loss)
    } catch {
      // a listener's failure (a full disk) must not change how the transport fails
    }
  }
}
