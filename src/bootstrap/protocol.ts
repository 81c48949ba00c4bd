/**
 * The launcher ↔ rank protocol: everything the `tsrun` process (launcher/) tells the ranks it starts, in one
 * place. The launcher never imports the rank's code and the rank never imports the launcher's; they agree on
 * these names only.
 *
 * 1. Environment variables, set by launcher/launch.ts and read by env.ts (srun sets SLURM_* instead, which
 *    env.ts and slurm-env.ts translate; a TSRUN_* variable wins over its SLURM_* counterpart):
 *
 * | variable | meaning |
 * |---|---|
 * | TSRUN_RANK, TSRUN_SIZE | this rank and the world size |
 * | TSRUN_LOCAL_RANK, TSRUN_LOCAL_SIZE, TSRUN_NODE_RANK | place on this host, and the host's index |
 * | TSRUN_HOST | host name to report (the hostfile's name for ssh ranks) |
 * | TSRUN_STORE | tcp:// endpoint of the rendezvous store the launcher serves |
 * | TSRUN_JOB_ID, TSRUN_JOB_SECRET | job id (store namespace) and the secret every connection presents |
 * | TSRUN_JOB_DIR | private per-host directory for ipc:// sockets, removed at the end |
 * | TSRUN_MULTI_HOST | 1 when ranks span hosts: bind tcp:// too |
 * | TSRUN_IFACE, TSRUN_ROUTE_TARGET, TSRUN_TCP_ADDRESS | which address to bind tcp:// on |
 * | TSRUN_TRANSPORT | auto, ipc or tcp |
 * | TSRUN_ENCRYPT | 1: CURVE instead of PLAIN |
 * | TSRUN_SHM, TSRUN_SHM_DIR | 0: no shared memory between ranks of a host; the job's directory of shared files |
 * | TSRUN_SEGMENT_BYTES | segment size of large messages |
 * | TSRUN_STALL_WARNING, TSRUN_OP_TIMEOUT, TSRUN_FINALIZE_TIMEOUT, TSRUN_RENDEZVOUS_TIMEOUT | seconds |
 * | TSRUN_HEARTBEAT_TIMEOUT | seconds after which a silent peer on another host is lost (default 10) |
 * | TSRUN_TRACE_PARTS, TSRUN_TIMELINE, TSRUN_REPORT, TSRUN_REPORT_JSON, TSRUN_TIMELINE_P2P_BYTES | the timeline (trace/) |
 * | TSRUN_RESTART_COUNT | how many times the launcher has restarted the job (--max-restarts) |
 * | TSRUN_LAUNCHER_PID, TSRUN_WATCH_PARENT | the parent to watch: if it goes, the rank kills its group |
 * | TSRUN_TTY | 1 when the user sees a terminal (live progress bars) |
 *
 * 2. Globals, set by launcher/rank-main.mjs (plain JavaScript that runs the user's script) and read by
 *    init.ts, so that a script whose top level has ended without finalize() still exits:
 */

/** Set (true) before the user's script runs under the launcher's wrapper. */
export const WRAPPED = Symbol.for('tsrun.wrapped')
/** Set (true) when the script's top level has finished. */
export const SCRIPT_RETURNED = Symbol.for('tsrun.scriptReturned')
/** A function init() installs; the wrapper calls it when the script's top level has finished. */
export const ON_SCRIPT_RETURNED = Symbol.for('tsrun.onScriptReturned')
