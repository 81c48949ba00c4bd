/**
 * The launcher's command line, mpirun style: `tsrun [options] <script> [args...]`. `parseArgs` is pure
 * (no process is started, nothing is printed) so that it can be unit-tested like vitest's parseCLI.
 */
import { existsSync, statSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { resolve } from 'node:path'
import yargs from 'yargs'
import { UsageError } from '../src/errors.ts'
import { setting, SETTINGS } from '../src/settings.ts'
import { parseHostList, readHostfile, type Host } from './hostfile.ts'
import type { MapBy } from './placement.ts'

export interface LaunchOptions {
  /** Number of ranks; undefined: the hosts' slots, the Slurm allocation's tasks, or the cores here. */
  np?: number
  /** Absolute path of the script every rank runs. */
  script: string
  /** Arguments after the script, passed to it untouched. */
  args: string[]
  /** Prefix each output line with `[1,rank]<stdout>:` / `<stderr>:`. */
  tagOutput: boolean
  /** End the whole job after this many seconds. */
  timeoutSec?: number
  /** Extra environment for the ranks, from `-x NAME[=VALUE]`. */
  env: Record<string, string>
  /** Hosts from --hostfile or -H; undefined: this machine (or the Slurm allocation). */
  hosts?: Host[]
  /** --hostfile's path (absolute): an elastic job reads it again while it runs. */
  hostfile?: string
  mapBy: MapBy
  oversubscribe: boolean
  /** Command that starts a process on another host, e.g. ['ssh', '-o', 'BatchMode=yes']. */
  launchAgent: string[]
  /** Set by the launcher for an elastic job in a Slurm allocation: the whole argv that runs a command on a host (srun). */
  remoteArgv?: (host: string, command: string) => string[]
  /** Interface name or IPv4 range for tcp:// between hosts. */
  iface?: string
  /** Restart the whole job after a failure up to this many times (0: never). */
  maxRestarts: number
  /** `--elastic MIN:MAX` as given (checked against the rank count in launch.ts); undefined: not elastic. */
  elastic?: string
  /** An executable printing `host:slots` lines: the hosts an elastic job may use, run every second. */
  hostDiscoveryScript?: string
  /** Restart a lost member's slot in an elastic job (default true; --elastic-no-respawn). */
  elasticRespawn: boolean
  /** Timeline and report outputs (absolute paths). */
  trace: { timeline?: string; report: boolean; reportJson?: string }
}

/** Default remote shell: never prompt (BatchMode), give up on a dead host after 10 s. */
export const DEFAULT_LAUNCH_AGENT: string = SETTINGS.TSRUN_RSH.default

export type ParseResult = { kind: 'run'; options: LaunchOptions } | { kind: 'help'; text: string } | { kind: 'version'; text: string }

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

function parser() {
  return yargs()
    .scriptName('tsrun')
    .usage('Usage: tsrun [options] <script> [args...]\n\nStart <script> (.ts, .mts, .js or .mjs) as an SPMD job of N ranks.')
    .parserConfiguration({
      'short-option-groups': false, // so that `-np 4` is the option "np", as in mpirun
      'halt-at-non-option': true, // everything after the script belongs to the script
      'camel-case-expansion': false,
      'boolean-negation': false,
    })
    .option('np', { alias: 'n', type: 'number', description: 'number of ranks (default: number of cores)' })
    .option('tag-output', { type: 'boolean', default: false, description: 'prefix every line with [1,rank]<stdout>: or <stderr>:' })
    .option('timeout', { type: 'number', description: 'end the whole job after SECONDS; exit code 124' })
    .option('x', { type: 'string', description: 'export NAME (from this environment) or NAME=VALUE to the ranks; repeatable' })
    .option('stall-warning', { type: 'number', description: 'warn (naming the missing ranks) when a collective waits SECONDS; default 60' })
    .option('op-timeout', { type: 'number', description: 'fail a collective that waits SECONDS with a TimeoutError naming the missing ranks' })
    .option('max-restarts', {
      type: 'number',
      default: 0,
      description: 'after a failure, restart the whole job up to N times (ranks see TSRUN_RESTART_COUNT; resume from a checkpoint)',
    })
    .option('elastic', {
      type: 'string',
      description:
        'MIN:MAX: an elastic job; after a lost rank the survivors go on (runElastic, fitDistributed) while at least MIN remain, and lost slots restart and join, up to MAX',
    })
    .option('elastic-timeout', { type: 'number', description: 'an elastic job below MIN waits SECONDS for ranks to join before it fails; default 60' })
    .option('elastic-settle', {
      type: 'number',
      description: 'after a loss, SECONDS the members have to ask for the next generation before the silent ones are left out; default 3',
    })
    .option('elastic-no-respawn', {
      type: 'boolean',
      default: false,
      description: 'in an elastic job, do not restart a lost member in its slot (by default it restarts and joins)',
    })
    .option('host-discovery-script', {
      type: 'string',
      description: 'with --elastic: an executable printing host:slots lines, run every second; the job grows onto new slots and leaves hosts no longer listed',
    })
    .option('inject-fault', {
      type: 'string',
      description: 'RANK:STEP[:SIGNAL] (tests): rank RANK kills itself with SIGNAL (default SIGKILL) at its STEP-th commit of ElasticState',
    })
    .option('heartbeat-timeout', {
      type: 'number',
      description: 'a rank on another host that stops answering SECONDS (host down, network cut) is lost; default 10',
    })
    .option('encrypt', { type: 'boolean', default: false, description: 'encrypt traffic between ranks (CURVE); costs bandwidth' })
    .option('hostfile', {
      alias: ['f', 'machinefile'],
      type: 'string',
      description: "hosts and slots: 'node1 slots=4' (Open MPI) or 'node1:4' (MPICH) per line",
    })
    .option('H', { alias: 'host', type: 'string', description: 'hosts and slots: -H node1:2,node2:2' })
    .option('map-by', { type: 'string', description: "place ranks by 'slot' (fill each host first, default) or 'node' (round robin)" })
    .option('oversubscribe', { type: 'boolean', default: false, description: 'allow more ranks than slots' })
    .option('launch-agent', { type: 'string', description: `command that starts ranks on other hosts (default: TSRUN_RSH or '${DEFAULT_LAUNCH_AGENT}')` })
    .option('timeline', { type: 'string', description: 'write a Chrome trace of every collective on every rank to FILE (Perfetto, chrome://tracing)' })
    .option('report', { type: 'boolean', default: false, description: 'at the end, print per-rank time in collectives, bytes, stragglers, slowest calls' })
    .option('report-json', { type: 'string', description: 'write the end-of-job report as JSON to FILE' })
    .option('iface', { type: 'string', description: 'network for tcp:// between hosts: an interface name (eth0) or a range (198.18.0.0/24)' })
    .example('tsrun -np 4 train.ts --epochs 3', 'four ranks on this machine; --epochs 3 goes to train.ts')
    .example('tsrun -np 2 --tag-output -x SEED=7 hello.ts', 'tag lines by rank and set SEED in every rank')
    .example('tsrun --hostfile hosts -np 8 train.ts', 'ranks on the hosts in ./hosts, started over ssh')
    .example('srun -n 64 npx tsrun train.ts', 'inside Slurm, each task becomes one rank')
    .example('sbatch -N 4 --ntasks-per-node 2 --wrap "npx tsrun train.ts"', 'inside an allocation, tsrun starts the ranks with srun')
    .epilogue(
      'Ranks get TSRUN_RANK, TSRUN_SIZE, TSRUN_LOCAL_RANK, TSRUN_LOCAL_SIZE and TSRUN_NODE_RANK.\n' +
        "When a rank fails, tsrun stops the others and exits with that rank's code.",
    )
    .help(false)
    .version(false)
    .option('help', { alias: 'h', type: 'boolean', description: 'show this help' })
    .option('version', { alias: 'V', type: 'boolean', description: 'show the version' })
    .strictOptions()
    .exitProcess(false)
    .fail((msg, err) => {
      const unknown = /^Unknown arguments?: (.*)$/.exec(msg ?? '')
      if (unknown)
        throw new UsageError(
          `unknown option ${unknown[1]
            .split(', ')
            .map((o) => (o.length > 1 ? `--${o}` : `-${o}`))
            .join(', ')}; see tsrun --help`,
        )
      throw new UsageError(err?.message ?? msg)
    })
}

/**
 * Parses launcher arguments (without `node` and the bin path).
 *
 * @throws UsageError saying what was wrong, for unknown flags, bad counts, a missing or absent script.
 */
export async function parseArgs(argv: string[], cwd = process.cwd(), version = '0.0.0'): Promise<ParseResult> {
  const y = parser()
  const a = (await y.parseAsync(argv)) as Record<string, unknown> & { _: (string | number)[] }
  if (a.help) return { kind: 'help', text: await y.getHelp() }
  if (a.version) return { kind: 'version', text: `tsrun ${version}` }

  const npRaw = a.np ?? a.n
  const np = npRaw as number | undefined
  if (Array.isArray(npRaw)) throw new UsageError('-np was given more than once; give it once')
  if (np !== undefined && (!Number.isInteger(np) || np < 1)) {
    throw new UsageError(`-np must be a whole number of ranks >= 1, got ${JSON.stringify(argValue(argv, ['-np', '-n', '--np']) ?? npRaw)}`)
  }

  const timeout = a.timeout as number | undefined
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0)) {
    throw new UsageError(`--timeout must be a positive number of seconds, got ${JSON.stringify(argValue(argv, ['--timeout']))}`)
  }

  const env: Record<string, string> = {}
  const xs = a.x === undefined ? [] : Array.isArray(a.x) ? (a.x as string[]) : [a.x as string]
  for (const x of xs) {
    const eq = String(x).indexOf('=')
    const name = eq < 0 ? String(x) : String(x).slice(0, eq)
    if (!ENV_NAME.test(name)) throw new UsageError(`-x takes NAME or NAME=VALUE with a valid variable name, got '${x}'`)
    const value = eq < 0 ? process.env[name] : String(x).slice(eq + 1)
    if (value !== undefined) env[name] = value
  }

  for (const [flag, name] of [
    ['stall-warning', 'TSRUN_STALL_WARNING'],
    ['op-timeout', 'TSRUN_OP_TIMEOUT'],
    ['heartbeat-timeout', 'TSRUN_HEARTBEAT_TIMEOUT'],
    ['elastic-timeout', 'TSRUN_ELASTIC_TIMEOUT'],
    ['elastic-settle', 'TSRUN_ELASTIC_SETTLE'],
  ] as const) {
    const v = a[flag]
    if (v === undefined) continue
    if (!(typeof v === 'number' && v > 0))
      throw new UsageError(`--${flag} must be a positive number of seconds, got ${JSON.stringify(argValue(argv, [`--${flag}`]))}`)
    env[name] = String(v)
  }

  if (a.encrypt) env.TSRUN_ENCRYPT = '1'
  const fault = single(a['inject-fault'], '--inject-fault')
  if (fault !== undefined) {
    if (!/^\d+:\d+(:SIG[A-Z0-9]+)?$/.test(fault)) throw new UsageError(`--inject-fault takes RANK:STEP[:SIGNAL], e.g. 2:50:SIGKILL, got '${fault}'`)
    env.TSRUN_INJECT_FAULT = fault
  }
  const elastic = single(a.elastic, '--elastic')
  if (elastic !== undefined && !/^(\d+)?:(\d+)?$|^\d+$/.test(elastic.trim()))
    throw new UsageError(`--elastic takes MIN:MAX, e.g. --elastic 2:4, got '${elastic}'`)

  const rest = a._.map(String)
  if (rest[0] === '--') rest.shift()
  const [script, ...args] = rest
  if (!script) throw new UsageError('no script given; usage: tsrun [options] <script> [args...] (see tsrun --help)')
  if (script.startsWith('-')) throw new UsageError(`unknown option '${script}' (see tsrun --help)`)
  const path = resolve(cwd, script)
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new UsageError(`script '${script}' not found (looked for ${path}); check the path`)
  }
  const hostfile = single(a.hostfile, '--hostfile')
  const hostList = single(a.H, '-H')
  if (hostfile !== undefined && hostList !== undefined) throw new UsageError('give either --hostfile or -H, not both')
  const discovery = single(a['host-discovery-script'], '--host-discovery-script')
  if (discovery !== undefined && (hostfile !== undefined || hostList !== undefined))
    throw new UsageError('give either --host-discovery-script or --hostfile/-H, not both')
  if (discovery !== undefined && a.elastic === undefined)
    throw new UsageError('--host-discovery-script needs --elastic MIN:MAX (hosts come and go only in an elastic job)')
  const hosts = hostfile !== undefined ? readHostfile(resolve(cwd, hostfile)) : hostList !== undefined ? parseHostList(hostList) : undefined
  const mapBy = single(a['map-by'], '--map-by') ?? 'slot'
  if (mapBy !== 'slot' && mapBy !== 'node') throw new UsageError(`--map-by must be 'slot' or 'node', got '${mapBy}'`)
  const agent = (single(a['launch-agent'], '--launch-agent') ?? setting('TSRUN_RSH')).trim().split(/\s+/)
  const iface = single(a.iface, '--iface')
  const timeline = single(a.timeline, '--timeline')
  const reportJson = single(a['report-json'], '--report-json')
  for (const [flag, v] of [
    ['--timeline', timeline],
    ['--report-json', reportJson],
  ] as const) {
    if (v === '') throw new UsageError(`${flag} needs a file name, e.g. ${flag} ${flag === '--timeline' ? 'trace.json' : 'report.json'}`)
  }
  const maxRestarts = a['max-restarts'] as number
  if (Array.isArray(maxRestarts) || !(Number.isInteger(maxRestarts) && maxRestarts >= 0)) {
    throw new UsageError(`--max-restarts must be a whole number >= 0, got ${JSON.stringify(argValue(argv, ['--max-restarts']) ?? maxRestarts)}`)
  }
  const trace = {
    timeline: timeline === undefined ? undefined : resolve(cwd, timeline),
    report: Boolean(a.report),
    reportJson: reportJson === undefined ? undefined : resolve(cwd, reportJson),
  }
  return {
    kind: 'run',
    options: {
      np,
      script: path,
      args,
      tagOutput: Boolean(a['tag-output']),
      timeoutSec: timeout,
      env,
      hosts,
      hostfile: hostfile === undefined ? undefined : resolve(cwd, hostfile),
      mapBy,
      oversubscribe: Boolean(a.oversubscribe),
      launchAgent: agent,
      iface,
      trace,
      maxRestarts,
      elastic,
      elasticRespawn: !a['elastic-no-respawn'],
      hostDiscoveryScript: discovery === undefined ? undefined : resolve(cwd, discovery),
    },
  }
}

/** The value of an option that may be given once. */
function single(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined
  if (Array.isArray(value)) throw new UsageError(`${name} was given more than once; give it once`)
  return String(value)
}

/** The default rank count on this machine. */
export function defaultNp(): number {
  return availableParallelism()
}

/** The raw text that followed a flag, for error messages that show what the user typed. */
function argValue(argv: string[], names: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    for (const n of names) {
      if (argv[i] === n) return argv[i + 1]
      if (argv[i].startsWith(n + '=')) return argv[i].slice(n.length + 1)
    }
  }
  return undefined
}
