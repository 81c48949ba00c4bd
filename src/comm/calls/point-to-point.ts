/**
 * Point-to-point calls: tagged sends and receives of typed arrays and JSON values between the members of a
 * communicator (MPI's send/recv; mpi4py's lower-case calls for objects), probes, and send-and-receive in one
 * call (no deadlock in a ring shift).
 */
import { asBytes, bytesPerElement, decodeJson, dtypeName, dtypeOf, DTYPE_JSON, encodeJson, viewAs, type Sendable } from '../../dtype.ts'
import { recorder } from '../../trace/recorder.ts'
import { ANY_SOURCE, ANY_TAG, PROC_NULL, type Message } from '../../transport/transport.ts'
import type { P2POptions, ProbeStatus, Received, ReceivedObject, RecvOptions, SendRecvOptions } from '../options.ts'
import type { CommState } from '../state.ts'
import { checkTag, checkTimeout } from '../validate.ts'

/** The point-to-point calls of a Communicator. */
export interface PointToPointCalls {
  /**
   * Sends a TypedArray or ArrayBuffer to rank `dest`. Resolves when `data` may be changed again.
   *
   * @example
   * ```ts
   * if (world.rank === 0) await world.send(new Float64Array([1, 2, 3]), 1, { tag: 7 })
   * ```
   * @throws UsageError for a bad destination, tag or data type.
   */
  send(data: Sendable, dest: number, options?: P2POptions): Promise<void>
  /**
   * Receives the next message from `source` (or ANY_SOURCE) with `tag` (or ANY_TAG). From PROC_NULL it returns
   * at once: an empty array (of `into`'s type, else Uint8Array), source PROC_NULL, tag ANY_TAG.
   *
   * @example
   * ```ts
   * const { data, source } = await world.recv(ANY_SOURCE, { tag: 7 })   // a Float64Array if one was sent
   * ```
   * @throws UsageError for a bad source or tag, or an `into` smaller than the message; TimeoutError after `timeoutMs`.
   */
  recv(source?: number, options?: RecvOptions): Promise<Received>
  /**
   * Sends any JSON value to rank `dest` (serialised; use `send` for arrays of numbers).
   *
   * @example
   * ```ts
   * await world.sendObject({ step: 3, loss: 0.25 }, 0)
   * ```
   */
  sendObject(value: unknown, dest: number, options?: P2POptions): Promise<void>
  /**
   * Receives a value sent with `sendObject`. A TypedArray sent with `send` comes back as that TypedArray. From
   * PROC_NULL: `undefined` at once, source PROC_NULL.
   *
   * @example
   * ```ts
   * const { value, source } = await world.recvObject(ANY_SOURCE)
   * ```
   */
  recvObject<T = unknown>(source?: number, options?: P2POptions): Promise<ReceivedObject<T>>
  /**
   * Waits until a message from `source` with `tag` has arrived and tells who sent it and how large it is,
   * without receiving it (MPI_Probe): allocate for it, then `recv` it.
   *
   * @example
   * ```ts
   * const st = await world.probe(ANY_SOURCE, { tag: 3 })
   * const { data } = await world.recv(st.source, { tag: st.tag, into: new Float64Array(st.count) })
   * ```
   */
  probe(source?: number, options?: P2POptions): Promise<ProbeStatus>
  /**
   * Like `probe`, but answers at once: the status of a waiting message, or `undefined` if none has arrived
   * (MPI_Iprobe). Poll it between units of work.
   *
   * @example
   * ```ts
   * while (!world.iprobe(0, { tag: STOP })) doSomeWork()
   * ```
   */
  iprobe(source?: number, options?: P2POptions): ProbeStatus | undefined
  /**
   * Sends `data` to `dest` and receives from `source` at the same time (MPI_Sendrecv), so a ring shift cannot
   * deadlock. Either side may be PROC_NULL. `options.tag` tags the send; `recvTag` (default ANY_TAG) selects.
   *
   * @example
   * ```ts
   * const right = (world.rank + 1) % world.size, left = (world.rank - 1 + world.size) % world.size
   * const { data } = await world.sendrecv(new Float64Array([world.rank]), right, left)   // data: [left]
   * ```
   */
  sendrecv(data: Sendable, dest: number, source?: number, options?: SendRecvOptions<RecvOptions>): Promise<Received>
  /**
   * Sends `data` to `dest`, then replaces its contents with the message from `source` (MPI_Sendrecv_replace):
   * the message must have `data`'s element type and at most its length. Resolves to the status.
   *
   * @example
   * ```ts
   * const buf = new Int32Array([world.rank])
   * await world.sendrecvReplace(buf, (world.rank + 1) % world.size, (world.rank + world.size - 1) % world.size)
   * ```
   */
  sendrecvReplace(data: Sendable, dest: number, source?: number, options?: SendRecvOptions): Promise<{ source: number; tag: number; count: number }>
  /**
   * Sends a JSON value to `dest` and receives one from `source` at the same time (mpi4py's `sendrecv` for
   * objects). Either side may be PROC_NULL.
   *
   * @example
   * ```ts
   * const { value } = await world.sendrecvObject({ from: world.rank }, right, left)
   * ```
   */
  sendrecvObject<T = unknown>(value: unknown, dest: number, source?: number, options?: SendRecvOptions): Promise<ReceivedObject<T>>
}

