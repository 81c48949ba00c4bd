/**
 * The rendezvous store's server: a ZeroMQ ROUTER that answers requests from store clients (DEALER).
 *
 * Request frames:  [reqId u32, proof, op, key, arg]      (ROUTER prepends the client's identity)
 * The proof is a one-time claim with its HMAC under the job secret over the whole request (request-proof.ts):
 * the secret itself never travels, and a recorded request cannot be sent again.
 * Reply frames:    [reqId u32, status, body]
 *   set  key value      -> ok
 *   get  key timeoutMs  -> ok value | timeout
 *   wait keysJson ms    -> ok | timeout missingJson
 *   add  key delta      -> ok newValue
 *   ping                -> ok
 * A wrong or replayed proof gets `denied`; an unknown op or malformed request gets `error` with a reason. Nothing a
 * client sends can crash the server: every request is checked before it is used.
 */
import * as zmq from 'zeromq'
import { ProofChecker } from '../../proof.ts'
import { checkRequestProof } from './request-proof.ts'
import { packValues, STORE_OPS, type StoreStatus } from '../store.ts'
import { SendQueue } from '../../transport/zmq/send-queue.ts'

/** Most keys one `wait` may name, and the largest value; bounds what a request can make us hold. */
const MAX_WAIT_KEYS = 1 << 20
const MAX_VALUE_BYTES = 16 * 1024 * 1024
const MAX_WAIT_MS = 24 * 3600 * 1000

interface Waiter {
  missing: Set<string>
  done: () => void
  timer: NodeJS.Timeout
}

export interface StoreServerOptions {
  /** Endpoint to bind, e.g. `tcp://127.0.0.1:*` or `tcp://0.0.0.0:29500`. */
  endpoint: string
  /** Shared secret every request must carry. */
  secret: string
}

export class StoreServer {
  /** The bound endpoint, with the real port. */
  readonly endpoint: string
  /** Requests rejected (bad secret, malformed); for tests and diagnostics. */
  rejected = 0

  private readonly router: zmq.Router
  /** Checks each request's proof of the job secret (and that it was not sent before). */
  private readonly proofs: ProofChecker
  private readonly data = new Map<string, Buffer>()
  private readonly waiters = new Map<string, Set<Waiter>>()
  // A client that went away makes a reply fail; ROUTER drops replies to unknown identities anyway.
  private readonly replies: SendQueue
  private closed = false
  private readonly listeners: ((key: string, value: Buffer) => void)[] = []

  private constructor(router: zmq.Router, endpoint: string, secret: string) {
    this.router = router
    this.endpoint = endpoint
    this.proofs = new ProofChecker(secret)
    this.replies = new SendQueue(router, () => {})
    void this.loop()
  }

  /** Binds and starts serving. */
  static async start(opts: StoreServerOptions): Promise<StoreServer> {
    const router = new zmq.Router({ linger: 0, receiveHighWaterMark: 0, sendHighWaterMark: 0 })
    await router.bind(opts.endpoint)
    return new StoreServer(router, router.lastEndpoint ?? opts.endpoint, opts.secret)
  }

  /**
   * In the serving process: calls `listener` after every `set` and `add` a client makes (the launcher's elastic
   * coordinator learns of the ranks' requests this way).
   */
  watch(listener: (key: string, value: Buffer) => void): void {
    this.listeners.push(listener)
  }

  /** In the serving process: sets `key` as a client's `set` would, waking whoever waits for it. */
  put(key: string, value: Buffer | string): void {
    this.data.set(key, Buffer.from(value))
    this.wake(key)
  }

  /** In the serving process: the value of `key`, if set. */
  peek(key: string): Buffer | undefined {
    return this.data.get(key)
  }

  /**
   * In the serving process: resolves once every key of `keys` is set, or after `timeoutMs`, to the keys still
   * missing then (none: all set).
   */
  whenSet(keys: readonly string[], timeoutMs: number): Promise<string[]> {
    const missing = new Set(keys.filter((k) => !this.data.has(k)))
    if (missing.size === 0 || this.closed) return Promise.resolve([...missing])
    return new Promise((resolve) => {
      const w: Waiter = {
        missing,
        done: () => resolve([]),
        timer: setTimeout(() => {
          this.unregister(w)
          resolve([...w.missing])
        }, timeoutMs),
      }
      for (const x of missing) {
        let set = this.waiters.get(x)
        if (!set) this.waiters.set(x, (set = new Set()))
        set.add(w)
      }
    })
  }

