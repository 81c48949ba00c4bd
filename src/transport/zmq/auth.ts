/**
 * Who may connect to a rank: only the job's own ranks. Every data connection authenticates through ZeroMQ's
 * PLAIN mechanism, checked by a ZAP handler in this process (ZeroMQ RFC 27), but what travels in it is not the
 * secret: the username is a one-time claim and the password its HMAC under the job secret for "a connection to
 * this rank" (src/proof.ts). The secret never crosses the wire; a recorded handshake cannot be replayed.
 * After the handshake, data flows as fast as with PLAIN (it is PLAIN). With `--encrypt`, connections use CURVE
 * instead: each rank's public key is published through the (secret-protected) rendezvous store, so only the
 * job's ranks can complete a handshake, and all traffic is encrypted.
 */
import * as zmq from 'zeromq'
import { ProofChecker, prove } from '../../proof.ts'

/** The ZAP domain of tsrun's data sockets. */
export const ZAP_DOMAIN = 'tsrun'
/** What a connection to `rank` proves: the purpose its HMAC covers. */
const purpose = (rank: number) => `zmq connection to rank ${rank}`

/** PLAIN credentials for one connection to `rank`: a one-time claim and its proof, not the secret. */
export function connectionProof(secret: string, rank: number): { plainUsername: string; plainPassword: string } {
  const { claim, proof } = prove(secret, purpose(rank))
  return { plainUsername: claim, plainPassword: proof }
}

let handler: { checker: ProofChecker; rank: number; rejected: number; socket: zmq.Reply } | undefined

/** Stops the ZAP handler (its pending receive would keep the process alive). */
export function stopZapHandler(): void {
  handler?.socket.close()
  handler = undefined
}

/** Handshakes refused so far by this process's ZAP handler (for tests). */
export function refusedHandshakes(): number {
  return handler?.rejected ?? 0
}

/**
 * Starts this process's ZAP handler (once): PLAIN requests pass with a fresh claim proven for a connection to
 * `rank`, CURVE requests pass (a CURVE client got this far only with our public key, from the protected store).
 */
export async function startZapHandler(secret: string, rank: number): Promise<void> {
  if (handler) {
    handler.checker.reset(secret)
    handler.rank = rank
    return
  }
  const zap = new zmq.Reply({ linger: 0 })
  // A handler closed just now (an elastic job's previous world) may hold the address a little longer.
  for (let attempt = 0; ; attempt++) {
    try {
      await zap.bind('inproc://zeromq.zap.01')
      break
    } catch (err) {
      if (attempt >= 50 || !/in use/i.test((err as Error).message)) throw err
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  handler = { checker: new ProofChecker(secret), rank, rejected: 0, socket: zap }
  const state = handler
  void (async () => {
    for (;;) {
      let req: Buffer[]
      try {
        req = await zap.receive()
      } catch {
        return // context terminated
      }
      const [version, requestId, domain, , , mechanism, username, password] = req
      const name = mechanism?.toString()
      const ok =
        domain?.toString() === ZAP_DOMAIN &&
        (name === 'CURVE' ||
          (name === 'PLAIN' &&
            username !== undefined &&
            password !== undefined &&
            state.checker.check(purpose(state.rank), username.toString(), password.toString()) === undefined))
      if (!ok) state.rejected++
      try {
        await zap.send([version ?? '1.0', requestId ?? '', ok ? '200' : '400', ok ? 'OK' : 'not a rank of this job', '', ''])
      } catch {
        return
      }
    }
  })()
}