/** What the calls see of the communicator they are installed on. */
type Self = PointToPointCalls & { readonly state: CommState }

const NULL_STATUS: ProbeStatus = { source: PROC_NULL, tag: ANY_TAG, bytes: 0, count: 0, type: 'ArrayBuffer' }

export const pointToPointCalls: PointToPointCalls & ThisType<Self> = {
  send(data, dest, options = {}) {
    const c = this.state
    const dtype = dtypeOf(data)
    c.checkUsable()
    if (dest === PROC_NULL) return Promise.resolve()
    c.checkRank(dest, 'dest')
    const tag = checkTag(options.tag ?? 0, false)
    const bytes = asBytes(data)
    const sent = c.world.transport.send(c.members[dest]!, c.commId, tag, dtype, bytes)
    return recorder.on ? traceP2p(c, 'send', dest, tag, bytes.byteLength, sent) : sent
  },

  async recv(source = ANY_SOURCE, options = {}) {
    const c = this.state
    let into: Uint8Array | undefined
    if (options.into !== undefined) {
      dtypeOf(options.into, 'into') // a UsageError unless a TypedArray or an ArrayBuffer
      into = asBytes(options.into)
    }
    if (source === PROC_NULL) {
      c.checkUsable()
      const empty = options.into === undefined ? new Uint8Array(0) : options.into instanceof ArrayBuffer ? new ArrayBuffer(0) : options.into.subarray(0, 0)
      return { data: empty, source: PROC_NULL, tag: ANY_TAG }
    }
    const got = recvRaw(c, source, options, into)
    const m = await (recorder.on ? traceP2p(c, 'recv', source, options.tag ?? ANY_TAG, 0, got) : got)
    return { data: viewAs(m.dtype, m.payload), source: c.rankOf(m.source), tag: m.tag }
  },

  sendObject(value, dest, options = {}) {
    const c = this.state
    c.checkUsable()
    const bytes = encodeJson(value)
    if (dest === PROC_NULL) return Promise.resolve()
    c.checkRank(dest, 'dest')
    const tag = checkTag(options.tag ?? 0, false)
    return c.world.transport.send(c.members[dest]!, c.commId, tag, DTYPE_JSON, bytes)
  },

  async recvObject<T>(source = ANY_SOURCE, options: P2POptions = {}) {
    const c = this.state
    if (source === PROC_NULL) {
      c.checkUsable()
      return { value: undefined as T, source: PROC_NULL, tag: ANY_TAG }
    }
    const m = await recvRaw(c, source, options)
    const value = (m.dtype === DTYPE_JSON ? decodeJson(m.payload) : viewAs(m.dtype, m.payload)) as T
    return { value, source: c.rankOf(m.source), tag: m.tag }
  },

  async probe(source = ANY_SOURCE, options = {}) {
    const c = this.state
    if (source === PROC_NULL) {
      c.checkUsable()
      return { ...NULL_STATUS }
    }
    const { from, tag } = envelope(c, source, options)
    const { timeoutMs } = options
    const describeWait = () => `rank ${c.rank} of ${c.name}: probe for a message from ${peerName(source)} timed out after ${timeoutMs} ms`
    return status(c, await c.world.transport.probe(c.commId, from, tag, { timeoutMs, describeWait }))
  },

  iprobe(source = ANY_SOURCE, options = {}) {
    const c = this.state
    if (source === PROC_NULL) {
      c.checkUsable()
      return { ...NULL_STATUS }
    }
    const { from, tag } = envelope(c, source, options)
    const m = c.world.transport.iprobe(c.commId, from, tag)
    return m && status(c, m)
  },

  async sendrecv(data, dest, source = ANY_SOURCE, options = {}) {
    const { recvTag = ANY_TAG, ...rest } = options
    const [, got] = await Promise.all([this.send(data, dest, { tag: rest.tag }), this.recv(source, { ...rest, tag: recvTag })])
    return got
  },

  async sendrecvReplace(data, dest, source = ANY_SOURCE, options = {}) {
    dtypeOf(data)
    const into = data instanceof ArrayBuffer ? new ArrayBuffer(data.byteLength) : new (data.constructor as new (n: number) => typeof data)(data.length)
    const got = await this.sendrecv(data, dest, source, { ...options, into })
    const bytes = asBytes(got.data)
    asBytes(data).set(bytes)
    return { source: got.source, tag: got.tag, count: bytes.byteLength / bytesPerElement(dtypeOf(data)) }
  },

  async sendrecvObject<T>(value: unknown, dest: number, source = ANY_SOURCE, options: SendRecvOptions = {}) {
    const { recvTag = ANY_TAG, ...rest } = options
    const [, got] = await Promise.all([this.sendObject(value, dest, { tag: rest.tag }), this.recvObject<T>(source, { ...rest, tag: recvTag })])
    return got
  },
}