  /** Stops serving; pending waits are dropped. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const set of this.waiters.values()) for (const w of set) clearTimeout(w.timer)
    this.waiters.clear()
    this.router.close()
  }

  private async loop(): Promise<void> {
    for (;;) {
      let frames: Buffer[]
      try {
        frames = await this.router.receive()
      } catch {
        return // closed
      }
      try {
        this.handle(frames)
      } catch {
        this.rejected++
      }
    }
  }

  private handle(frames: Buffer[]): void {
    const [identity, reqId, proof, op, key, arg] = frames
    if (frames.length !== 6 || reqId.length !== 4) {
      this.rejected++
      if (identity && reqId?.length === 4) this.reply(identity, reqId, 'error', 'malformed request')
      return
    }
    const refused = checkRequestProof(this.proofs, proof, reqId, op, key, arg)
    if (refused) {
      this.rejected++
      return this.reply(identity, reqId, 'denied', refused)
    }
    const name = op.toString()
    if (!STORE_OPS.includes(name)) {
      this.rejected++
      return this.reply(identity, reqId, 'error', `unknown store command '${name.slice(0, 32)}'`)
    }
    const k = key.toString()
    switch (name) {
      case 'ping':
        return this.reply(identity, reqId, 'ok', '')
      case 'set':
        if (arg.length > MAX_VALUE_BYTES) return this.reply(identity, reqId, 'error', 'value too large')
        this.data.set(k, Buffer.from(arg))
        this.reply(identity, reqId, 'ok', '')
        this.wake(k)
        return this.told(k)
      case 'add': {
        const delta = Number(arg.toString())
        const current = Number(this.data.get(k)?.toString() ?? '0')
        if (!Number.isSafeInteger(delta) || !Number.isSafeInteger(current)) {
          return this.reply(identity, reqId, 'error', 'add needs integers')
        }
        const next = String(current + delta)
        this.data.set(k, Buffer.from(next))
        this.reply(identity, reqId, 'ok', next)
        this.wake(k)
        return this.told(k)
      }
      case 'get':
      case 'wait':
      case 'getall': {
        const keys = name === 'get' ? [k] : parseKeys(k)
        const ms = Number(arg.toString())
        if (!keys || !(ms >= 0 && ms <= MAX_WAIT_MS)) return this.reply(identity, reqId, 'error', 'bad wait request')
        const answer = () =>
          this.reply(identity, reqId, 'ok', name === 'get' ? this.data.get(k)! : name === 'getall' ? packValues(keys.map((x) => this.data.get(x)!)) : '')
        const missing = new Set(keys.filter((x) => !this.data.has(x)))
        if (missing.size === 0) return answer()
        const w: Waiter = {
          missing,
          done: answer,
          timer: setTimeout(() => {
            this.unregister(w)
            this.reply(identity, reqId, 'timeout', JSON.stringify([...w.missing]))
          }, ms),
        }
        for (const x of missing) {
          let set = this.waiters.get(x)
          if (!set) this.waiters.set(x, (set = new Set()))
          set.add(w)
        }
      }
    }
  }

  private wake(key: string): void {
    const set = this.waiters.get(key)
    if (!set) return
    this.waiters.delete(key)
    for (const w of set) {
      w.missing.delete(key)
      if (w.missing.size === 0) {
        clearTimeout(w.timer)
        w.done()
      }
    }
  }

  private told(key: string): void {
    const value = this.data.get(key)!
    for (const l of this.listeners) l(key, value)
  }

  private unregister(w: Waiter): void {
    for (const x of w.missing) this.waiters.get(x)?.delete(w)
  }

  private reply(identity: Buffer, reqId: Buffer, status: StoreStatus, body: string | Buffer): void {
    if (this.closed) return
    this.replies.push([identity, reqId, Buffer.from(status), typeof body === 'string' ? Buffer.from(body) : body])
  }
}

/** A request's keys: a JSON array of names, or a range `{ prefix, count }` (prefix + 0..count-1, store-client.ts). */
function parseKeys(json: string): string[] | undefined {
  try {
    const keys: unknown = JSON.parse(json)
    if (Array.isArray(keys) && keys.length <= MAX_WAIT_KEYS && keys.every((x) => typeof x === 'string')) return keys
    const r = keys as { prefix?: unknown; count?: unknown }
    if (typeof r?.prefix === 'string' && Number.isSafeInteger(r.count) && (r.count as number) >= 0 && (r.count as number) <= MAX_WAIT_KEYS) {
      return Array.from({ length: r.count as number }, (_, i) => `${r.prefix}${i}`)
    }
  } catch {
    // fall through
  }
  return undefined
}
