/**
 * Every environment variable tsrun reads, in one table: its type, default, which process reads it (a rank, the
 * launcher, or both), who sets it (the launcher for its ranks, the user, Slurm, or another tool) and what it
 * means. docs/configuration.md lists the same names (test/unit/settings.test.ts checks it), and nothing outside
 * this file reads a TSRUN_* variable from the environment: code asks `setting(name)`, which parses and checks the
 * value once (on first use) and keeps it. A bad value is a UsageError that names the variable, what it got and
 * what it expects.
 *
 * A shared leaf module like errors.ts and constants.ts: it imports nothing else from src/.
 */
import { DEFAULT_SEGMENT_BYTES } from './constants.ts'
import { UsageError } from './errors.ts'

/** How a value is written: `duration` is seconds (fractions allowed) in the environment, milliseconds from `setting`. */
export type SettingType = 'int' | 'number' | 'bool' | 'string' | 'enum' | 'path' | 'duration'
/** Which process reads it: a rank (tsrun's library or the user's script), the launcher (`tsrun`), or both. */
export type ReadBy = 'rank' | 'launcher' | 'both'
/**
 * Who sets it: `launcher`, tsrun for every rank it starts (the launcher → rank protocol; set it yourself only to
 * start ranks without tsrun); `user`; `slurm` (srun, sbatch); `system` (other tools' variables tsrun respects).
 */
export type SetBy = 'launcher' | 'user' | 'slurm' | 'system'
/** Docs sections, in the order docs/configuration.md shows them. */
export type SettingGroup = 'job' | 'network' | 'timeouts' | 'timeline' | 'launcher' | 'runtime' | 'algorithms' | 'slurm' | 'system'

interface Common {
  group: SettingGroup
  readBy: ReadBy
  setBy: SetBy
  /** The launcher flag that sets it for the ranks. */
  flag?: string
  /** The default in words, where it is not a constant (e.g. "this host's name"); else the default is shown. */
  defaultText?: string
  /** One sentence. */
  meaning: string
}

export type SettingSpec = Common &
  (
    | { type: 'int'; min: number; max?: number; default?: number }
    | { type: 'number'; min: number; default?: number }
    | { type: 'duration'; default?: number }
    | { type: 'bool'; default: boolean }
    | { type: 'enum'; values: readonly string[]; default?: string }
    | { type: 'string' | 'path'; default?: string }
  )

const algorithm = (collective: string, algorithms: string) =>
  ({
    group: 'algorithms',
    type: 'string',
    readBy: 'rank',
    setBy: 'user',
    defaultText: 'auto',
    meaning: `what a ${collective} call that names no algorithm runs: ${algorithms}, or auto (picked by size and hosts)`,
  }) as const

