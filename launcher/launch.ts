/**
 * Runs a job in one of four ways, decided from the options and the environment:
 * - local: N ranks on this machine;
 * - hosts: ranks placed on the hosts of --hostfile / -H, started over ssh (those on this machine locally);
 * - slurm-task: this tsrun is one task of `srun -n N`: it runs exactly one rank (SLURM_PROCID), which meets
 *   the others through the store that rank 0 serves;
 * - slurm-allocation: inside `sbatch`/`salloc` (SLURM_JOB_ID, no step), tsrun starts the ranks with
 *   `srun --kill-on-bad-exit`, each task a tsrun in slurm-task mode (Open MPI's Slurm support does the same).
 */
import { hostname } from 'node:os'
import { addressForIface, addressToward, isLocalHost } from '../src/bootstrap/iface.ts'
import { slurmTaskOf } from '../src/bootstrap/slurm-env.ts'
import { UsageError } from '../src/errors.ts'
import { fileLimitShortfall, launcherFileNeed, raiseFileLimit, rankFileNeed } from '../src/native/file-limit.ts'
import { prepareNative } from '../src/native/native.ts'
import { setting } from '../src/settings.ts'
import { compiledScriptVars } from './compile.ts'
import { connectStdin, finishJobTrace, restartCount, say, traceParts } from './attempt.ts'
import { createJob, type Job } from './job.ts'
import { defaultNp, type LaunchOptions } from './options.ts'
import { place, placeLocal, type Slot } from './placement.ts'
import { spawnLocal, type RankProcess } from './spawn-local.ts'
import { RemoteHosts } from './spawn-ssh.ts'
import { withRestarts, type Outcome } from './restart.ts'
import { elasticInAllocation } from './slurm-elastic.ts'
import { runInAllocation, runSlurmTask } from './slurm-launch.ts'
import { supervise, type ElasticHooks } from './supervisor.ts'
import { ElasticCoordinator } from './elastic.ts'
import type { ElasticOptions } from './elastic-types.ts'
import { parseElasticRange } from '../src/elastic/keys.ts'
import { discoverHosts, discoverHostsNow, hostfileHosts } from './discovery.ts'

type Env = Record<string, string | undefined>

export type Mode = 'local' | 'hosts' | 'slurm-task' | 'slurm-allocation'

export function modeOf(options: LaunchOptions, env: Env = process.env): Mode {
  if (setting('TSRUN_RANK', env) === undefined && slurmTaskOf(env)) return 'slurm-task'
  if (options.hosts) return 'hosts'
  const inAllocation = setting('SLURM_JOB_ID', env) !== undefined && setting('SLURM_STEP_ID', env) === undefined && setting('SLURM_STEPID', env) === undefined
  if (inAllocation && !setting('TSRUN_NO_SLURM', env)) return 'slurm-allocation'
  return 'local'
}

export async function launch(options: LaunchOptions): Promise<number> {
  const mode = modeOf(options)
  if (options.elastic !== undefined && mode === 'slurm-task') {
    throw new UsageError(
      '--elastic under srun: each task is one rank, and a step ends when one of its tasks fails; run tsrun --elastic from the batch script (sbatch or salloc), where it starts the ranks itself',
    )
  }
  if (options.elastic !== undefined && mode === 'slurm-allocation') return runJob(elasticInAllocation(options))
  switch (mode) {
    case 'slurm-task':
      return runSlurmTask(options)
    case 'slurm-allocation':
      return runInAllocation(options)
    default:
      return runJob(options)
  }
}

/** TSRUN_* variables of one rank (the secret goes separately: never on a command line). */
export function rankVars(
  slot: Slot,
  size: number,
  job: Job,
  store: string,
  extra: { multiHost: boolean; routeTarget?: string; iface?: string },
): Record<string, string> {
  const vars: Record<string, string> = {
    TSRUN_RANK: String(slot.rank),
    TSRUN_SIZE: String(size),
    TSRUN_LOCAL_RANK: String(slot.localRank),
    TSRUN_LOCAL_SIZE: String(slot.localSize),
    TSRUN_NODE_RANK: String(slot.nodeRank),
    TSRUN_HOST: slot.host,
    TSRUN_STORE: store,
    TSRUN_JOB_ID: job.id,
    TSRUN_JOB_DIR: job.dir,
  }
  if (job.shmDir) vars.TSRUN_SHM_DIR = job.shmDir
  // Ranks write into pipes; tell them whether the user sees a terminal (progress bars redraw in place then).
  if (process.stderr.isTTY) vars.TSRUN_TTY = '1'
  if (extra.multiHost) vars.TSRUN_MULTI_HOST = '1'
  if (extra.routeTarget) vars.TSRUN_ROUTE_TARGET = extra.routeTarget
  if (extra.iface) vars.TSRUN_IFACE = extra.iface
  return vars
}

