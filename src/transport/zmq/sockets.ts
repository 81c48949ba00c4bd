/**
 * The ZeroMQ sockets of a rank: one PULL socket it receives everything on (bound to ipc:// and/or tcp://,
 * guarded by PLAIN or CURVE through the ZAP handler in auth.ts), and one PUSH socket per peer.
 */
import * as zmq from 'zeromq'
import { TransportError } from '../../errors.ts'
import type { TransportOptions } from '../options.ts'
import type { PeerAddress } from '../transport.ts'
import { connectionProof, startZapHandler, ZAP_DOMAIN } from './auth.ts'
import { bindEndpoints } from './endpoints.ts'
import { DEFAULT_HEARTBEAT_TIMEOUT_MS, heartbeat } from './peer-watch.ts'

/** How long closing sockets may keep trying to deliver queued frames. */
const LINGER_MS = 2000

/** Binds the receive socket on every endpoint this rank needs, filling in `address` with what was bound. */
export async function bindPull(opts: TransportOptions, address: PeerAddress): Promise<zmq.Pull> {
  const secured = Boolean(opts.secret) || Boolean(opts.encrypt)
  if (secured) await startZapHandler(opts.secret ?? '', opts.rank)
  const server = opts.encrypt ? zmq.curveKeyPair() : undefined
  const pull = new zmq.Pull({
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

/** A PUSH socket toward `peer` (not yet connected), presenting a one-time proof of the secret (PLAIN) or our CURVE keys. */
export function pushSocket(
  peer: PeerAddress,
  secret: string,
  curveClient: { publicKey: string; secretKey: string } | undefined,
  heartbeatTimeoutMs = DEFAULT_HEARTBEAT_TIMEOUT_MS,
): zmq.Push {
  return new zmq.Push({
    sendHighWaterMark: 0,
    linger: LINGER_MS,
    ...heartbeat(heartbeatTimeoutMs),
    ...(curveClient
      ? { curveServerKey: peer.curve!, curvePublicKey: curveClient.publicKey, curveSecretKey: curveClient.secretKey }
      : secret
        ? connectionProof(secret, peer.rank)
        : {}),
  })
}

/** Hands every message of `pull` to `onFrames` until the socket closes or fails (`onError`). */
export async function receiveAll(pull: zmq.Pull, onFrames: (frames: Buffer[]) => void, onError: (err: Error) => void): Promise<void> {
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

/** The socket types, for the transport that holds them (only zmq/ imports zeromq). */
export type PullSocket = zmq.Pull
export type PushSocket = zmq.Push

/** A fresh CURVE key pair for this rank's outgoing connections (--encrypt). */
export function curveKeys(): { publicKey: string; secretKey: string } {
  return zmq.curveKeyPair()
}
