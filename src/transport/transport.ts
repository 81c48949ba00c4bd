/**
 * The interface that communicators, collectives and the bootstrap see. Only transport/zmq/ knows ZeroMQ;
 * another transport (shared memory, TCP without ZeroMQ) would implement the same contract.
 */
import type { Signature } from './framing.ts'
import type { Message, ReceiveOptions } from './matcher.ts'

export interface Transport {
  /** This process's rank in the world. */
  readonly rank: number
  /** Number of ranks in the world. */
  readonly size: number
  /**
   * Sends `payload` to world rank `peer`. Resolves when `payload` may be modified again: at once for small
   * messages (copied), after the receiver acknowledged it for large ones (sent from the caller's memory).
   */
  send(peer: number, commId: number, tag: number, dtype: number, payload: Uint8Array, sig?: Signature): Promise<void>
  /**
   * Resolves with the earliest message that matches; ANY_SOURCE / ANY_TAG are wildcards. With `into`, the
   * message is written into that buffer and the payload is a view of it.
   */
  recv(commId: number, source: number, tag: number, opts?: ReceiveOptions): Promise<Message>
  /**
   * Asks `peers` how many collectives they have started on `commId` (answered by their transports from
   * `statusOf`, even while their JavaScript is busy in a collective). A peer that does not answer within
   * `timeoutMs` (stopped, or its event loop blocked) maps to undefined.
   */
  query(peers: number[], commId: number, timeoutMs: number): Promise<Map<number, number | undefined>>
  /** How this rank answers queries: the number of collectives started on a communicator. */
  statusOf: (commId: number) => number | undefined
  /** Called for each arriving collective message with the signature of the call that sent it. */
  onCollective: ((commId: number, tag: number, source: number, sig: Signature & { dtype: number }) => void) | undefined
  /** Called when a peer reports that collectives on `commId` do not match. */
  onMismatch: ((commId: number, source: number, info: unknown) => void) | undefined
  /** Tells peers that collectives on a communicator do not match. */
  notifyMismatch(peers: number[], commId: number, info: unknown): void
  /** Fails every pending and later receive on one communicator. */
  failComm(commId: number, err: Error): void
  /**
   * Collective: delivers everything sent so far, waits for every rank's finalize (failing at once if a peer is
   * lost, or after `timeoutMs` if given), then closes. Every rank must call it.
   */
  finalize(timeoutMs?: number): Promise<void>
  /** Ranks whose finalize has not reached this one yet. */
  finalizeMissing(): number[]
  /** Closes at once, dropping undelivered messages (error paths). */
  close(): void
  /** True while an operation is under way: a posted receive, a send not yet acknowledged or handed over. */
  busy(): boolean
}
