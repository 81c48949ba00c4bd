/**
 * Errors thrown by tsrun. Every error has a stable `code` so callers can branch without parsing messages,
 * and a message that says what went wrong and what to do next.
 */

/** Stable error codes, one per error class. */
export type TsrunErrorCode =
  | 'TSRUN_USAGE'
  | 'TSRUN_TIMEOUT'
  | 'TSRUN_PEER_LOST'
  | 'TSRUN_COLLECTIVE_MISMATCH'
  | 'TSRUN_RENDEZVOUS'
  | 'TSRUN_TRANSPORT'
  | 'TSRUN_FINALIZED'
  | 'TSRUN_WORLD_CHANGED'

/**
 * Base class of every tsrun error.
 *
 * @example
 * ```ts
 * try { await world.recv(1, { timeoutMs: 1000 }) }
 * catch (err) { if (err instanceof TsrunError && err.code === 'TSRUN_TIMEOUT') retry() }
 * ```
 */
export class TsrunError extends Error {
  readonly code: TsrunErrorCode
  constructor(code: TsrunErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** Bad input from the caller: the message says what was expected and what was given. Nothing was sent. */
export class UsageError extends TsrunError {
  constructor(message: string, options?: ErrorOptions) {
    super('TSRUN_USAGE', message, options)
  }
}

/** An operation waited longer than its deadline. */
export class TimeoutError extends TsrunError {
  constructor(message: string, options?: ErrorOptions) {
    super('TSRUN_TIMEOUT', message, options)
  }
}

/** A peer rank went away; the communicator it belonged to is no longer usable (like gloo's IoException). */
export class PeerLostError extends TsrunError {
  readonly peer: number
  /** `closed`: its connection closed (it crashed, was killed or exited); `silent`: it stopped answering (host down, network cut). */
  readonly kind: 'closed' | 'silent'
  /** The lost rank's host. */
  readonly host: string | undefined
  constructor(peer: number, message: string, details: { kind?: 'closed' | 'silent'; host?: string } = {}, options?: ErrorOptions) {
    super('TSRUN_PEER_LOST', message, options)
    this.peer = peer
    this.kind = details.kind ?? 'closed'
    this.host = details.host
  }
}

/** Ranks called different collectives, or the same one with different arguments. */
export class CollectiveMismatchError extends TsrunError {
  constructor(message: string, options?: ErrorOptions) {
    super('TSRUN_COLLECTIVE_MISMATCH', message, options)
  }
}

/** The ranks could not meet: the rendezvous store was unreachable or some ranks never arrived. */
export class RendezvousError extends TsrunError {
  /** Ranks that never arrived, when known. */
  readonly missing: number[]
  constructor(message: string, missing: number[] = [], options?: ErrorOptions) {
    super('TSRUN_RENDEZVOUS', message, options)
    this.missing = missing
  }
}

/** The transport failed underneath an operation (socket error, malformed frame from a peer). */
export class TransportError extends TsrunError {
  constructor(message: string, options?: ErrorOptions) {
    super('TSRUN_TRANSPORT', message, options)
  }
}

/** The communicator was already finalized or freed. */
export class FinalizedError extends TsrunError {
  constructor(message: string, options?: ErrorOptions) {
    super('TSRUN_FINALIZED', message, options)
  }
}

/**
 * Elastic jobs (`tsrun --elastic MIN:MAX`): the world this call ran on is gone, because a rank or host was lost
 * (`lost` names them) or ranks are joining. Every pending and later call on that world fails with it, on every
 * member. `runElastic` catches it, forms the next world from the survivors and goes on from the last commit.
 *
 * @example
 * ```ts
 * try { await world.allreduce(grads, 'sum') }
 * catch (err) { if (err instanceof WorldChangedError) console.log(`lost ${err.lost.map((l) => l.rank)}`) }
 * ```
 */
export class WorldChangedError extends TsrunError {
  /** The generation that ended (0 is the world the job started with). */
  readonly generation: number
  /** Ranks of that generation that were lost, with their hosts (empty when ranks join). */
  readonly lost: { rank: number; host?: string }[]
  /** `lost`: a member is gone; `join`: ranks are waiting to join at a step boundary. */
  readonly reason: 'lost' | 'join'
  constructor(message: string, details: { generation: number; lost?: { rank: number; host?: string }[]; reason: 'lost' | 'join' }, options?: ErrorOptions) {
    super('TSRUN_WORLD_CHANGED', message, options)
    this.generation = details.generation
    this.lost = details.lost ?? []
    this.reason = details.reason
  }
}