/** The bound on finding a silent host, in seconds: --heartbeat-timeout, TSRUN_HEARTBEAT_TIMEOUT, or 10. */
function heartbeatSeconds(options: LaunchOptions): number {
  return setting('TSRUN_HEARTBEAT_TIMEOUT', { ...process.env, ...options.env }) / 1000
}

/**
 * ssh watches its own connection to each host with the same bound (ServerAlive: a probe every third of it, three
 * unanswered end ssh with 255), so the launcher learns of a lost host too, unless the agent already says how.
 */
export function withKeepAlive(agent: string[], seconds: number): string[] {
  if (!/(^|\/)ssh$/.test(agent[0] ?? '') || agent.some((a) => /ServerAlive/i.test(a))) return agent
  const interval = Math.max(1, Math.round(seconds / 3))
  return [...agent, '-o', `ServerAliveInterval=${interval}`, '-o', 'ServerAliveCountMax=3']
}

/**
 * Raises this process's limit on open files to the hard limit (the ranks started here inherit it) and fails with
 * one line, before anything starts, if the launcher or a rank of this host would still run out.
 */
function checkFileLimit(slots: Slot[], local: Map<string, boolean>, multiHost: boolean): void {
  const limit = raiseFileLimit()
  const here = slots.filter((s) => local.get(s.host))
  const perHost = Math.max(0, ...here.map((s) => s.localSize))
  const short =
    // Three pipes per local rank, and per remote host (its ranks share one ssh connection).
    fileLimitShortfall(
      limit,
      launcherFileNeed(here.length + new Set(slots.filter((s) => !local.get(s.host)).map((s) => s.host)).size),
      `the launcher, starting ${slots.length} ranks,`,
    ) ?? (perHost > 0 ? fileLimitShortfall(limit, rankFileNeed(perHost, multiHost), `each of the ${perHost} ranks of this host`) : undefined)
  if (short) throw new UsageError(short)
}

/** The elastic range and timings of a job started with --elastic, checked against its rank count. */
function elasticOf(options: LaunchOptions, np: number): ElasticOptions | undefined {
  if (options.elastic === undefined) return undefined
  const range = parseElasticRange(options.elastic, np)
  if (typeof range === 'string') throw new UsageError(range)
  const env = { ...process.env, ...options.env }
  return {
    ...range,
    settleMs: setting('TSRUN_ELASTIC_SETTLE', env),
    timeoutMs: setting('TSRUN_ELASTIC_TIMEOUT', env),
    flapFailures: setting('TSRUN_ELASTIC_FLAP_FAILURES', env),
    respawn: options.elasticRespawn,
  }
}

/** Local and hostfile jobs, restarted after a failure up to --max-restarts times. */
function runJob(options: LaunchOptions): Promise<number> {
  return withRestarts(options.maxRestarts, (n, outcome) => runJobOnce(options, n, outcome), say)
}

