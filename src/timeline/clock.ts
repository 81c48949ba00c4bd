/**
 * Clock offsets for the timeline, NTP style: each rank exchanges a few round trips with rank 0 and keeps the
 * one with the shortest round trip; rank 0's clock minus the midpoint of that round trip is the offset. The
 * error is at most half that round trip (reported as `rttUs` in the trace's metadata). Ranks take turns, so
 * rank 0 answers one at a time.
 */
import type { Communicator } from '../comm/communicator.ts'
import { recorder } from '../trace/recorder.ts'

/** Round trips per rank. */
const SAMPLES = 8

/**
 * This rank's offset to rank 0's clock in µs (0 on rank 0), and the round trip it was measured with. Called by
 * rank 0 and the ranks in `who` (default: every rank), which rank 0 answers in that order.
 */
export async function measureOffset(comm: Communicator, who?: readonly number[]): Promise<{ offsetUs: number; rttUs: number }> {
  const { rank, size } = comm
  const t = new Float64Array(1)
  if (rank === 0) {
    for (const r of who ?? Array.from({ length: size }, (_, i) => i)) {
      if (r === 0) continue
      for (let k = 0; k < SAMPLES; k++) {
        await comm.recv(r, { tag: k, into: t })
        t[0] = recorder.now()
        await comm.send(t, r, { tag: k })
      }
    }
    return { offsetUs: 0, rttUs: 0 }
  }
  let best = { offsetUs: 0, rttUs: Infinity }
  for (let k = 0; k < SAMPLES; k++) {
    const t0 = recorder.now()
    await comm.send(t, 0, { tag: k })
    await comm.recv(0, { tag: k, into: t })
    const t1 = recorder.now()
    if (t1 - t0 < best.rttUs) best = { offsetUs: t[0]! - (t0 + t1) / 2, rttUs: t1 - t0 }
  }
  return best
}
