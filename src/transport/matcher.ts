/**
 * Matches incoming messages with posted receives by (communicator, source, tag), MPI style: a message that
 * arrives before its receive waits in the unexpected queue; wildcards take the earliest matching message;
 * receives are served in the order they were posted, so two messages between the same pair with the same tag
 * are received in the order they were sent.
 *
 * A receive may name a buffer (`into`). A transport that gets the first segment of a large message claims the
 * matching receive at once (`claim`) and writes the segments straight into that buffer: no allocation and no
 * second copy on the hot path.
 */
import { TimeoutError, UsageError } from '../errors.ts'
import { ANY_SOURCE, ANY_TAG, type Message, type ReceiveOptions, type Sink } from './transport.ts'

/** A posted receive, as a transport sees it after `claim`. */
export interface Posted {
  commId: number
  source: number
  tag: number
  into: Uint8Array | undefined
  sink: Sink | undefined
  resolve: (m: Message) => void
  reject: (e: Error) => void
  timer?: NodeJS.Timeout
}

function matches(commId: number, source: number, tag: number, m: { commId: number; source: number; tag: number }): boolean {
  return m.commId === commId && (source === ANY_SOURCE || source === m.source) && (tag === ANY_TAG ? m.tag >= 0 : tag === m.tag)
}

/**
 * A message that does not fit the receive that took it (a sink of another size or element type, a buffer too
 * small): a UsageError whose `got` says what came, so that a collective can tell its peers what did not match.
 */
export type MisfitError = UsageError & { got: { bytes: number; dtype: number } }

function misfit(message: string, m: Message): MisfitError {
  return Object.assign(new UsageError(message), { got: { bytes: m.payload.byteLength, dtype: m.dtype } })
}

/** True when a message of `bytes` bytes of `dtype` can go to `p`'s sink. */
export function sinkFits(p: Posted | undefined, bytes: number, dtype: number): p is Posted & { sink: Sink } {
  return p?.sink !== undefined && p.sink.bytes === bytes && p.sink.dtype === dtype
}

/** Completes `p` with `m`, copying into its buffer or handing it to its sink when it has one. */
export function fulfil(p: Posted, m: Message): void {
  if (p.sink) {
    if (!sinkFits(p, m.payload.byteLength, m.dtype)) {
      const got = `${m.payload.byteLength} bytes of type #${m.dtype}`
      return p.reject(misfit(`expected ${p.sink.bytes} bytes of type #${p.sink.dtype} from world rank ${m.source} (tag ${m.tag}) but got ${got}`, m))
    }
    p.sink.write(m.payload, 0)
    return p.resolve({ ...m, payload: EMPTY })
  }
  if (!p.into) return p.resolve(m)
  if (p.into.byteLength < m.payload.byteLength) {
    return p.reject(
      misfit(
        `receive buffer of ${p.into.byteLength} bytes is smaller than the message of ${m.payload.byteLength} bytes ` +
          `from world rank ${m.source} (tag ${m.tag}); the message was dropped`,
        m,
      ),
    )
  }
  const dest = p.into.byteLength === m.payload.byteLength ? p.into : p.into.subarray(0, m.payload.byteLength)
  // A message reassembled in place is already there: no copy onto itself.
  if (dest.buffer !== m.payload.buffer || dest.byteOffset !== m.payload.byteOffset) dest.set(m.payload)
  p.resolve({ ...m, payload: dest })
}

const EMPTY = new Uint8Array(0)

/** Queues `w` in `list` until it is served, or until `opts.timeoutMs`: then it leaves the list with a TimeoutError. */
function waitIn<W extends { timer?: NodeJS.Timeout; reject: (e: Error) => void }>(list: W[], w: W, opts: ReceiveOptions, what: string): void {
  const { timeoutMs } = opts
  if (timeoutMs !== undefined && timeoutMs >= 0 && Number.isFinite(timeoutMs)) {
    w.timer = setTimeout(() => {
      const j = list.indexOf(w)
      if (j >= 0) list.splice(j, 1)
      w.reject(new TimeoutError(opts.describeWait ? opts.describeWait() : `${what} timed out after ${timeoutMs} ms`))
    }, timeoutMs)
  }
  list.push(w)
}

