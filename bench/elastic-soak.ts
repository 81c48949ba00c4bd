/**
 * Elastic soak: an elastic job (`tsrun -np N --elastic 1:N`, test/fixtures/elastic-ids.ts: every position of every
 * epoch counted by allreduce) whose ranks are killed with SIGKILL at random, one every `--interval` ms, until
 * `--kills` kills; each lost slot is restarted by the launcher and joins. Prints one JSON line: the kills, the
 * generations, whether every position was used exactly once, the time, and the processes left behind.
 *   npx tsx bench/elastic-soak.ts --kills 100
 * A slot that failed 3 times within a minute is normally left out for a minute; the soak raises that bound
 * (TSRUN_ELASTIC_FLAP_FAILURES) so that kills can come faster than that.
 */
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = await yargs(hideBin(process.argv))
  .options({
    np: { type: 'number', default: 4 },
    kills: { type: 'number', default: 100 },
    interval: { type: 'number', default: 700, describe: 'ms between kills' },
    positions: { type: 'number', default: 12000 },
    epochs: { type: 'number', default: 40, describe: 'enough that the job outlasts the kills' },
    'timeout-s': { type: 'number', default: 900 },
  })
  .strict()
  .parse()

/** Processes whose parent is `pid` (the launcher's ranks). */
function childrenOf(pid: number): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d))
    } catch {}
  }
  return out
}

const mark = `soak-${process.pid}`
const t0 = performance.now()
const child = spawn(
  process.execPath,
  [
    join(root, 'launcher/bin.mjs'),
    '-np',
    String(args.np),
    '--elastic',
    `1:${args.np}`,
    join(root, 'test/fixtures/elastic-ids.ts'),
    String(args.positions),
    String(args.epochs),
    '24',
    '10',
    mark,
  ],
  { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TSRUN_ELASTIC_FLAP_FAILURES: '1000' } },
)
let out = ''
let err = ''
child.stdout.on('data', (d) => (out += d))
child.stderr.on('data', (d) => (err += d))
let kills = 0
const timer = setInterval(() => {
  if (kills >= args.kills || /ELASTIC-RESULT/.test(out)) return clearInterval(timer)
  const ranks = childrenOf(child.pid!)
  if (ranks.length < 2) return // one rank holds the state: never kill the last
  try {
    process.kill(ranks[Math.floor(Math.random() * ranks.length)]!, 'SIGKILL')
    kills++
  } catch {}
}, args.interval)
const killAll = setTimeout(() => child.kill('SIGKILL'), args['timeout-s'] * 1000)
const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
clearInterval(timer)
clearTimeout(killAll)
await new Promise((r) => setTimeout(r, 500))
const left = readdirSync('/proc').filter((d) => {
  if (!/^\d+$/.test(d)) return false
  try {
    return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(mark)
  } catch {
    return false
  }
})
const result = JSON.parse(/ELASTIC-RESULT (\{.*\})/.exec(out)?.[1] ?? 'null') as {
  ok: boolean
  bad: number
  generation: number
  size: number
  same: boolean
} | null
const changes = (err.match(/^tsrun: world \d+ → \d+/gm) ?? []).length
console.log(
  JSON.stringify({
    kills,
    code,
    seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
    changes,
    ...(result ? { ok: result.ok, bad: result.bad, same: result.same, generation: result.generation, size: result.size } : { result: null }),
    left: left.length,
  }),
)
if (code !== 0 || !result?.ok || !result.same) process.stderr.write(err.split('\n').slice(-15).join('\n') + '\n')
process.exitCode = code === 0 && result?.ok && result.same && left.length === 0 ? 0 : 1
