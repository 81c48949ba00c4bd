/**
 * Where a rank listens and how a peer picks the address to reach it: ipc:// between ranks on one host
 * (socket files in the job's private directory), tcp:// across hosts. We always bind with port `*` and
 * publish what ZeroMQ actually bound (`lastEndpoint`), never guessing a free port.
 */
import { join } from 'node:path'
import { TransportError } from '../../errors.ts'
import type { PeerAddress, TransportKind } from '../transport.ts'

/** Endpoints to bind: ipc when a job directory exists and ipc is allowed, tcp when it may be needed. */
export function bindEndpoints(opts: { rank: number; jobDir?: string; kind: TransportKind; multiHost: boolean; tcpAddress: string }): string[] {
  const out: string[] = []
  if (opts.jobDir && opts.kind !== 'tcp') out.push(`ipc://${join(opts.jobDir, `rank-${opts.rank}.sock`)}`)
  if (opts.kind === 'tcp' || opts.multiHost || !opts.jobDir) out.push(`tcp://${opts.tcpAddress}:*`)
  return out
}

/** The endpoint to connect to for `peer`: its ipc socket if it is on our host, else its tcp one. */
export function chooseEndpoint(me: PeerAddress, peer: PeerAddress, kind: TransportKind): string | undefined {
  if (kind !== 'tcp' && peer.ipc && peer.host === me.host) return peer.ipc
  return peer.tcp ?? (kind !== 'tcp' ? peer.ipc : undefined)
}

/** The endpoint for `peer`, or a TransportError that says why it cannot be reached (or not encrypted). */
export function endpointFor(me: PeerAddress, peer: PeerAddress, kind: TransportKind, rank: number, encrypt: boolean): string {
  const endpoint = chooseEndpoint(me, peer, kind)
  if (!endpoint) {
    throw new TransportError(
      `rank ${rank}: no way to reach rank ${peer.rank} on host ${peer.host} ` +
        `(it published ${JSON.stringify(peer)}); set TSRUN_TRANSPORT=tcp for ranks on different hosts`,
    )
  }
  if (encrypt && !peer.curve) {
    throw new TransportError(`rank ${rank}: rank ${peer.rank} did not publish an encryption key; start every rank with the same --encrypt setting`)
  }
  return endpoint
}
