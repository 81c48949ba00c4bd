/**
 * A small key-value store that ranks use to meet: each rank publishes its address under a key and waits for
 * the others' keys (gloo rendezvous/store.h). The launcher serves one; under srun rank 0 does. Prefixes
 * (prefix-store.ts) give each rendezvous (world, sub-communicators) its own namespace.
 */
import { TimeoutError } from '../errors.ts'

export interface Store {
  /** Stores `value` under `key`, waking everyone waiting for it. */
  set(key: string, value: Uint8Array | string): Promise<void>
  /** The value of `key`, waiting up to `timeoutMs` for it to be set. */
  get(key: string, timeoutMs: number): Promise<Buffer>
  /** Waits until every key is set; rejects with the keys still missing after `timeoutMs`. */
  wait(keys: string[], timeoutMs: number): Promise<void>
  /** `wait`, then every key's value in one answer (a rendezvous is two requests per rank, not one per peer). */
  getAll(keys: string[], timeoutMs: number): Promise<Buffer[]>
  /** Atomically adds `delta` to the integer under `key` (0 if unset) and returns the new value. */
  add(key: string, delta: number): Promise<number>
  /** Releases the connection. */
  close(): void
}

/** Thrown by `wait`/`get` when keys were not set in time; `missing` lists them. */
export class StoreTimeoutError extends TimeoutError {
  readonly missing: string[]
  constructor(missing: string[], timeoutMs: number) {
    super(`store keys not set within ${timeoutMs} ms: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}`)
    this.missing = missing
  }
}

/** Operations and statuses of the store's wire protocol (frames are in store-server.ts). */
export type StoreOp = 'set' | 'get' | 'wait' | 'getall' | 'add' | 'ping'
export type StoreStatus = 'ok' | 'timeout' | 'error' | 'denied'
export const STORE_OPS: readonly string[] = ['set', 'get', 'wait', 'getall', 'add', 'ping']

/** Values in one frame: each a 4-byte little-endian length, then its bytes (the answer to `getall`). */
export function packValues(values: Buffer[]): Buffer {
  const out = Buffer.allocUnsafe(values.reduce((n, v) => n + 4 + v.length, 0))
  let at = 0
  for (const v of values) {
    out.writeUInt32LE(v.length, at)
    v.copy(out, at + 4)
    at += 4 + v.length
  }
  return out
}

/** The values of `packValues`; undefined if the frame is not `count` of them. */
export function unpackValues(frame: Buffer, count: number): Buffer[] | undefined {
  const out: Buffer[] = []
  let at = 0
  while (at + 4 <= frame.length && out.length < count) {
    const n = frame.readUInt32LE(at)
    if (at + 4 + n > frame.length) return undefined
    out.push(frame.subarray(at + 4, at + 4 + n))
    at += 4 + n
  }
  return out.length === count && at === frame.length ? out : undefined
}
