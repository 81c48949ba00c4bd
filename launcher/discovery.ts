/**
 * `--host-discovery-script FILE` (Horovod's elastic host discovery): an executable that prints the hosts the job
 * may use, one `host:slots` line each (a hostfile's lines are read too). The launcher runs it at the start for
 * the first placement, then every DISCOVERY_INTERVAL_MS: an elastic job grows onto new slots, up to MAX, and
 * stops the ranks of a host that is no longer listed. An elastic job's `--hostfile` is read again the same way
 * (hostfileHosts).
 */
import { execFile, execFileSync } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { UsageError } from '../src/errors.ts'
import { parseHostfile, readHostfile, type Host } from './hostfile.ts'

/** How often the script runs while the job does (Horovod: 1 s). */
export const DISCOVERY_INTERVAL_MS = 1000
/** A run of the script that takes longer is an error at the start, and skipped later. */
const DISCOVERY_TIMEOUT_MS = 10_000

function explain(script: string, err: NodeJS.ErrnoException & { status?: number; stderr?: Buffer | string }): string {
  if (err.code === 'EACCES') return `the host discovery script ${script} is not executable; chmod +x it`
  if (err.code === 'ENOENT') return `the host discovery script ${script} does not exist`
  const out = String(err.stderr ?? '')
    .trim()
    .split('\n')
    .at(-1)
  return `the host discovery script ${script} failed (${err.status !== undefined ? `exit ${err.status}` : err.message})${out ? `: ${out}` : ''}`
}

/** The script's hosts now, for the first placement; UsageError saying what went wrong. */
export function discoverHostsNow(script: string): Host[] {
  let text: string
  try {
    text = execFileSync(script, [], { encoding: 'utf8', timeout: DISCOVERY_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    throw new UsageError(explain(script, err as NodeJS.ErrnoException))
  }
  return parseHostfile(text, `the output of ${script}`)
}

/** The script's hosts, or the reason it could not say (the job goes on with what it has). */
export function discoverHosts(script: string): Promise<Host[] | string> {
  return new Promise((resolve) => {
    execFile(script, [], { encoding: 'utf8', timeout: DISCOVERY_TIMEOUT_MS }, (err, stdout) => {
      if (err) return resolve(explain(script, err as unknown as NodeJS.ErrnoException))
      try {
        resolve(stdout.trim() === '' ? [] : parseHostfile(stdout, `the output of ${script}`))
      } catch (e) {
        resolve((e as Error).message)
      }
    })
  })
}

/**
 * An elastic job's `--hostfile`, as a discovery source: its hosts, read again when the file has changed. A change
 * counts once the file has stayed the same for one more round (a file half written by an editor or a script is
 * not taken for the list); a file that cannot be read or parsed leaves the job with the hosts it has.
 */
export function hostfileHosts(path: string, first: Host[]): () => Promise<Host[] | string> {
  let hosts = first
  let seen: string | undefined
  let pending: string | undefined
  const stampOf = async () => {
    const st = await stat(path)
    return `${st.mtimeMs}:${st.size}:${st.ino}`
  }
  const ready = stampOf().then(
    (s) => void (seen = s),
    () => {},
  )
  return async () => {
    await ready
    let now: string
    try {
      now = await stampOf()
    } catch (err) {
      return `cannot read the hostfile ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`
    }
    if (now === seen) return hosts
    if (now !== pending) {
      pending = now
      return hosts
    }
    seen = now
    pending = undefined
    try {
      hosts = readHostfile(path)
    } catch (err) {
      return (err as Error).message
    }
    return hosts
  }
}

/**
 * Where new ranks go: free slots of the listed hosts (slots minus the living ranks there), in the script's order,
 * until the job has `max` living ranks. A host in `resting` (it failed too often lately) gets none.
 */
export function freeSlots(hosts: Host[], living: string[], max: number, resting: Set<string>): string[] {
  const used = new Map<string, number>()
  for (const h of living) used.set(h, (used.get(h) ?? 0) + 1)
  const out: string[] = []
  let total = living.length
  for (const h of hosts) {
    if (resting.has(h.name)) continue
    for (let free = h.slots - (used.get(h.name) ?? 0); free > 0 && total < max; free--, total++) out.push(h.name)
  }
  return out
}

/** Calls `onHosts` with the script's list every DISCOVERY_INTERVAL_MS until the returned stop is called. */
export function pollHosts(discover: () => Promise<Host[] | string>, onHosts: (hosts: Host[]) => void, log: (line: string) => void): () => void {
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  const round = async () => {
    const hosts = await discover()
    if (stopped) return
    if (typeof hosts === 'string') log(`${hosts}; the job goes on with the hosts it has`)
    else onHosts(hosts)
    timer = setTimeout(round, DISCOVERY_INTERVAL_MS)
  }
  timer = setTimeout(round, DISCOVERY_INTERVAL_MS)
  return () => {
    stopped = true
    clearTimeout(timer)
  }
}
