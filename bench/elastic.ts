/**
 * What an elastic job costs and how fast it recovers, on MNIST (examples/mnist/train.ts), runs alternated:
 * - `plain`: `tsrun -np N examples/mnist/train.ts` (no --elastic);
 * - `elastic`: the same with `--elastic 1:N` and no fault (the cost of elastic mode);
 * - `kill`: `--elastic 2:N --inject-fault RANK:STEP` (SIGKILL at that commit; the slot restarts and joins);
 * - `restart`: the whole-job restart it replaces, `--max-restarts 1` with a checkpoint and a kill of the same rank
 *   from outside once the job has run about as long (the comparison of issue #22).
 * Each run's line: mode, rep, exit code, wall seconds, test accuracy, samples/s of the last epoch, and for `kill`
 * the launcher's "resumed … in T s" figures (loss to the state in place again, and join to the same).
 *   npx tsx bench/elastic.ts --np 4 --epochs 5 --reps 3
 * Ends with the medians per mode (JSON on the last line).
 */
import * as childProcess from 'node:child_process'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = await yargs(hideBin(process.argv))
  .options({
    np: { type: 'number', default: 4 },
    epochs: { type: 'number', default: 5 },
    reps: { type: 'number', default: 3 },
    'kill-rank': { type: 'number', default: 2 },
    'kill-step': { type: 'number', default: 100, describe: 'the commit at which the rank is killed (early in epoch 2 at np=4: 71 steps an epoch)' },
    modes: { type: 'string', default: 'plain,elastic,kill,restart' },
  })
  .strict()
  .parse()

interface RunResult {
  mode: string
  rep: number
  code: number | null
  seconds: number
  acc?: number
  samplesPerSecond?: number
  lossResumeS?: number
  joinResumeS?: number
}

function run(mode: string, rep: number): Promise<RunResult> {
  const np = String(args.np)
  const script = join(root, 'examples/mnist/train.ts')
  const common = ['--epochs', String(args.epochs), '--json']
  const ck = mode === 'restart' ? mkdtempSync(join(tmpdir(), 'tsrun-bench-ck-')) : undefined
  const argv =
    mode === 'plain'
      ? ['-np', np, script, ...common]
      : mode === 'elastic'
        ? ['-np', np, '--elastic', `1:${np}`, script, ...common]
        : mode === 'kill'
          ? ['-np', np, '--elastic', `2:${np}`, '--inject-fault', `${args['kill-rank']}:${args['kill-step']}`, script, ...common]
          : ['-np', np, '--max-restarts', '1', script, ...common, '--checkpoint', ck!, '--checkpoint-every', '20', '--resume']
  const t0 = performance.now()
  const child = spawn(process.execPath, [join(root, 'launcher/bin.mjs'), ...argv], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  // The restart path: kill the same rank from outside once its job has run about as long as the kill mode's.
  if (mode === 'restart') {
    const timer = setInterval(() => {
      const m = /epoch 2\//.test(err)
      if (!m) return
      clearInterval(timer)
      killRank(child.pid!, args['kill-rank'])
    }, 50)
    child.on('exit', () => clearInterval(timer))
  }
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      if (ck) rmSync(ck, { recursive: true, force: true })
      const json = out
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{'))
      const summary = json ? (JSON.parse(json) as { testAccuracy?: number; samplesPerSecond?: number }) : {}
      const resumed = [...err.matchAll(/world \d+ → \d+ (after|with)[^;]*; resumed at step \d+ in ([\d.]+) s/g)]
      resolve({
        mode,
        rep,
        code,
        seconds: (performance.now() - t0) / 1000,
        acc: summary.testAccuracy,
        samplesPerSecond: summary.samplesPerSecond,
        lossResumeS: resumed.find((m) => m[1] === 'after') ? Number(resumed.find((m) => m[1] === 'after')![2]) : undefined,
        joinResumeS: resumed.find((m) => m[1] === 'with') ? Number(resumed.find((m) => m[1] === 'with')![2]) : undefined,
      })
    })
  })
}

/** SIGKILL to the rank process of `rank` among the launcher's children (TSRUN_RANK in /proc/<pid>/environ). */
function killRank(launcher: number, rank: number): void {
  const { execFileSync } = childProcess
  const pids = execFileSync('pgrep', ['-P', String(launcher)], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map(Number)
  for (const pid of pids) {
    try {
      const env = execFileSync('cat', [`/proc/${pid}/environ`], { encoding: 'utf8' })
      if (env.split('\0').includes(`TSRUN_RANK=${rank}`)) process.kill(pid, 'SIGKILL')
    } catch {}
  }
}

const median = (xs: number[]) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : Number.NaN
}
const modes = args.modes.split(',')
const results: RunResult[] = []
console.log('mode,rep,exit,seconds,test_acc,samples_per_s,loss_to_resumed_s,join_to_resumed_s')
for (let rep = 0; rep < args.reps; rep++) {
  for (const mode of modes) {
    const r = await run(mode, rep)
    results.push(r)
    console.log(
      [
        r.mode,
        r.rep,
        r.code,
        r.seconds.toFixed(2),
        r.acc?.toFixed(4) ?? '',
        r.samplesPerSecond?.toFixed(0) ?? '',
        r.lossResumeS ?? '',
        r.joinResumeS ?? '',
      ].join(','),
    )
  }
}
const summary = Object.fromEntries(
  modes.map((m) => {
    const rs = results.filter((r) => r.mode === m)
    return [
      m,
      {
        seconds: median(rs.map((r) => r.seconds)),
        acc: median(rs.map((r) => r.acc ?? Number.NaN)),
        samplesPerSecond: median(rs.map((r) => r.samplesPerSecond ?? Number.NaN)),
        lossToResumedS: median(rs.map((r) => r.lossResumeS ?? Number.NaN)),
        joinToResumedS: median(rs.map((r) => r.joinResumeS ?? Number.NaN)),
        exits: rs.map((r) => r.code),
      },
    ]
  }),
)
console.log(JSON.stringify({ np: args.np, epochs: args.epochs, reps: args.reps, medians: summary }))
