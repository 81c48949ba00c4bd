/** A view of a store under a key prefix, so that separate rendezvous never see each other's keys. */
import type { Store } from './store.ts'

export class PrefixStore implements Store {
  private readonly prefix: string
  private readonly inner: Store

  constructor(prefix: string, inner: Store) {
    this.prefix = prefix
    this.inner = inner
  }

  set(key: string, value: Uint8Array | string): Promise<void> {
    return this.inner.set(this.prefix + key, value)
  }
  get(key: string, timeoutMs: number): Promise<Buffer> {
    return this.inner.get(this.prefix + key, timeoutMs)
  }
  wait(keys: string[], timeoutMs: number): Promise<void> {
    return this.inner.wait(this.keys(keys), timeoutMs).catch((err) => this.unprefixed(err))
  }
  getAll(keys: string[], timeoutMs: number): Promise<Buffer[]> {
    return this.inner.getAll(this.keys(keys), timeoutMs).catch((err) => this.unprefixed(err))
  }
  add(key: string, delta: number): Promise<number> {
    return this.inner.add(this.prefix + key, delta)
  }
  private keys(keys: string[]): string[] {
    return keys.map((k) => this.prefix + k)
  }
  /** Rethrows a timeout with the missing keys named as the caller named them. */
  private unprefixed(err: { missing?: unknown }): never {
    if (Array.isArray(err?.missing)) err.missing = err.missing.map((k: string) => k.slice(this.prefix.length))
    throw err
  }
  close(): void {
    // The inner store is shared; its owner closes it.
  }
}
