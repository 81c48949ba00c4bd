/**
 * Hosts and their slots, from a hostfile or `-H`. Both common formats, detected per line:
 *   Open MPI:  `node1 slots=4 max_slots=8`   (`node1` alone is one slot)   # comments and blank lines
 *   MPICH:     `node1:4`                      (`node1` alone is one slot)
 * `-H node1:2,node2:2` (or `-H node1,node1,node2`: each mention is one slot). A host named twice adds up.
 */
import { readFileSync } from 'node:fs'
import { UsageError } from '../src/errors.ts'

export interface Host {
  name: string
  slots: number
  /** Hard limit even with --oversubscribe (Open MPI's max_slots). */
  maxSlots?: number
}

const NAME = /^[A-Za-z0-9_.\-[\]:]+$/

function positive(text: string, what: string, where: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${where}: ${what} must be a whole number >= 1, got '${text}'`)
  return n
}

function add(hosts: Host[], h: Host): void {
  const same = hosts.find((x) => x.name === h.name)
  if (!same) hosts.push(h)
  else {
    same.slots += h.slots
    if (h.maxSlots !== undefined) same.maxSlots = (same.maxSlots ?? 0) + h.maxSlots
  }
}

/** Parses hostfile text; `file` names it in errors as `file:line`. */
export function parseHostfile(text: string, file = 'hostfile'): Host[] {
  const hosts: Host[] = []
  text.split('\n').forEach((raw, i) => {
    const where = `${file}:${i + 1}`
    const line = raw.replace(/#.*$/, '').trim()
    if (!line) return
    const [first, ...rest] = line.split(/\s+/)
    let name = first
    let slots = 1
    let maxSlots: number | undefined
    const mpich = /^([^:\s]+):(\S*)$/.exec(first)
    if (mpich) {
      name = mpich[1]
      slots = positive(mpich[2], 'the slot count after ":"', where)
    }
    for (const field of rest) {
      const m = /^(slots|max[-_]slots|count|cpu)=(.*)$/.exec(field)
      if (!m || mpich) throw new UsageError(`${where}: cannot read '${field}'; write 'host slots=N [max_slots=M]' (Open MPI) or 'host:N' (MPICH)`)
      if (m[1] === 'slots' || m[1] === 'count' || m[1] === 'cpu') slots = positive(m[2], m[1], where)
      else maxSlots = positive(m[2], 'max_slots', where)
    }
    if (!NAME.test(name)) throw new UsageError(`${where}: '${name}' is not a host name`)
    if (maxSlots !== undefined && maxSlots < slots) throw new UsageError(`${where}: max_slots=${maxSlots} is below slots=${slots}`)
    add(hosts, { name, slots, maxSlots })
  })
  if (hosts.length === 0) throw new UsageError(`${file}: no hosts in the file; write one host per line, e.g. 'node1 slots=4'`)
  return hosts
}

export function readHostfile(path: string): Host[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(`cannot read hostfile '${path}': ${(err as Error).message}`)
  }
  return parseHostfile(text, path)
}

/** Parses `-H node1:2,node2,node2`. */
export function parseHostList(text: string): Host[] {
  const hosts: Host[] = []
  for (const item of text.split(',').map((s) => s.trim())) {
    if (!item) throw new UsageError(`-H: empty host name in '${text}'; write -H node1:2,node2:2`)
    const m = /^([^:]+)(?::(.*))?$/.exec(item)!
    if (!NAME.test(m[1])) throw new UsageError(`-H: '${m[1]}' is not a host name`)
    add(hosts, { name: m[1], slots: m[2] === undefined ? 1 : positive(m[2], `the slot count of '${m[1]}'`, '-H') })
  }
  return hosts
}