const peerName = (source: number) => (source === ANY_SOURCE ? 'any rank' : `rank ${source}`)

function envelope(c: CommState, source: number, options: P2POptions): { from: number; tag: number } {
  c.checkUsable()
  if (source !== ANY_SOURCE) c.checkRank(source, 'source')
  checkTimeout(options.timeoutMs)
  return { from: source === ANY_SOURCE ? ANY_SOURCE : c.members[source]!, tag: checkTag(options.tag ?? ANY_TAG, true) }
}

function status(c: CommState, m: Message): ProbeStatus {
  const bytes = m.payload.byteLength
  return { source: c.rankOf(m.source), tag: m.tag, bytes, count: bytes / bytesPerElement(m.dtype), type: dtypeName(m.dtype) }
}

function recvRaw(c: CommState, source: number, options: P2POptions, into?: Uint8Array): Promise<Message> {
  const { from, tag } = envelope(c, source, options)
  const { timeoutMs } = options
  return c.world.transport.recv(c.commId, from, tag, {
    timeoutMs,
    into,
    describeWait: () =>
      `rank ${c.rank} of ${c.name}: recv from ${peerName(source)} with ${tag === ANY_TAG ? 'any tag' : `tag ${tag}`} timed out after ${timeoutMs} ms`,
  })
}

/** Counts a message for the timeline's totals, and records a span for a large one. */
async function traceP2p<T>(c: CommState, k: 'send' | 'recv', peer: number, tag: number, bytes: number, op: Promise<T>): Promise<T> {
  const s = recorder.now()
  const out = await op
  const m = out as unknown as Message | undefined
  const n = k === 'send' ? bytes : (m?.payload.byteLength ?? 0)
  recorder.count(k === 'send' ? 'sent' : 'recv', n)
  if (n >= recorder.p2pBytes)
    recorder.record({ t: 'p', k, peer: m ? c.rankOf(m.source) : peer, tag: m ? m.tag : tag, bytes: n, s, e: recorder.now(), comm: c.name })
  return out
}