/** The table. Keys are the variables' names; SLURM_* and other tools' variables come last. */
// biome-ignore format: one setting a line, a table to read (docs/configuration.md holds the same table, checked by a test)
export const SETTINGS = {
  // The job: set by the launcher for every rank.
  TSRUN_RANK: { group: 'job', type: 'int', min: 0, readBy: 'both', setBy: 'launcher', meaning: "this rank's number, 0 to TSRUN_SIZE - 1 (to the launcher, a set TSRUN_RANK means a rank of ours, not a Slurm task)" },
  TSRUN_SIZE: { group: 'job', type: 'int', min: 1, readBy: 'rank', setBy: 'launcher', defaultText: '1 (a world of one)', meaning: 'the number of ranks in the world' },
  TSRUN_LOCAL_RANK: { group: 'job', type: 'int', min: 0, readBy: 'rank', setBy: 'launcher', defaultText: 'TSRUN_RANK', meaning: "this rank's index among the ranks on its host" },
  TSRUN_LOCAL_SIZE: { group: 'job', type: 'int', min: 1, readBy: 'rank', setBy: 'launcher', defaultText: 'TSRUN_SIZE', meaning: 'the number of ranks on this host' },
  TSRUN_NODE_RANK: { group: 'job', type: 'int', min: 0, default: 0, readBy: 'rank', setBy: 'launcher', meaning: "the index of this rank's host among the job's hosts" },
  TSRUN_HOST: { group: 'job', type: 'string', readBy: 'rank', setBy: 'launcher', defaultText: "this host's name", meaning: 'the host name this rank reports (the hostfile\'s name for ranks started over ssh)' },
  TSRUN_STORE: { group: 'job', type: 'string', readBy: 'rank', setBy: 'launcher', meaning: 'the tcp:// endpoint of the rendezvous store where the ranks meet (needed when TSRUN_SIZE > 1)' },
  TSRUN_JOB_ID: { group: 'job', type: 'string', default: 'job', readBy: 'rank', setBy: 'launcher', meaning: "the job's id, the namespace of its keys in the store" },
  TSRUN_JOB_SECRET: { group: 'job', type: 'string', readBy: 'both', setBy: 'launcher', defaultText: 'a fresh random one per job (under srun: derived from the job id)', meaning: 'the secret every store request and connection presents; set it for tsrun to bring your own (never put on a command line)' },
  TSRUN_SCRIPT_MODULE: { group: 'job', type: 'path', readBy: 'rank', setBy: 'launcher', meaning: "the launcher's JavaScript copy of the script (launcher/compile.ts), which the rank runs in its place" },
  TSRUN_JOB_DIR: { group: 'job', type: 'path', readBy: 'rank', setBy: 'launcher', meaning: "the job's private directory (mode 0700) for ipc:// socket files on this host, removed at the end" },
  TSRUN_RESTART_COUNT: { group: 'job', type: 'int', min: 0, readBy: 'both', setBy: 'launcher', flag: '--max-restarts', defaultText: '0', meaning: 'how many times the job has been restarted (--max-restarts, plus Slurm requeues); a script resumes from its checkpoint when it is > 0' },
  TSRUN_ELASTIC: { group: 'job', type: 'string', readBy: 'rank', setBy: 'launcher', flag: '--elastic', meaning: 'MIN:MAX: the job is elastic; a lost rank ends its generation and the survivors go on in the next one' },
  TSRUN_ELASTIC_ID: { group: 'job', type: 'string', readBy: 'rank', setBy: 'launcher', flag: '--elastic', meaning: "this rank's member id in an elastic job (its slot and start count), the same in every generation" },
  TSRUN_ELASTIC_JOIN: { group: 'job', type: 'bool', default: false, readBy: 'rank', setBy: 'launcher', flag: '--elastic', meaning: '1: this rank joins a running elastic job at its next step boundary instead of starting with it' },
  TSRUN_ELASTIC_TIMEOUT: { group: 'timeouts', type: 'duration', default: 60, readBy: 'both', setBy: 'user', flag: '--elastic-timeout', meaning: 'an elastic job below MIN ranks waits this long for ranks to join, then fails (and --max-restarts restarts it)' },
  TSRUN_ELASTIC_FLAP_FAILURES: { group: 'job', type: 'int', min: 1, default: 3, readBy: 'launcher', setBy: 'user', meaning: 'an elastic job leaves out for a minute a slot (and a discovered host) whose ranks failed this many times within a minute' },
  TSRUN_ELASTIC_SETTLE: { group: 'timeouts', type: 'duration', default: 3, readBy: 'launcher', setBy: 'user', flag: '--elastic-settle', meaning: 'after a loss, how long the members have to ask for the next generation; one that has not is left out (and stopped)' },
  TSRUN_INJECT_FAULT: { group: 'job', type: 'string', readBy: 'rank', setBy: 'launcher', flag: '--inject-fault', meaning: 'RANK:STEP[:SIGNAL], for tests: the rank of that number kills itself with SIGNAL (default SIGKILL) at its STEP-th ElasticState commit' },
  TSRUN_ELASTIC_GENERATION: { group: 'job', type: 'int', min: 0, readBy: 'rank', setBy: 'launcher', meaning: "set by init() for the script in an elastic job: the current generation (0 at the start, one more per change)" },
  TSRUN_ELASTIC_RANK: { group: 'job', type: 'int', min: 0, readBy: 'rank', setBy: 'launcher', meaning: "set by init() for the script in an elastic job: this rank's number in the current generation (world.rank; TSRUN_RANK keeps the one it started with)" },
  TSRUN_ELASTIC_SIZE: { group: 'job', type: 'int', min: 1, readBy: 'rank', setBy: 'launcher', meaning: 'set by init() for the script in an elastic job: the current generation\'s world size (world.size)' },
  TSRUN_LAUNCHER_PID: { group: 'job', type: 'int', min: 1, readBy: 'rank', setBy: 'launcher', meaning: "the launcher's pid: a rank whose parent it was kills its process group when the launcher goes" },
  TSRUN_WATCH_PARENT: { group: 'job', type: 'bool', default: false, readBy: 'rank', setBy: 'launcher', meaning: '1: the rank kills its process group when its parent (the ssh session) goes' },
  TSRUN_TTY: { group: 'job', type: 'bool', default: false, readBy: 'rank', setBy: 'launcher', meaning: "1: the launcher's own stderr is a terminal, so progress bars redraw in place" },

  // Network and transport.
  TSRUN_MULTI_HOST: { group: 'network', type: 'bool', default: false, readBy: 'rank', setBy: 'launcher', meaning: '1: the ranks span several hosts, so each binds tcp:// too' },
  TSRUN_IFACE: { group: 'network', type: 'string', readBy: 'rank', setBy: 'launcher', flag: '--iface', meaning: 'the network for tcp:// between hosts: an interface name (eth0) or an IPv4 range (198.18.0.0/24)' },
  TSRUN_ROUTE_TARGET: { group: 'network', type: 'string', readBy: 'rank', setBy: 'launcher', meaning: 'the host whose route picks the address to bind tcp:// on (the launcher, or the store host under Slurm)' },
  TSRUN_TCP_ADDRESS: { group: 'network', type: 'string', readBy: 'rank', setBy: 'user', defaultText: '127.0.0.1 on one host, else from TSRUN_IFACE or the route', meaning: 'the address this rank binds tcp:// on' },
  TSRUN_TRANSPORT: { group: 'network', type: 'enum', values: ['auto', 'ipc', 'tcp'], default: 'auto', readBy: 'rank', setBy: 'user', meaning: 'how ranks reach each other: auto (unix streams on a host, tcp:// between hosts), ipc or tcp for every pair' },
  TSRUN_ENCRYPT: { group: 'network', type: 'bool', default: false, readBy: 'rank', setBy: 'user', flag: '--encrypt', meaning: '1: encrypt connections between ranks (CURVE instead of PLAIN); costs bandwidth' },
  TSRUN_SHM: { group: 'network', type: 'bool', default: true, readBy: 'rank', setBy: 'user', meaning: '0: no shared memory between ranks of a host (large messages go through sockets), and no notice about it' },
  TSRUN_SHM_DIR: { group: 'network', type: 'path', readBy: 'rank', setBy: 'launcher', defaultText: '/dev/shm/tsrun-<job id>', meaning: "the job's directory of shared-memory files on this host" },
  TSRUN_SHM_BYTES: { group: 'network', type: 'int', min: 0, readBy: 'rank', setBy: 'user', defaultText: 'half the free space of /dev/shm, at most 1 GiB', meaning: "bytes of shared memory the job's ranks on one host may take together (each rank at most 4.5 MiB: a 256 KiB queue, four 1 MiB fragments and a 256 KiB broadcast area); a rank whose share is too small talks to its host over unix streams" },
  TSRUN_WARMUP_MS: { group: 'network', type: 'int', min: 0, default: 200, readBy: 'rank', setBy: 'user', meaning: 'where all ranks are on one host and poll shared memory, init() first runs small collectives for up to this long (at most 10,000), so that V8 has compiled their path before the script times its own (0: none)' },
  TSRUN_SINGLE_COPY: { group: 'network', type: 'bool', default: true, readBy: 'rank', setBy: 'user', meaning: "0: ranks of a host never read each other's memory directly (process_vm_readv): broadcasts copy through the root's shared memory, allreduces go by messages" },
  TSRUN_SPIN_US: { group: 'network', type: 'int', min: 0, readBy: 'rank', setBy: 'user', defaultText: '200, or 0 when a host runs more ranks than cores', meaning: 'µs a rank waiting on a rank of its host polls shared memory before it sleeps (0: never poll)' },
  TSRUN_SEGMENT_BYTES: { group: 'network', type: 'int', min: 1024, default: DEFAULT_SEGMENT_BYTES, readBy: 'rank', setBy: 'user', meaning: 'the segment size large messages are cut into' },
  TSRUN_STORE_PORT: { group: 'network', type: 'int', min: 1, max: 65535, readBy: 'rank', setBy: 'user', defaultText: 'derived from the Slurm job and step ids', meaning: 'under srun, the port rank 0 serves the rendezvous store on' },

  // Timeouts, in seconds.
  TSRUN_RENDEZVOUS_TIMEOUT: { group: 'timeouts', type: 'duration', default: 60, readBy: 'rank', setBy: 'user', meaning: 'how long init() waits for every rank to arrive before a RendezvousError' },
  TSRUN_STALL_WARNING: { group: 'timeouts', type: 'duration', default: 60, readBy: 'rank', setBy: 'user', flag: '--stall-warning', meaning: 'warn, naming the missing ranks, about a collective that has waited this long' },
  TSRUN_OP_TIMEOUT: { group: 'timeouts', type: 'duration', readBy: 'rank', setBy: 'user', flag: '--op-timeout', defaultText: 'none (wait as long as the ranks live)', meaning: 'fail a collective that has waited this long with a TimeoutError naming the missing ranks' },
  TSRUN_FINALIZE_TIMEOUT: { group: 'timeouts', type: 'duration', readBy: 'rank', setBy: 'user', defaultText: 'TSRUN_OP_TIMEOUT, else none', meaning: "how long finalize() waits for the other ranks' finalize before a TimeoutError" },
  TSRUN_HEARTBEAT_TIMEOUT: { group: 'timeouts', type: 'duration', default: 10, readBy: 'both', setBy: 'user', flag: '--heartbeat-timeout', meaning: 'a rank on another host that stops answering this long (host down, network cut) is lost; also the ssh keepalive bound' },

  // The timeline and the report.
  TSRUN_TRACE_PARTS: { group: 'timeline', type: 'path', readBy: 'rank', setBy: 'launcher', flag: '--timeline, --report, --report-json', meaning: 'the directory each rank writes its timeline file to; the launcher merges them at the end' },
  TSRUN_TIMELINE: { group: 'timeline', type: 'path', readBy: 'rank', setBy: 'launcher', flag: '--timeline', meaning: 'under srun: the Chrome trace file rank 0 merges the ranks\' files into at finalize' },
  TSRUN_REPORT: { group: 'timeline', type: 'bool', default: false, readBy: 'rank', setBy: 'launcher', flag: '--report', meaning: 'under srun: 1 makes rank 0 print the end-of-job report at finalize' },
  TSRUN_REPORT_JSON: { group: 'timeline', type: 'path', readBy: 'rank', setBy: 'launcher', flag: '--report-json', meaning: 'under srun: the file rank 0 writes the report to as JSON' },
  TSRUN_TIMELINE_P2P_BYTES: { group: 'timeline', type: 'int', min: 0, default: 64 * 1024, readBy: 'rank', setBy: 'user', meaning: 'point-to-point messages from this size on get a span in the timeline (0: all of them)' },

  // The launcher's own.
  TSRUN_RSH: { group: 'launcher', type: 'string', default: 'ssh -o BatchMode=yes -o ConnectTimeout=10', readBy: 'launcher', setBy: 'user', meaning: 'the command that starts ranks on other hosts, when --launch-agent is not given' },
  TSRUN_SRUN: { group: 'launcher', type: 'string', default: 'srun', readBy: 'launcher', setBy: 'user', meaning: 'the srun command tsrun runs inside a Slurm allocation' },
  TSRUN_NO_SLURM: { group: 'launcher', type: 'bool', default: false, readBy: 'launcher', setBy: 'user', meaning: '1: inside a Slurm allocation, start the ranks on this machine instead of through srun' },
  TSRUN_SUPERVISE: { group: 'launcher', type: 'bool', default: true, readBy: 'launcher', setBy: 'user', meaning: "0: report a failed rank but leave the others running (to test the runtime's own failure detection)" },
  TSRUN_COMPILE: { group: 'launcher', type: 'bool', default: true, readBy: 'launcher', setBy: 'user', meaning: "0: ranks load the TypeScript script through tsx instead of running the copy the launcher compiled once for them" },
  TSRUN_NODE_ARGS: { group: 'launcher', type: 'string', default: '', readBy: 'launcher', setBy: 'user', meaning: 'extra node flags for every rank, space-separated (for flags NODE_OPTIONS refuses, such as --cpu-prof); after tsrun\'s own, so they win (--concurrent-recompilation undoes the one a full host gets)' },

  // The runtime: native helpers and tsrun/dl.
  TSRUN_NATIVE: { group: 'runtime', type: 'bool', default: true, readBy: 'both', setBy: 'user', meaning: '0: do not build or load the native helpers (C kernels, shared memory); run on JavaScript kernels and ZeroMQ' },
  TSRUN_CACHE_DIR: { group: 'runtime', type: 'path', readBy: 'both', setBy: 'user', defaultText: '$XDG_CACHE_HOME/tsrun, ~/.cache/tsrun or a temporary directory', meaning: 'where the native helpers and the compiled scripts (launcher/compile.ts) are built and kept' },
  TSRUN_DL_BACKEND: { group: 'runtime', type: 'enum', values: ['node', 'wasm', 'cpu'], readBy: 'rank', setBy: 'user', defaultText: 'the first that loads: node, wasm, cpu', meaning: 'the TensorFlow.js backend tsrun/dl must use; one that was asked for and does not load is an error' },
  TSRUN_DL_WASM_KERNELS: { group: 'runtime', type: 'bool', default: true, readBy: 'rank', setBy: 'user', meaning: "0: products with a transposed operand, Conv2DBackpropInput and MaxPoolGrad run on the wasm backend's own kernels (slower: src/dl/wasm-matmul.ts, wasm-kernels.ts, wasm-pool.ts), for A/B measurements" },
  TSRUN_DL_QUIET: { group: 'runtime', type: 'bool', default: false, readBy: 'rank', setBy: 'user', meaning: '1: rank 0 does not say which TensorFlow.js backend it uses' },

  // Algorithm overrides, one per collective (comm/select.ts; the call's `{ algorithm }` wins).
  TSRUN_ALLREDUCE_ALGORITHM: algorithm('allreduce', 'hierarchical, shm, shm-copy, recursive-doubling, ring, ordered'),
  TSRUN_BROADCAST_ALGORITHM: algorithm('broadcast', 'scatter-allgather, shm, binomial'),
  TSRUN_BARRIER_ALGORITHM: algorithm('barrier', 'shm, dissemination'),
  TSRUN_REDUCE_ALGORITHM: algorithm('reduce', 'binomial, ordered'),
  TSRUN_GATHER_ALGORITHM: algorithm('gather', 'binomial'),
  TSRUN_ALLGATHER_ALGORITHM: algorithm('allgather', 'ring'),
  TSRUN_SCATTER_ALGORITHM: algorithm('scatter', 'binomial'),
  TSRUN_REDUCE_SCATTER_ALGORITHM: algorithm('reduceScatter', 'ring'),
  TSRUN_ALLTOALL_ALGORITHM: algorithm('alltoall', 'bruck, pairwise'),
  TSRUN_GATHER_OBJECT_ALGORITHM: algorithm('gatherObject', 'linear'),
  TSRUN_SCATTER_OBJECT_ALGORITHM: algorithm('scatterObject', 'linear'),
  TSRUN_ALLGATHERV_ALGORITHM: algorithm('allgatherv', 'ring'),
  TSRUN_GATHERV_ALGORITHM: algorithm('gatherv', 'linear'),
  TSRUN_SCATTERV_ALGORITHM: algorithm('scatterv', 'linear'),
  TSRUN_ALLTOALLV_ALGORITHM: algorithm('alltoallv', 'pairwise'),
  TSRUN_REDUCE_SCATTERV_ALGORITHM: algorithm('reduceScatterv', 'ring'),
  TSRUN_SCAN_ALGORITHM: algorithm('scan', 'recursive-doubling'),
  TSRUN_EXSCAN_ALGORITHM: algorithm('exscan', 'recursive-doubling'),

  // Slurm's (srun sets them in every task; a TSRUN_* variable wins over its SLURM_* counterpart).
  SLURM_JOB_ID: { group: 'slurm', type: 'string', readBy: 'both', setBy: 'slurm', meaning: 'the Slurm job: with a step id a task of srun, without one a batch script inside an allocation' },
  SLURM_STEP_ID: { group: 'slurm', type: 'string', readBy: 'both', setBy: 'slurm', meaning: 'the job step (SLURM_STEPID on older Slurm); set only in the tasks of srun' },
  SLURM_STEPID: { group: 'slurm', type: 'string', readBy: 'both', setBy: 'slurm', meaning: 'the job step, older name of SLURM_STEP_ID' },
  SLURM_PROCID: { group: 'slurm', type: 'int', min: 0, readBy: 'both', setBy: 'slurm', meaning: "the task's rank" },
  SLURM_STEP_NUM_TASKS: { group: 'slurm', type: 'int', min: 1, readBy: 'both', setBy: 'slurm', meaning: "the step's task count, the world size (else SLURM_NTASKS)" },
  SLURM_NTASKS: { group: 'slurm', type: 'int', min: 1, readBy: 'both', setBy: 'slurm', meaning: "the job's task count, the world size when SLURM_STEP_NUM_TASKS is not set" },
  SLURM_NODEID: { group: 'slurm', type: 'int', min: 0, readBy: 'both', setBy: 'slurm', meaning: "the index of the task's node in the step" },
  SLURM_LOCALID: { group: 'slurm', type: 'int', min: 0, readBy: 'both', setBy: 'slurm', meaning: "the task's index on its node" },
  SLURM_STEP_NODELIST: { group: 'slurm', type: 'string', readBy: 'both', setBy: 'slurm', meaning: "the step's nodes (node[1-4]); rank 0 serves the store on the first (else SLURM_NODELIST)" },
  SLURM_NODELIST: { group: 'slurm', type: 'string', readBy: 'both', setBy: 'slurm', meaning: "the job's nodes, when SLURM_STEP_NODELIST is not set" },
  SLURM_STEP_TASKS_PER_NODE: { group: 'slurm', type: 'string', readBy: 'both', setBy: 'slurm', meaning: 'tasks on each node of the step (2(x3),1), the local sizes (else SLURM_TASKS_PER_NODE)' },
  SLURM_JOB_NODELIST: { group: 'slurm', type: 'string', readBy: 'launcher', setBy: 'slurm', meaning: "the allocation's nodes: an elastic job inside an allocation runs on them (else SLURM_NODELIST)" },
  SLURM_JOB_CPUS_PER_NODE: { group: 'slurm', type: 'string', readBy: 'launcher', setBy: 'slurm', meaning: "the job's CPUs on each node (8(x3)): an elastic job's srun step on a node takes them all" },
  SLURM_TASKS_PER_NODE: { group: 'slurm', type: 'string', readBy: 'both', setBy: 'slurm', meaning: 'tasks on each node of the job, when SLURM_STEP_TASKS_PER_NODE is not set' },
  SLURM_RESTART_COUNT: { group: 'slurm', type: 'int', min: 0, default: 0, readBy: 'launcher', setBy: 'slurm', meaning: 'how many times Slurm has requeued the batch job; added to TSRUN_RESTART_COUNT' },

  // Other tools' variables.
  CC: { group: 'system', type: 'string', default: 'cc', readBy: 'both', setBy: 'system', meaning: 'the C compiler that builds the native helpers' },
  XDG_CACHE_HOME: { group: 'system', type: 'path', readBy: 'both', setBy: 'system', defaultText: '~/.cache', meaning: 'the cache directory the native helpers go under (tsrun/), unless TSRUN_CACHE_DIR is set' },
  OMPI_COMM_WORLD_SIZE: { group: 'system', type: 'int', min: 0, readBy: 'rank', setBy: 'system', meaning: "Open MPI's world size: > 1 without TSRUN_SIZE means mpirun started the script, and init() says to start it with tsrun" },
  PMI_SIZE: { group: 'system', type: 'int', min: 0, readBy: 'rank', setBy: 'system', meaning: "MPICH/Hydra's world size, checked like OMPI_COMM_WORLD_SIZE" },
  PMIX_SIZE: { group: 'system', type: 'int', min: 0, readBy: 'rank', setBy: 'system', meaning: "PMIx's world size, checked like OMPI_COMM_WORLD_SIZE" },
} as const satisfies Record<string, SettingSpec>

