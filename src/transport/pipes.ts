/**
 * The pipe to one peer: a unix stream to a rank of this host (when both listen on one), else a connection of
 * this rank's outgoing ZeroMQ socket (zmq/outbox.ts) into the peer's receive socket, watched for loss
 * (zmq/peer-watch.ts).
 */
import type { Socket } from 'node:net'
import { TransportError } from '../errors.ts'
import { isOutOfFiles, outOfFilesLine } from '../native/file-limit.ts'
import type { FrameQueue } from './frame-queue.ts'
import { encodeHeader, FLAG_WANT_ACK, HEADER_BYTES, KIND_CONT, writeHeader, type Header } from './framing.ts'
import type { Link } from './peer-link.ts'
import type { PeerAddress, TransportKind } from './transport.ts'
import { connectUnix } from './unix/unix-peers.ts'
import { endpointFor } from './zmq/endpoints.ts'
import type { Outbox } from './zmq/outbox.ts'
import { suspectPeer, watchPeer, type LossKind } from './zmq/peer-watch.ts'

export interface PipeContext {
  rank: number
  address: PeerAddress
  kind: TransportKind
  secret: string
  encrypt: boolean
  curveClient: { publicKey: string; secretKey: string } | undefined
  heartbeatTimeoutMs: number | undefined
  /** True if this rank listens on a unix socket (so its host's ranks use unix streams). */
  unix: boolean
  /** This rank's outgoing ZeroMQ socket, made on first use. */
  outbox: () => Outbox
  /** The peer's FIN came, or the transport closed or failed: a closing connection is no loss then. */
  settled: () => boolean
  lost: (why: string, kind?: LossKind) => void
  fail: (err: Error) => void
}

export function openPipe(c: PipeContext, peer: PeerAddress): { queue: FrameQueue; socket?: Socket } {
  if (c.unix && peer.unix && peer.host === c.address.host) {
    const { writer, socket } = connectUnix(peer.unix, c.rank, c.secret, (why, err) =>
      isOutOfFiles(err) ? c.fail(new TransportError(outOfFilesLine(c.rank, peer.rank), { cause: err })) : suspectPeer(c.settled, c.lost, why),
    )
    return { queue: writer, socket }
  }
  const { queue, events } = c.outbox().open(peer, endpointFor(c.address, peer, c.kind, c.rank, c.encrypt))
  watchPeer(peer, events, c.settled, c.lost, c.heartbeatTimeoutMs)
  return { queue }
}

/** Messages up to this size are copied and sent eagerly; larger ones are zero-copy and acknowledged. */
export const COPY_MAX_BYTES = 64 * 1024

/**
 * A message on a pipe: small ones behind their header in one frame (one allocation, one ZeroMQ message); large
 * ones zero-copy in segments of `segmentBytes`, the receiver's ACK wanted. True if the caller must wait for it:
 * ZeroMQ reads the caller's memory until it is written out.
 */
export function sendOnPipe(link: Link, header: Header, payload: Uint8Array, segmentBytes: number): boolean {
  const bytes = payload.byteLength
  if (bytes <= COPY_MAX_BYTES) {
    const frame = Buffer.allocUnsafe(HEADER_BYTES + bytes)
    writeHeader(frame, header)
    frame.set(payload, HEADER_BYTES)
    link.push([frame])
    return false
  }
  header.flags = FLAG_WANT_ACK
  const view = Buffer.from(payload.buffer, payload.byteOffset, bytes)
  link.push([encodeHeader(header), view.subarray(0, segmentBytes)])
  if (bytes > segmentBytes) {
    header.kind = KIND_CONT
    const cont = encodeHeader(header)
    for (let off = segmentBytes; off < bytes; off += segmentBytes) link.push([cont, view.subarray(off, off + segmentBytes)])
  }
  return true
}
