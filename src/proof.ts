/**
 * Proving knowledge of the job secret without sending it. A connection (or a store request) carries a claim,
 * `tsrun1:<time ms>:<random nonce>`, and an HMAC-SHA256 of the claim and what it is for ("a data connection to
 * rank 3", "this store request") under the job secret. The receiver recomputes the HMAC, accepts a claim only
 * once (its nonce is remembered) and only while fresh. Someone who records the traffic learns neither the
 * secret nor a proof they can use again: a replayed claim is refused, and a new one needs the secret.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** A claim older or newer than this (clock skew between hosts included) is refused. */
export const PROOF_WINDOW_MS = 5 * 60 * 1000

/** A fresh claim and its proof for `purpose` (e.g. `zmq to 3`). */
export function prove(secret: string, purpose: string): { claim: string; proof: string } {
  const claim = `tsrun1:${Date.now()}:${randomBytes(12).toString('hex')}`
  return { claim, proof: mac(secret, purpose, claim) }
}

function mac(secret: string, purpose: string, claim: string): string {
  return createHmac('sha256', secret).update(`${purpose}\n${claim}`).digest('hex')
}

/** Checks claims for one receiver; remembers the nonces it accepted for twice the window. */
export class ProofChecker {
  private secret: string
  private readonly seen = new Map<string, number>()

  constructor(secret: string) {
    this.secret = secret
  }

  /** The secret changed (a new job in this process, in tests). */
  reset(secret: string): void {
    this.secret = secret
    this.seen.clear()
  }

  /** Undefined if `proof` proves `claim` for `purpose`, else why not. */
  check(purpose: string, claim: string, proof: string, now = Date.now()): string | undefined {
    const m = /^tsrun1:(\d+):([0-9a-f]{24})$/.exec(claim)
    if (!m) return 'not a tsrun claim'
    const expected = Buffer.from(mac(this.secret, purpose, claim), 'hex')
    const given = Buffer.from(proof, 'hex')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'wrong proof'
    if (Math.abs(now - Number(m[1])) > PROOF_WINDOW_MS) return "stale claim (is this host's clock far off?)"
    if (this.seen.has(m[2]!)) return 'claim used before'
    this.seen.set(m[2]!, now)
    if (this.seen.size > 4096) for (const [n, t] of this.seen) if (now - t > 2 * PROOF_WINDOW_MS) this.seen.delete(n)
    return undefined
  }
}