export type SettingName = keyof typeof SETTINGS

type ValueOf<S> = S extends { type: 'bool' }
  ? boolean
  : S extends { type: 'enum'; values: readonly (infer V)[] }
    ? S extends { default: string }
      ? V
      : V | undefined
    : S extends { type: 'int' | 'number' | 'duration' }
      ? S extends { default: number }
        ? number
        : number | undefined
      : S extends { default: string }
        ? string
        : string | undefined

/** What `setting(name)` returns: undefined when the variable is unset and has no constant default; durations in ms. */
export type SettingValue<N extends SettingName> = ValueOf<(typeof SETTINGS)[N]>

/** An environment: `process.env`, or an object a test or the launcher builds. */
export type Env = Readonly<Record<string, string | undefined>>

/** Every name in the table, in its order. */
export const SETTING_NAMES = Object.keys(SETTINGS) as SettingName[]

/** The names the launcher sets for every rank: the launcher → rank protocol (see bootstrap/protocol.ts). */
export const LAUNCHER_SET_NAMES = SETTING_NAMES.filter((n) => SETTINGS[n].setBy === 'launcher')

let caches = new WeakMap<object, Map<string, unknown>>()

/**
 * The value of a setting in `env` (default `process.env`), parsed and checked on first use and then kept: later
 * calls do not read the environment again. Unset or empty means the default.
 *
 * @throws UsageError naming the variable, what it got and what it expects.
 * @example
 * ```ts
 * const opTimeoutMs = setting('TSRUN_OP_TIMEOUT')   // number | undefined, milliseconds
 * ```
 */
