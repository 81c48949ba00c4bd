/**
 * The ZeroMQ receive socket of a rank: one DEALER it receives everything on (bound to ipc:// and/or tcp://,
 * guarded by PLAIN or CURVE through the ZAP handler in auth.ts), from the peers' outgoing ROUTER sockets
 * (outbox.ts). A DEALER takes a ROUTER's connections and hands each message over without the routing id.
 */
import * as zmq from 'zeromq'
import { TransportError } from '../../errors.ts'
import type { TransportOptions } from '../options.ts'
import type { PeerAddress } from '../transport.ts'
import { startZapHandler, ZAP_DOMAIN } from './auth.ts'
import { bindEndpoints } from './endpoints.ts'

/** Binds the receive socket on every endpoint this rank needs, filling in `address` with what was bound. */
export async function bindInbox(opts: TransportOptions, address: PeerAddress): Promise<zmq.Dealer> {
  const secured = Boolean(opts.secret) || Boolean(opts.encrypt)
  if (secured) await startZapHandler(opts.secret ?? '', opts.rank)
  const server = opts.encrypt ? zmq.curveKeyPair() : undefined
  const pull = new zmq.Dealer({
    receiveHighWaterMark: 0,
    linger: 0,
    ...(secured ? { zapDomain: ZAP_DOMAIN, zapEnforceDomain: true } : {}),
    ...(server ? { curveServer: true, curveSecretKey: server.secretKey, curvePublicKey: server.publicKey } : secured ? { plainServer: true } : {}),
  })
  if (server) address.curve = server.publicKey
  const endpoints = bindEndpoints({
    rank: opts.rank,
    jobDir: opts.jobDir,
    kind: opts.kind ?? 'auto',
    multiHost: opts.multiHost ?? false,
    tcpAddress: opts.tcpAddress ?? '127.0.0.1',
  })
  try {
    for (const ep of endpoints) {
      await pull.bind(ep)
      const bound = pull.lastEndpoint ?? ep
      if (bound.startsWith('ipc://')) address.ipc = bound
      else address.tcp = bound
    }
  } catch (err) {
    pull.close()
    throw new TransportError(`rank ${opts.rank}: could not listen on ${endpoints.join(', ')}: ${(err as Error).message}`, { cause: err })
  }
  return pull
}

/** Hands every message of `pull` to `onFrames` until the socket closes or fails (`onError`). */
export async function receiveAll(pull: zmq.Dealer, onFrames: (frames: Buffer[]) => void, onError: (err: Error) => void): Promise<void> {
  for (;;) {
    let frames: Buffer[]
    try {
      frames = await pull.receive()
    } catch (err) {
      onError(err as Error)
      return
    }
    onFrames(frames)
  }
}

/** The socket type, for the transport that holds it (only zmq/ imports zeromq). */
export type InboxSocket = zmq.Dealer

/** A fresh CURVE key pair for this rank's outgoing connections (--encrypt). */
export function curveKeys(): { publicKey: string; secretKey: string } {
  return zmq.curveKeyPair()
}
