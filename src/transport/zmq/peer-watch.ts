/**
 * Peer watch: turns a connection to a peer that drops (or never comes up) before the peer's FIN into a lost peer,
 * and says which kind of loss it was. ZeroMQ reports socket events from its I/O thread and answers ZMTP
 * heartbeats there, so a peer whose JavaScript is busy is never mistaken for a dead one:
 * - a crash or an early exit closes the connection (the peer's kernel does), found at once;
 * - a host that goes down or a network that is cut closes nothing: the heartbeats go unanswered, and ZeroMQ
 *   drops the connection after the heartbeat timeout (`--heartbeat-timeout`, TSRUN_HEARTBEAT_TIMEOUT).
 * Which of the two it was is asked of the network: a fresh TCP connection to the peer's port is refused at once
 * by a live host whose process is gone, and gets no answer from a host that is down or cut off.
 */
import { connect } from 'node:net'
import { PeerLostError } from '../../errors.ts'
import { announcePeerLost, type PeerAddress } from '../transport.ts'

/** A closed connection counts as a lost peer if the peer's FIN has not arrived this much later. */
export const FIN_GRACE_MS = 500
/** A peer never reached this long after the link to it opened is lost (or sooner, with a shorter heartbeat bound). */
export const CONNECT_LOST_MS = 5000
/** Default bound on finding a silent peer (host down, network cut): 10 s. */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 10_000
/** How long the probe that tells a dead host from a dead process waits for an answer. */
export const PROBE_MS = 1000

/**
 * ZMTP heartbeat settings that find a silent peer within `timeoutMs`: a PING at least every second (a fifth of
 * the bound when it is shorter), and the connection dropped when nothing came back for the rest of the bound.
 */
export function heartbeat(timeoutMs: number): { heartbeatInterval: number; heartbeatTimeout: number; heartbeatTimeToLive: number } {
  const interval = Math.max(100, Math.min(1000, Math.floor(timeoutMs / 5)))
  return { heartbeatInterval: interval, heartbeatTimeout: Math.max(100, timeoutMs - interval), heartbeatTimeToLive: timeoutMs }
}

/** The events of one connection to a peer (outbox.ts takes them from the outgoing socket's monitor). */
export interface PeerEvents {
  on(name: 'connect' | 'connect:retry' | 'disconnect', f: () => void): void
}

/** How a peer was lost: its connection closed (it crashed or exited), or it went silent (host down, network cut). */
export type LossKind = 'closed' | 'silent'

/** When each silent peer was last heard from (epoch ms), noted by watchPeer for lostPeer's announcement. */
const lastHeard = new WeakMap<PeerAddress, number>()

/**
 * Watches `events`, those of the connection to `peer`. `lost(why, kind)` is called FIN_GRACE_MS after a suspicious event
 * (and after the probe) unless `settled()` (the peer's FIN arrived, or the transport closed or failed) by then.
 */
export function watchPeer(
  peer: PeerAddress,
  events: PeerEvents,
  settled: () => boolean,
  lost: (why: string, kind: LossKind) => void,
  heartbeatTimeoutMs = DEFAULT_HEARTBEAT_TIMEOUT_MS,
): void {
  let connected = false
  // A peer first linked long after the start (links open when first used) may be on a host that is already down:
  // it is lost if its connection has not come up within the bound on silence (at most CONNECT_LOST_MS), the
  // same bound a rank waiting on a linked peer gets.
  // The network is asked before the peer is judged (probePeer), so a 'connect' event that a blocked loop has not
  // delivered yet (many ranks starting on few cores) is not taken for silence; a host that answers is waited for.
  const since = Date.now()
  const bound = Math.min(CONNECT_LOST_MS, heartbeatTimeoutMs)
  const judge = () => {
    if (connected || settled()) return
    void probePeer(peer).then((kind) => {
      if (connected || settled()) return
      if (kind === 'silent') lost(`it could not be reached for ${bound / 1000} s`, 'silent')
      else unreached = setTimeout(judge, bound).unref()
    })
  }
  let unreached = setTimeout(judge, Math.max(100, bound - PROBE_MS)).unref()
  events.on('connect', () => {
    connected = true
    clearTimeout(unreached)
  })
  events.on('connect:retry', () => {
    // Refused again and again: the host is up but nothing listens there any more.
    if (!connected && Date.now() - since > CONNECT_LOST_MS)
      suspectPeer(settled, (why) => lost(why, 'silent'), `it could not be reached for ${CONNECT_LOST_MS / 1000} s`)
  })
  events.on('disconnect', () => {
    if (settled()) return
    const at = Date.now()
    void Promise.all([probePeer(peer), new Promise((r) => setTimeout(r, FIN_GRACE_MS).unref())]).then(([kind]) => {
      if (settled()) return
      // ZeroMQ drops a silent connection a heartbeat timeout after the last sign of life.
      const since = `${clock(at - heartbeatTimeoutMs)}, no answer for ${heartbeatTimeoutMs / 1000} s`
      if (kind === 'silent') lastHeard.set(peer, at - heartbeatTimeoutMs)
      lost(kind === 'silent' ? `it stopped answering (host down or network cut) at about ${since}` : 'its connection closed', kind)
    })
  })
}

/** A connection to a peer ended: lost, unless its FIN arrives (on the other connection) within FIN_GRACE_MS. */
export function suspectPeer(settled: () => boolean, lost: (why: string) => void, why: string): void {
  if (settled()) return
  setTimeout(() => settled() || lost(why), FIN_GRACE_MS).unref()
}

/**
 * Tells a dead process from a dead host: a new TCP connection to the peer's port. Refused (or accepted): the host
 * is up and the process's connection closed. No answer within PROBE_MS, or unreachable: silent.
 */
export function probePeer(peer: PeerAddress): Promise<LossKind> {
  const m = /^tcp:\/\/(.+):(\d+)$/.exec(peer.tcp ?? '')
  if (!m) return Promise.resolve('closed') // the same host: a process ends, hosts do not
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1')
  return new Promise((resolve) => {
    const socket = connect({ host, port: Number(m[2]) })
    const done = (kind: LossKind) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(kind)
    }
    const timer = setTimeout(() => done('silent'), PROBE_MS)
    socket.once('connect', () => done('closed'))
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' ? 'closed' : 'silent'))
  })
}

/**
 * The error every operation fails with once `peer` is lost. The transport calls it at the moment it declares the
 * peer lost, so this is also where the loss is announced (transport.ts onPeerLost: the failure record).
 */
export function lostPeer(rank: number, peer: PeerAddress, why: string, kind: LossKind = 'closed'): PeerLostError {
  const cause = kind === 'silent' ? '' : '; it crashed, was killed, or exited early'
  const error = new PeerLostError(
    peer.rank,
    `rank ${rank}: lost rank ${peer.rank} (pid ${peer.pid}, host ${peer.host}): ${why} before it called ` +
      `finalize()${cause}. This rank cannot go on with the job.`,
    { kind, host: peer.host },
  )
  announcePeerLost({ rank, peer, kind, at: Date.now(), lastHeard: kind === 'silent' ? lastHeard.get(peer) : undefined, error })
  return error
}

/** HH:MM:SS of a time, for messages. */
function clock(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 8)
}
