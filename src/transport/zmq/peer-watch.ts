/**
 * Peer watch: turns a PUSH connection that drops (or never comes up) before the peer's FIN into a lost peer.
 * ZeroMQ reports socket events from its I/O thread, so a peer whose JavaScript is busy is never mistaken for
 * a dead one; a dead host is found by ZMTP heartbeats (HEARTBEAT_* below), a crash by the closed connection.
 */
import type * as zmq from 'zeromq'
import { PeerLostError } from '../../errors.ts'
import type { PeerAddress } from '../transport.ts'

/** A closed connection counts as a lost peer if the peer's FIN has not arrived this much later. */
export const FIN_GRACE_MS = 500
/** A peer never reached this long after connecting is lost. */
export const CONNECT_LOST_MS = 5000
/** ZMTP heartbeats: a peer whose host stops answering for HEARTBEAT_TIMEOUT_MS is lost (a busy or slow
 *  peer still answers: heartbeats are handled by ZeroMQ's I/O thread, not by JavaScript). */
export const HEARTBEAT_INTERVAL_MS = 2000
export const HEARTBEAT_TIMEOUT_MS = 30_000

/**
 * Watches `push`, the connection to `peer`. `lost(why)` is called FIN_GRACE_MS after a suspicious event
 * unless `settled()` (the peer's FIN arrived, or the transport closed or failed) by then.
 */
export function watchPeer(peer: PeerAddress, push: zmq.Push, settled: () => boolean, lost: (why: string) => void): void {
  const since = Date.now()
  let connected = false
  const suspect = (why: string) => suspectPeer(settled, lost, why)
  push.events.on('connect', () => {
    connected = true
  })
  push.events.on('disconnect', () => suspect('its connection closed'))
  push.events.on('connect:retry', () => {
    if (!connected && Date.now() - since > CONNECT_LOST_MS) suspect(`it could not be reached for ${CONNECT_LOST_MS / 1000} s`)
  })
}

/** A connection to a peer ended: lost, unless its FIN arrives (on the other connection) within FIN_GRACE_MS. */
export function suspectPeer(settled: () => boolean, lost: (why: string) => void, why: string): void {
  if (settled()) return
  setTimeout(() => settled() || lost(why), FIN_GRACE_MS).unref()
}

/** The error every operation fails with once `peer` is lost. */
export function lostPeer(rank: number, peer: PeerAddress, why: string): PeerLostError {
  return new PeerLostError(
    peer.rank,
    `rank ${rank}: lost rank ${peer.rank} (pid ${peer.pid}, host ${peer.host}): ${why} before it called ` +
      `finalize(); it crashed, was killed, or exited early. This rank cannot go on with the job.`,
  )
}
