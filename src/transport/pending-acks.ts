/**
 * Sends that wait for the receiver's ACK: a zero-copy message is read from the caller's memory until ZeroMQ
 * has written it out, so `send` resolves only when the receiver says it has the whole message.
 */
interface Waiter {
  resolve: () => void
  reject: (e: Error) => void
}

export class PendingAcks {
  private readonly waiting = new Map<number, Waiter>()

  /** Resolves when message `seq` to `peer` is acknowledged. */
  wait(peer: number, seq: number): Promise<void> {
    return new Promise((resolve, reject) => this.waiting.set(peer * 2 ** 32 + seq, { resolve, reject }))
  }

  /** An ACK from `peer` for `seq`; false if nobody waits for it (a malformed or stray frame). */
  resolve(peer: number, seq: number): boolean {
    const key = peer * 2 ** 32 + seq
    const w = this.waiting.get(key)
    if (!w) return false
    this.waiting.delete(key)
    w.resolve()
    return true
  }

  get size(): number {
    return this.waiting.size
  }

  /** Fails every waiting send. */
  fail(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err)
    this.waiting.clear()
  }
}
