/**
 * The JIT warm-up of a world whose ranks all poll one host's shared memory. There a small collective costs a few
 * µs once V8 has compiled its path, and 10–20× that while V8 is still compiling it: a job's first thousand calls
 * pay the compiler (bench/first-calls.ts). init() first runs small collectives on a twin of the world
 * communicator that nothing else sees, for up to TSRUN_WARMUP_MS, so a script that times its first loop
 * measures the transport, not V8.
 *
 * The twin shares the world's host rounds (which carry no tagged messages) and is never registered: what peers
 * say about the world meanwhile waits for the real one (registry.ts's early notices), whose sequence numbers,
 * mismatch detector and joins start from nothing. Rank 0 keeps the time: its 4 B sums carry 1 while there is time
 * left, so every rank stops after the same call.
 */
import { Communicator } from './communicator.ts'
import { ALGORITHMS, pick, ROUND_ALGORITHMS } from './select.ts'
import type { World } from './state.ts'

/** The most calls a warm-up makes (bench/first-calls.ts: after about this many the next 1000 ran at 2× the warm
 * mean, against 6× after 2000). */
export const WARMUP_CALLS = 10_000

/** The twin's world: the same transport and settings, but nothing routed to it. */
const UNREGISTERED = { add() {}, remove() {}, size: 0 }

/**
 * Runs small collectives (4 B and 8 B sums, barriers) on a twin of the world `members` for up to `ms`, where the
 * world has host rounds and its ranks poll; resolves at once elsewhere. Every rank of the world must call it.
 */
export async function warmUp(world: World, members: readonly number[], rank: number, ms: number): Promise<void> {
  if (ms <= 0 || members.length < 2) return
  const twin = Communicator.create({ ...world, registry: UNREGISTERED }, 0, members, rank, 'world')
  try {
    // One host only: across hosts the host rounds' leaders exchange tagged messages on the world's commId,
    // which peers would take for the world's own. Every rank sees the same topology and spin setting.
    if (twin.state.topology.hosts !== 1 || !twin.state.host?.polls) return
    const end = performance.now() + ms
    const go = new Float32Array(1)
    const f64 = new Float64Array(1)
    // The calls as a script makes them (no options: the table picks), so that V8 compiles the script's own path:
    // options named here gave objects of another shape, and the first real call threw the optimised code away
    // (--trace-deopt: allreducePlain "wrong map", pick "insufficient type feedback"). Unless the environment
    // picks algorithms by messages (TSRUN_*_ALGORITHM), which would send them on the world's commId: then the
    // rounds go by name.
    const { size } = twin
    const topo = twin.state.topology
    const byTable = [pick('allreduce', ALGORITHMS.allreduce, size, 8, undefined, topo), pick('barrier', ALGORITHMS.barrier, size, 0, undefined, topo)]
    const shm = byTable.every((a) => ROUND_ALGORITHMS.has(a.name)) ? undefined : ({ algorithm: 'shm' } as const)
    for (let i = 0; i < WARMUP_CALLS; i++) {
      const k = i & 3
      if (k === 3) await twin.barrier(shm)
      else if (k === 1) await twin.allreduce(f64, 'sum', shm)
      else {
        go[0] = rank === 0 && performance.now() < end ? 1 : 0
        await twin.allreduce(go, 'sum', shm)
        if (go[0] === 0) return
      }
    }
  } finally {
    twin.free()
  }
}
