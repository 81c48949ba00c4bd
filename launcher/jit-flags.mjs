// V8 flags for a rank, by how full its host is; the launcher (spawn-local.ts) and a host agent (host-agent.mjs)
// both use it, each with its own host's core count. Plain JS, like the agent.
//
// Where a host runs at least as many ranks as it has cores, V8's background compiler threads have no idle core:
// each optimizing compile preempts a rank, and its peers wait for that rank (spinning, then asleep). Compiling on
// the rank's own thread instead (--no-concurrent-recompilation) measured faster there: `bench/collectives.ts` at
// np=2 on 2 cores, 4 B allreduce 3.0–3.6 µs against 4.0–4.9, 1 MiB 140–192 µs against 207–406, and MNIST
// training at np=2 6–10 % more samples/s (docs/benchmarks.md). With spare cores (np=1 of 2) the background
// threads are free and MNIST ran 10 % faster with them, so they stay on there. TSRUN_NODE_ARGS comes after these
// flags, so `--concurrent-recompilation` there turns them back on (V8 takes the last of a flag).

/**
 * The V8 flags for a rank that is one of `localSize` on a host with `cores` cores.
 * @param {number} localSize
 * @param {number} cores
 * @returns {string[]}
 */
export function jitFlags(localSize, cores) {
  return localSize >= cores ? ['--no-concurrent-recompilation'] : []
}