/** One attempt of a local or hostfile job: this process serves the store and supervises every rank. */
async function runJobOnce(options: LaunchOptions, attempt: number, outcome: Outcome): Promise<number> {
  const me = hostname()
  const discovery = options.hostDiscoveryScript
  const hosts = options.hosts ?? (discovery ? discoverHostsNow(discovery) : undefined)
  const slots = hosts
    ? place(options.np ?? hosts.reduce((a, h) => a + h.slots, 0), hosts, options.mapBy, options.oversubscribe)
    : placeLocal(options.np ?? defaultNp(), me)
  const local = new Map<string, boolean>()
  for (const host of new Set(slots.map((s) => s.host))) local.set(host, hosts ? await isLocalHost(host, me) : true)
  const remote = [...local].filter(([, isLocal]) => !isLocal).map(([h]) => h)
  // Where an elastic job finds hosts while it runs: the discovery script, or its hostfile read again.
  const rediscover = discovery
    ? () => discoverHosts(discovery)
    : options.elastic !== undefined && options.hostfile && hosts
      ? hostfileHosts(options.hostfile, hosts)
      : undefined
  // Hosts found later join over tcp://: then every rank binds it from the start.
  const multiHost = remote.length > 0 || rediscover !== undefined
  checkFileLimit(slots, local, multiHost)
  // Across hosts the store listens everywhere (requests need the job secret) and is advertised at the
  // address the first remote host is reached by, or at --iface's.
  const advertised = multiHost
    ? options.iface
      ? addressForIface(options.iface)
      : await addressToward(remote[0]).catch(() => addressToward('127.0.0.1'))
    : '127.0.0.1'
  const job = await createJob(multiHost ? 'tcp://0.0.0.0:*' : 'tcp://127.0.0.1:*')
  // Build the native helpers once here, not in every rank at the same moment (a no-op once cached).
  prepareNative()
  const port = job.store.endpoint.split(':').at(-1)
  const store = `tcp://${advertised}:${port}`
  const parts = traceParts(options, job.id)
  let ranks: RankProcess[] = []
  const cleanups: (() => void)[] = []
  try {
    const compiled = await compiledScriptVars(options.script)
    const size = slots.length
    const elastic = elasticOf(options, size)
    const remoteHosts = new RemoteHosts(job.secret, options.remoteArgv ?? withKeepAlive(options.launchAgent, heartbeatSeconds(options)), process.cwd())
    cleanups.push(() => remoteHosts.close())
    const startRank = (slot: Slot, more: Record<string, string>) => {
      const vars = {
        ...options.env,
        ...rankVars(slot, size, job, store, { multiHost, routeTarget: multiHost ? advertised : undefined, iface: options.iface }),
        ...(parts ? { TSRUN_TRACE_PARTS: parts } : {}),
        TSRUN_RESTART_COUNT: restartCount(attempt),
        ...more,
      }
      if (local.get(slot.host) ?? false) {
        return spawnLocal(
          slot,
          options.script,
          options.args,
          { ...process.env, ...vars, ...compiled, TSRUN_JOB_SECRET: job.secret, TSRUN_LAUNCHER_PID: String(process.pid) },
          slot.rank === 0 && !more.TSRUN_ELASTIC_JOIN,
        )
      }
      return remoteHosts.spawn(
        slot,
        options.script,
        options.args,
        { ...vars, ...compiled, TSRUN_WATCH_PARENT: '1' },
        slot.rank === 0 && !more.TSRUN_ELASTIC_JOIN,
      )
    }
    let hooks: ElasticHooks | undefined
    if (elastic) {
      const range = `${elastic.min}:${elastic.max}`
      const coordinator = new ElasticCoordinator(job.store, job.id, elastic, {
        spawn: (slot, id) => {
          // A joining rank's number comes from the generation it joins; TSRUN_RANK/TSRUN_SIZE only need to be consistent.
          const r = startRank(slot, { TSRUN_ELASTIC: range, TSRUN_ELASTIC_ID: id, TSRUN_ELASTIC_JOIN: '1', TSRUN_SIZE: String(Math.max(size, slot.rank + 1)) })
          ranks.push(r)
          return r
        },
        add: (r) => add?.(r),
        fail: (line, code) => fail?.(line, code),
        log: say,
        discover: rediscover,
        discoverySource: discovery ? 'the discovery script' : `the hostfile ${options.hostfile}`,
      })
      let add: ((r: RankProcess) => void) | undefined
      let fail: ((line: string, code: number) => void) | undefined
      const ids = slots.map((slot) => coordinator.idOf(slot))
      ranks = slots.map((slot, i) => startRank(slot, { TSRUN_ELASTIC: range, TSRUN_ELASTIC_ID: ids[i]! }))
      coordinator.start(ranks.map((proc, i) => ({ proc, id: ids[i]! })))
      hooks = {
        absorb: (r, how) => coordinator.absorb(r, how),
        exited: (r) => coordinator.exited(r),
        bind: (a, f) => {
          add = a
          fail = f
        },
      }
      cleanups.push(() => coordinator.close())
    } else {
      ranks = slots.map((slot) => startRank(slot, {}))
    }
    connectStdin(ranks[0])
    return await supervise(ranks, {
      tagOutput: options.tagOutput,
      timeoutSec: options.timeoutSec,
      stopOnFailure: setting('TSRUN_SUPERVISE'),
      outcome,
      jobDir: job.dir,
      elastic: hooks,
    })
  } finally {
    for (const r of ranks) r.kill('SIGKILL')
    for (const c of cleanups) c()
    process.stdin.unpipe()
    process.stdin.destroy()
    job.cleanup()
    finishJobTrace(parts, options)
  }
}
