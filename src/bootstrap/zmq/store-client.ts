/**
 * Client of the rendezvous store (protocol in store-server.ts), over a ZeroMQ DEALER socket. Every request
 * has a deadline: a store that does not answer (launcher gone, wrong address, firewall) becomes a clear
 * RendezvousError instead of a hang.
 */
import * as zmq from 'zeromq'
import { requestProof } from './request-proof.ts'
import { RendezvousError } from '../../errors.ts'
import { StoreTimeoutError, unpackValues, type Store, type StoreOp } from '../store.ts'
import { SendQueue } from '../../transport/zmq/send-queue.ts'

/** Extra time a request may take beyond its own wait, for the network and a busy store. */
const ANSWER_SLACK_MS = 10_000

/** What this process's store clients sent and got: requests, and the bytes of requests and answers (bench/startup.ts). */
export const storeTraffic = { requests: 0, requestBytes: 0, answerBytes: 0 }

interface Pending {
  resolve: (body: Buffer) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
  timeoutMs: number
}

export class StoreClient implements Store {
  readonly endpoint: string
  private readonly dealer: zmq.Dealer
  private readonly secret: string
  private readonly pending = new Map<number, Pending>()
  private readonly outbox: SendQueue
  private nextId = 1
  private closed = false

  private readonly answerMs: number

  /**
   * `answerMs`: how long a request may go unanswered beyond its own wait (at least, and by default, 10 s). A job of many ranks on
   * few cores starves the store's process, so init() passes its rendezvous timeout.
   */
  constructor(endpoint: string, secret: string, answerMs = ANSWER_SLACK_MS) {
    this.endpoint = endpoint
    this.secret = secret
    this.answerMs = Math.max(ANSWER_SLACK_MS, answerMs)
    this.dealer = new zmq.Dealer({ linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0 })
    this.dealer.connect(endpoint)
    this.outbox = new SendQueue(this.dealer, (err) => {
      if (!this.closed) this.failAll(new RendezvousError(`sending to the store failed: ${err.message}`))
    })
    void this.loop()
  }

  async set(key: string, value: Uint8Array | string): Promise<void> {
    await this.request('set', key, typeof value === 'string' ? Buffer.from(value) : Buffer.from(value), 0)
  }

  get(key: string, timeoutMs: number): Promise<Buffer> {
    return this.request('get', key, Buffer.from(String(timeoutMs)), timeoutMs)
  }

  async wait(keys: string[], timeoutMs: number): Promise<void> {
    await this.request('wait', keyList(keys), Buffer.from(String(timeoutMs)), timeoutMs)
  }

  async getAll(keys: string[], timeoutMs: number): Promise<Buffer[]> {
    const body = await this.request('getall', keyList(keys), Buffer.from(String(timeoutMs)), timeoutMs)
    const values = unpackValues(body, keys.length)
    if (!values) throw new RendezvousError(`the store at ${this.endpoint} answered a malformed list of ${keys.length} values`)
    return values
  }

  async add(key: string, delta: number): Promise<number> {
    return Number((await this.request('add', key, Buffer.from(String(delta)), 0)).toString())
  }

  /** Resolves once the store answers; used to fail fast when it is unreachable. */
  async ping(timeoutMs: number): Promise<void> {
    await this.request('ping', '', Buffer.alloc(0), 0, timeoutMs)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.dealer.close()
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(new RendezvousError('the store connection was closed'))
    }
    this.pending.clear()
  }

  private request(op: StoreOp, key: string, arg: Buffer, waitMs: number, answerMs = this.answerMs): Promise<Buffer> {
    if (this.closed) return Promise.reject(new RendezvousError('the store connection is closed'))
    const id = this.nextId++
    const reqId = Buffer.alloc(4)
    reqId.writeUInt32LE(id)
    return new Promise((resolve, reject) => {
      const timeoutMs = waitMs + answerMs
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(
          new RendezvousError(
            `the rendezvous store at ${this.endpoint} did not answer within ${timeoutMs} ms; ` +
              `is the launcher (or rank 0) still running and reachable from this host?`,
          ),
        )
      }, timeoutMs)
      timer.unref()
      this.pending.set(id, { resolve, reject, timer, timeoutMs: waitMs })
      storeTraffic.requests++
      storeTraffic.requestBytes += key.length + arg.length
      this.outbox.push([reqId, Buffer.from(requestProof(this.secret, reqId, op, key, arg)), Buffer.from(op), Buffer.from(key), arg])
    })
  }

  private async loop(): Promise<void> {
    for (;;) {
      let frames: Buffer[]
      try {
        frames = await this.dealer.receive()
      } catch {
        return // closed
      }
      const [reqId, status, body] = frames
      if (frames.length !== 3 || reqId.length !== 4) continue
      storeTraffic.answerBytes += body.length
      const id = reqId.readUInt32LE(0)
      const p = this.pending.get(id)
      if (!p) continue
      this.pending.delete(id)
      clearTimeout(p.timer)
      const s = status.toString()
      if (s === 'ok') p.resolve(body)
      else if (s === 'timeout') p.reject(new StoreTimeoutError(JSON.parse(body.toString()) as string[], p.timeoutMs))
      else if (s === 'denied') p.reject(new RendezvousError(`the store at ${this.endpoint} refused this job's secret (${body.toString()})`))
      else p.reject(new RendezvousError(`the store at ${this.endpoint} answered: ${body.toString()}`))
    }
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(err)
    }
    this.pending.clear()
  }
}

/**
 * A list of keys as a request names it: `prefix` + 0..count-1 as a range (a rendezvous of n ranks asks for n
 * keys in a few bytes, not n names), any other list as a JSON array.
 */
export function keyList(keys: string[]): string {
  const m = keys.length > 1 ? /^(.*?)(\d+)$/.exec(keys[0]!) : null
  if (m && m[2] === '0' && keys.every((k, i) => k === m[1] + i)) return JSON.stringify({ prefix: m[1], count: keys.length })
  return JSON.stringify(keys)
}
