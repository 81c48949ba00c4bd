/**
 * The communicators of this process by wire id, and the control plane's routing to them: a peer asks how far
 * a communicator is (stall inspector), says that its collective message arrived (mismatch detector, timeline),
 * or sends a notice (a mismatch, a join). What comes for a communicator not made here yet waits for it
 * (EarlyNotices): a faster peer may already be using a `dup()` this rank has not made.
 */
import { recorder } from '../trace/recorder.ts'
import type { Transport } from '../transport/transport.ts'
import { EarlyNotices } from './mismatch.ts'
import type { CommState } from './state.ts'

export class CommRegistry {
  private readonly comms = new Map<number, CommState>()
  private readonly early = new EarlyNotices()

  /** Number of communicators registered (world, dups and splits not freed yet). */
  get size(): number {
    return this.comms.size
  }

  /** Registers a new communicator and replays what its peers already said about it. */
  add(c: CommState): void {
    this.comms.set(c.commId, c)
    for (const n of this.early.take(c.commId)) {
      if (n.kind === 'arrival') c.mismatch.arrived(n.tag, n.source, n.sig)
      else c.notice(n.source, n.notice)
    }
  }

  /** Forgets a freed communicator (it no longer answers, and is no longer kept alive). */
  remove(c: CommState): void {
    if (this.comms.get(c.commId) === c) this.comms.delete(c.commId)
  }

  /** Takes the transport's control-plane traffic. Installed before the rendezvous, so nothing is missed. */
  route(transport: Transport): void {
    transport.handle({
      statusOf: (commId) => this.comms.get(commId)?.started,
      onCollective: (commId, tag, source, sig) => {
        const c = this.comms.get(commId)
        if (!c) return this.early.hold(commId, { kind: 'arrival', tag, source, sig })
        c.mismatch.arrived(tag, source, sig)
        if (recorder.on) c.tracer.arrived(tag)
      },
      onNotice: (commId, source, notice) => {
        const c = this.comms.get(commId)
        if (c) c.notice(source, notice)
        else this.early.hold(commId, { kind: 'notice', source, notice })
      },
    })
  }
}
