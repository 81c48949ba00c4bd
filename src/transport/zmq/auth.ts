/**
 * Who may connect to a rank: only the job's own ranks. Every data connection authenticates with ZeroMQ's
 * PLAIN mechanism, the job secret as password, checked by a ZAP handler in this process (ZeroMQ RFC 27); the
 * secret travels in the handshake but is never on a command line or in a log. With `--encrypt`, connections use
 * CURVE instead: each rank's public key is published through the (secret-protected) rendezvous store, so only
 * the job's ranks can complete a handshake, and all traffic is encrypted.
 */
import { timingSafeEqual } from 'node:crypto'
import * as zmq from 'zeromq'

/** The ZAP domain of tsrun's data sockets. */
export const ZAP_DOMAIN = 'tsrun'
export const PLAIN_USER = 'tsrun'

let handler: { secret: Buffer; rejected: number; socket: zmq.Reply } | undefined

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
 * Starts this process's ZAP handler (once): PLAIN requests pass with the job secret as password, CURVE requests
 * pass (a CURVE client got this far only with our public key, from the secret-protected store).
 */
export async function startZapHandler(secret: string): Promise<void> {
  if (handler) {
    handler.secret = Buffer.from(secret)
    return
  }
  const zap = new zmq.Reply({ linger: 0 })
  await zap.bind('inproc://zeromq.zap.01')
  handler = { secret: Buffer.from(secret), rejected: 0, socket: zap }
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
          (name === 'PLAIN' && username?.toString() === PLAIN_USER && password !== undefined && password.length === state.secret.length &&
            timingSafeEqual(password, state.secret)))
      if (!ok) state.rejected++
      try {
        await zap.send([version ?? '1.0', requestId ?? '', ok ? '200' : '400', ok ? 'OK' : 'not a rank of this job', '', ''])
      } catch {
        return
      }
    }
  })()
}