/** A probe waiting for a matching message (MPI_Probe): resolved without taking the message. */
interface Probe {
  commId: number
  source: number
  tag: number
  resolve: (m: Message) => void
  reject: (e: Error) => void
  timer?: NodeJS.Timeout
}

export class Matcher {
  private readonly unexpected: Message[] = []
  private readonly posted: Posted[] = []
  private readonly probes: Probe[] = []
  private failure: Error | undefined
  private readonly commFailures = new Map<number, Error>()

  /** Hands an arrived message to the oldest matching receive, or queues it. */
  deliver(m: Message): void {
    const p = this.claim(m.commId, m.source, m.tag)
    if (p) return fulfil(p, m)
    this.unexpected.push(m)
    for (let i = 0; i < this.probes.length; i++) {
      const q = this.probes[i]!
      if (!matches(q.commId, q.source, q.tag, m)) continue
      this.probes.splice(i--, 1)
      if (q.timer) clearTimeout(q.timer)
      q.resolve(m)
    }
  }

  /** The earliest queued message that a receive with this envelope would take, left in the queue (MPI_Iprobe). */
  peek(commId: number, source: number, tag: number): Message | undefined {
    const failure = this.failure ?? this.commFailures.get(commId)
    if (failure) throw failure
    return this.unexpected.find((m) => matches(commId, source, tag, m))
  }

  /** Resolves with the earliest matching message once one has arrived, without taking it (MPI_Probe). */
  probe(commId: number, source: number, tag: number, opts: ReceiveOptions = {}): Promise<Message> {
    try {
      const m = this.peek(commId, source, tag)
      if (m) return Promise.resolve(m)
    } catch (err) {
      return Promise.reject(err)
    }
    return new Promise((resolve, reject) => {
      const q: Probe = { commId, source, tag, resolve, reject }
      waitIn(this.probes, q, opts, 'probe')
    })
  }

  /** Removes and returns the oldest posted receive that a message with this envelope would match. */
  claim(commId: number, source: number, tag: number): Posted | undefined {
    const env = { commId, source, tag }
    const i = this.posted.findIndex((p) => matches(p.commId, p.source, p.tag, env))
    if (i < 0) return undefined
    const p = this.posted[i]
    this.posted.splice(i, 1)
    if (p.timer) clearTimeout(p.timer)
    return p
  }

  /** Resolves with the earliest matching message. */
  receive(commId: number, source: number, tag: number, opts: ReceiveOptions = {}): Promise<Message> {
    if (this.failure) return Promise.reject(this.failure)
    const commFailure = this.commFailures.get(commId)
    if (commFailure) return Promise.reject(commFailure)
    const i = this.unexpected.findIndex((m) => matches(commId, source, tag, m))
    return new Promise((resolve, reject) => {
      const p: Posted = { commId, source, tag, into: opts.into, sink: opts.sink, resolve, reject }
      if (i >= 0) return fulfil(p, this.unexpected.splice(i, 1)[0])
      waitIn(this.posted, p, opts, 'receive')
    })
  }

  /** Fails every pending and later receive with `err` (peer lost, transport closed). */
  fail(err: Error): void {
    if (this.failure) return
    this.failure = err
    for (const p of [...this.posted.splice(0), ...this.probes.splice(0)]) {
      if (p.timer) clearTimeout(p.timer)
      p.reject(err)
    }
  }

  /** Fails every pending and later receive on one communicator (its collectives no longer match). */
  failComm(commId: number, err: Error): void {
    if (this.commFailures.has(commId)) return
    this.commFailures.set(commId, err)
    for (const list of [this.posted, this.probes]) {
      for (let i = list.length - 1; i >= 0; i--) {
        const p = list[i]!
        if (p.commId !== commId) continue
        list.splice(i, 1)
        if (p.timer) clearTimeout(p.timer)
        p.reject(err)
      }
    }
  }

  /** True while a receive or probe is posted that a message from a source `from` accepts could match. */
  waitsOn(from: (source: number) => boolean): boolean {
    for (const list of [this.posted, this.probes]) {
      for (const p of list) if (p.source === ANY_SOURCE || from(p.source)) return true
    }
    return false
  }

  /** Number of queued unexpected messages and posted receives, for tests and diagnostics. */
  get depth(): { unexpected: number; posted: number } {
    return { unexpected: this.unexpected.length, posted: this.posted.length + this.probes.length }
  }
}