export function setting<N extends SettingName>(name: N, env: Env = process.env): SettingValue<N> {
  let cache = caches.get(env)
  if (!cache) caches.set(env, (cache = new Map()))
  if (cache.has(name)) return cache.get(name) as SettingValue<N>
  const value = parseSetting(name, env[name])
  cache.set(name, value)
  return value
}

/** Forgets every kept value, so that the next `setting` reads the environment again (tests that change process.env). */
export function resetSettingsForTests(): void {
  caches = new WeakMap()
}

/** The environment variable that overrides a collective's algorithm: `reduceScatter` → TSRUN_REDUCE_SCATTER_ALGORITHM. */
export function algorithmVariable(collective: string): string {
  return `TSRUN_${collective.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}_ALGORITHM`
}

const algorithmNames = new Map<string, SettingName>()

/** The algorithm the environment asks for, for a collective (undefined: none; "auto" is passed on as is). */
export function algorithmSetting(collective: string, env: Env = process.env): string | undefined {
  let name = algorithmNames.get(collective)
  if (name === undefined) {
    const n = algorithmVariable(collective)
    if (!(n in SETTINGS)) throw new Error(`internal: ${n} is not in src/settings.ts; add it to the table`)
    algorithmNames.set(collective, (name = n as SettingName))
  }
  return setting(name, env) as string | undefined
}

