/**
 * Slurm's compressed host lists and task counts:
 *   expandHostlist('node[1-3,7],gpu-[01-02]') → node1 node2 node3 node7 gpu-01 gpu-02 (zero padding kept)
 *   expandTasksPerNode('2(x3),1') → [2, 2, 2, 1]
 */
import { UsageError } from '../errors.ts'

/** Splits on commas that are not inside brackets. */
function topLevel(text: string): string[] {
  const out: string[] = []
  let depth = 0
  let cur = ''
  for (const ch of text) {
    if (ch === '[') depth++
    if (ch === ']') depth--
    if (depth < 0) throw new UsageError(`bad Slurm host list '${text}': unbalanced ']'`)
    if (ch === ',' && depth === 0) {
      out.push(cur)
      cur = ''
    } else cur += ch
  }
  if (depth !== 0) throw new UsageError(`bad Slurm host list '${text}': unbalanced '['`)
  out.push(cur)
  return out.filter((s) => s.length > 0)
}

function expandOne(item: string, whole: string): string[] {
  const m = /^([^[]*)\[([^\]]+)\](.*)$/.exec(item)
  if (!m) return [item]
  const [, prefix, ranges, suffix] = m
  const out: string[] = []
  for (const r of ranges.split(',')) {
    const mm = /^(\d+)(?:-(\d+))?$/.exec(r)
    if (!mm) throw new UsageError(`bad Slurm host list '${whole}': cannot read range '${r}'`)
    const [lo, hi] = [Number(mm[1]), Number(mm[2] ?? mm[1])]
    if (hi < lo) throw new UsageError(`bad Slurm host list '${whole}': range '${r}' goes down`)
    const width = mm[1].length
    for (let n = lo; n <= hi; n++) for (const rest of expandOne(suffix, whole)) out.push(prefix + String(n).padStart(width, '0') + rest)
  }
  return out
}

export function expandHostlist(text: string): string[] {
  return topLevel(text.trim()).flatMap((item) => expandOne(item, text))
}

export function expandTasksPerNode(text: string): number[] {
  const out: number[] = []
  for (const item of text.split(',')) {
    const m = /^(\d+)(?:\(x(\d+)\))?$/.exec(item.trim())
    if (!m) throw new UsageError(`bad Slurm tasks-per-node list '${text}'`)
    for (let i = 0; i < Number(m[2] ?? 1); i++) out.push(Number(m[1]))
  }
  return out
}