const TRUE = /^(1|true|yes|on)$/i
const FALSE = /^(0|false|no|off)$/i

/**
 * Parses one raw value of a setting (undefined or '' gives its default). Pure: for tests and for values that do
 * not come from an environment.
 *
 * @throws UsageError naming the variable, what it got and what it expects.
 */
export function parseSetting<N extends SettingName>(name: N, raw: string | undefined): SettingValue<N> {
  const spec = SETTINGS[name] as SettingSpec
  const text = raw?.trim()
  const got = `got ${JSON.stringify(raw)}`
  if (text === undefined || text === '') {
    const d = 'default' in spec ? spec.default : undefined
    return (spec.type === 'duration' && typeof d === 'number' ? d * 1000 : d) as SettingValue<N>
  }
  switch (spec.type) {
    case 'int': {
      const n = Number(text)
      const ok = Number.isInteger(n) && n >= spec.min && (spec.max === undefined || n <= spec.max)
      const range = spec.max === undefined ? `>= ${spec.min}` : `from ${spec.min} to ${spec.max}`
      if (!ok) throw new UsageError(`${name} must be an integer ${range}, ${got}`)
      return n as SettingValue<N>
    }
    case 'number': {
      const n = Number(text)
      if (!(Number.isFinite(n) && n >= spec.min)) throw new UsageError(`${name} must be a number >= ${spec.min}, ${got}`)
      return n as SettingValue<N>
    }
    case 'duration': {
      const s = Number(text)
      if (!(Number.isFinite(s) && s > 0)) throw new UsageError(`${name} must be a number of seconds > 0, ${got}`)
      return (s * 1000) as SettingValue<N>
    }
    case 'bool':
      if (TRUE.test(text)) return true as SettingValue<N>
      if (FALSE.test(text)) return false as SettingValue<N>
      throw new UsageError(`${name} must be 1 or 0 (or true/false, yes/no, on/off), ${got}`)
    case 'enum':
      if (!spec.values.includes(text)) throw new UsageError(`${name} must be one of ${spec.values.join(', ')}, ${got}`)
      return text as SettingValue<N>
    default:
      return raw as SettingValue<N> // strings and paths as given
  }
}
