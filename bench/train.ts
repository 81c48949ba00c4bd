/**
 * Data-parallel training throughput (weak scaling: a fixed batch per rank), tsrun/dl on the wasm backend:
 *   npx tsx bench/train.ts [--np 1,2,4] [--models mnist,mlp5m] [--modes sync,hybrid] [--reps 3] [--csv] [--plot out.svg]
 *   npx tsx bench/train.ts --models torch-mlp --compare-torch     # next to PyTorch DDP (gloo), same model
 *
 * The driver starts `tsrun -np N bench/train.ts --worker ...` once per configuration, alternating the
 * configurations within each repetition, and reports medians. A worker runs --warmup steps, then --steps timed
 * steps between two barriers; samples/s = np × batch × steps / the slowest rank's time. comm share = time a
 * step waits for gradient allreduces and model averages / step time (DistributedOptimizer.times), averaged
 * over ranks. efficiency = samples/s at np / (np × samples/s at np 1). np above the core count is marked
 * oversubscribed (*): the ranks then share cores, so efficiency there measures the machine, not tsrun.
 *
 * Models: mnist = the example's 784-128-10 MLP on the MNIST digits, batch 32, momentum SGD;
 * mlp5m = 784-2048-1536-10 (4.77 M parameters) on random inputs, batch 32;
 * torch-mlp = bench/torch/ddp_train.py's 784-512-256-10 MLP, batch 64, SGD 0.01, random inputs;
 * mnist-cnn = the example's CNN (5x5 convolution of 8 channels, 2x2 max pooling, dense) on the MNIST digits, batch 32;
 * torch-cnn = bench/torch/ddp_train.py's CIFAR-style CNN (3x3 convolutions of 16 and 32 channels with ReLU and
 * 2x2 max pooling, dense) on random 32x32x3 inputs, batch 32, SGD 0.01.
 * Hybrid: groups of np/2 ranks (np 2: groups of 1, i.e. parameter averaging), averaging every 8 steps.
 * Local: every rank trains alone, no communication at all: the efficiency this machine allows (ranks share
 * cores, caches and memory bandwidth), the ceiling for the other modes.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import type { ArrayDataset, LayersModel, Tensor, Tf } from 'tsrun/dl'
import { median } from './report.ts'
import { plotTrainSvg, type TrainRow } from './train-plot.ts'

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)))
const MODELS = ['mnist', 'mlp5m', 'torch-mlp', 'mnist-cnn', 'torch-cnn'] as const
/** The models PyTorch DDP runs too (--compare-torch), by bench/torch/ddp_train.py's --model. */
const TORCH: Partial<Record<ModelName, string>> = { 'torch-mlp': 'mlp', 'torch-cnn': 'cnn' }
type ModelName = (typeof MODELS)[number]
const DEFAULTS: Record<ModelName, { batch: number; steps: number; warmup: number }> = {
  mnist: { batch: 32, steps: 150, warmup: 10 },
  mlp5m: { batch: 32, steps: 20, warmup: 3 },
  'torch-mlp': { batch: 64, steps: 100, warmup: 10 },
  'mnist-cnn': { batch: 32, steps: 60, warmup: 5 },
  'torch-cnn': { batch: 32, steps: 40, warmup: 5 },
}

const argv = await yargs(hideBin(process.argv))
  .usage('npx tsx bench/train.ts [options]')
  .option('np', { type: 'string', default: '1,2,4', description: 'rank counts' })
  .option('models', { type: 'string', default: 'mnist,mlp5m', description: `comma-separated: ${MODELS.join(', ')}` })
  .option('modes', {
    type: 'string',
    default: 'sync,hybrid,local',
    description: 'sync (one group), hybrid (groups of np/2, averaging every 8 steps), local (no communication: what the machine allows)',
  })
  .option('steps', { type: 'number', description: 'timed steps per run (default per model)' })
  .option('warmup', { type: 'number', description: 'untimed steps first (default per model)' })
  .option('batch', { type: 'number', description: 'samples per rank per step (default per model)' })
  .option('average-every', { type: 'number', default: 8 })
  .option('compression', { choices: ['none', 'fp16', 'bf16'] as const, default: 'none' as const, description: 'gradients on the wire as 16-bit floats' })
  .option('reps', { type: 'number', default: 3, description: 'alternated repetitions; medians are reported' })
  .option('compare-torch', {
    type: 'boolean',
    default: false,
    description: 'also run PyTorch DDP (gloo) on torch-mlp and torch-cnn at the same np (needs python3-torch)',
  })
  .option('torch-script', { type: 'string', default: resolve(ROOT, 'bench/torch/ddp_train.py'), description: 'the PyTorch DDP script --compare-torch runs' })
  .option('torch-timeout', { type: 'number', default: 300, description: 'seconds a PyTorch DDP run may take before it is killed and tried again' })
  .option('python', { type: 'string', default: '/usr/bin/python3', description: "the Python with Debian's python3-torch" })
  .option('csv', { type: 'boolean', default: false })
  .option('json', { type: 'boolean', default: false })
  .option('plot', { type: 'string', description: 'write an SVG plot of samples/s against np' })
  .option('csv-out', { type: 'string', description: 'also write the CSV rows to this file' })
  .option('worker', { type: 'boolean', default: false, hidden: true })
  .option('model', { type: 'string', hidden: true })
  .option('mode', { type: 'string', hidden: true })
  .strictOptions()
  .parse()

if (argv.worker) {
  await worker()
} else {
  driver()
}

async function worker(): Promise<void> {
  const { init } = await import('tsrun')
  const { tf, DistributedOptimizer, broadcastVariables, epochBatches, prefetch, arrayDataset, seededRandom } = await import('tsrun/dl')
  const world = await init()
  const name = argv.model as ModelName
  const d = DEFAULTS[name]
  const batch = argv.batch ?? d.batch
  const steps = argv.steps ?? d.steps
  const warmup = argv.warmup ?? d.warmup
  const hybrid = argv.mode === 'hybrid'
  const local = argv.mode === 'local'
  const groupSize = hybrid ? Math.max(1, Math.floor(world.size / 2)) : local ? 1 : world.size
  // local: every rank trains alone and never averages, the throughput this machine allows without communication.
  const averageEvery = local ? Number.MAX_SAFE_INTEGER : argv['average-every']

  const model = buildModel(tf, name)
  let data: ArrayDataset
  if (name === 'mnist' || name === 'mnist-cnn') {
    const { loadMnist } = await import('../examples/mnist/data.ts')
    data = loadMnist().train
  } else {
    // Random inputs of the model's shape and labels, as bench/torch/ddp_train.py uses.
    const shape = name === 'torch-cnn' ? [32, 32, 3] : [784]
    const n = 16 * batch * world.size
    const r = seededRandom(1234)
    const y = new Float32Array(n * 10)
    for (let i = 0; i < n; i++) y[i * 10 + Math.floor(r() * 10)] = 1
    data = arrayDataset(Float32Array.from({ length: n * shape.reduce((a, b) => a * b) }, r), y, shape, [10])
  }
  const optimizer = name.startsWith('mnist') ? tf.train.momentum(0.05, 0.9) : tf.train.sgd(0.01)
  await broadcastVariables(model, world)
  const opt = new DistributedOptimizer(optimizer, world, { model, groupSize, averageEvery, compression: argv.compression })

  async function run(count: number): Promise<void> {
    let done = 0
    for (let epoch = 0; done < count; epoch++) {
      for await (const b of prefetch(epochBatches(data, batch, { rank: world.rank, size: world.size, seed: 1, epoch }))) {
        if (done === count) break
        const xs = tf.tensor(b.x, [b.size, ...data.xShape])
        const ys = tf.tensor(b.y, [b.size, 10])
        await opt.step(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs) as Tensor))
        tf.dispose([xs, ys])
        done++
      }
    }
  }
  await run(warmup)
  await world.barrier()
  const before = { ...opt.times }
  const t0 = performance.now()
  await run(steps)
  await world.barrier()
  const mine = (performance.now() - t0) / 1000
  const comm = opt.times.commMs - before.commMs
  const total = comm + opt.times.computeMs - before.computeMs
  const [slowest] = await world.allreduce(new Float64Array([mine]), 'max')
  const [share] = await world.allreduce(new Float64Array([comm / total]), 'avg')
  if (world.rank === 0) {
    const row: TrainRow = {
      impl: 'tsrun',
      model: name,
      mode: world.size === 1 ? 'sync' : (argv.mode as string),
      np: world.size,
      groupSize,
      averageEvery: hybrid ? averageEvery : 0,
      batchPerRank: batch,
      steps,
      samplesPerSec: (world.size * batch * steps) / slowest!,
      stepMs: (slowest! * 1000) / steps,
      commShare: share!,
      params: model.countParams(),
      oversubscribed: world.size > availableParallelism(),
    }
    console.log(JSON.stringify(row))
  }
  await world.finalize()
}

/** The model `name` names, the same on every rank (bench/torch/ddp_train.py builds the torch-* ones in PyTorch). */
function buildModel(tf: Tf, name: ModelName): LayersModel {
  const conv = (filters: number, kernelSize: number, padding: 'same' | 'valid', inputShape?: number[]) =>
    tf.layers.conv2d({ filters, kernelSize, padding, activation: 'relu', ...(inputShape ? { inputShape } : {}) })
  const pool = () => tf.layers.maxPooling2d({ poolSize: 2 })
  if (name === 'mnist-cnn') {
    return tf.sequential({
      layers: [
        tf.layers.reshape({ inputShape: [784], targetShape: [28, 28, 1] }),
        conv(8, 5, 'valid'),
        pool(),
        tf.layers.flatten(),
        tf.layers.dense({ units: 10 }),
      ],
    })
  }
  if (name === 'torch-cnn') {
    return tf.sequential({
      layers: [conv(16, 3, 'same', [32, 32, 3]), pool(), conv(32, 3, 'same'), pool(), tf.layers.flatten(), tf.layers.dense({ units: 10 })],
    })
  }
  const layers = name === 'mnist' ? [128] : name === 'mlp5m' ? [2048, 1536] : [512, 256]
  return tf.sequential({
    layers: [
      ...layers.map((units, i) => tf.layers.dense({ units, activation: 'relu', ...(i === 0 ? { inputShape: [784] } : {}) })),
      tf.layers.dense({ units: 10 }),
    ],
  })
}

function driver(): void {
  const nps = argv.np.split(',').map(Number)
  const models = argv.models.split(',').map((s) => s.trim()) as ModelName[]
  for (const m of models) if (!MODELS.includes(m)) fail(`unknown model '${m}'; choose from ${MODELS.join(', ')}`)
  const modes = argv.modes.split(',').map((s) => s.trim())
  for (const m of modes) if (!['sync', 'hybrid', 'local'].includes(m)) fail(`unknown mode '${m}'; choose from sync, hybrid, local`)
  if (nps.some((n) => !Number.isInteger(n) || n < 1)) fail(`--np must be positive integers, got ${argv.np}`)
  if (argv['compare-torch']) checkTorch()
  const say = (s: string) => !argv.json && !argv.csv && process.stderr.write(s + '\n')

  const runs: TrainRow[] = []
  for (let rep = 0; rep < argv.reps; rep++) {
    for (const model of models) {
      for (const np of nps) {
        for (const mode of modes) {
          if (mode !== 'sync' && np === 1) continue
          say(`# rep ${rep + 1}/${argv.reps}: tsrun ${model} ${mode} np=${np}`)
          runs.push(runTsrun(model, mode, np))
          if (argv['compare-torch'] && TORCH[model] && mode === 'sync') {
            say(`# rep ${rep + 1}/${argv.reps}: PyTorch DDP ${model} np=${np}`)
            runs.push(runTorch(np, model))
          }
        }
      }
    }
  }
  const rows = medians(runs)
  if (argv.json) console.log(JSON.stringify(rows))
  else if (argv.csv) console.log(csv(rows))
  else {
    console.log(
      `${'impl'.padEnd(15)} ${'model'.padEnd(10)} ${'mode'.padEnd(7)} ${'np'.padStart(4)} ${'samples/s'.padStart(10)} ${'step ms'.padStart(9)} ${'comm'.padStart(7)} ${'efficiency'.padStart(11)}`,
    )
    for (const r of rows) {
      console.log(
        `${r.impl.padEnd(15)} ${r.model.padEnd(10)} ${r.mode.padEnd(7)} ${(String(r.np) + (r.oversubscribed ? '*' : '')).padStart(4)} ${r.samplesPerSec.toFixed(0).padStart(10)} ${r.stepMs.toFixed(2).padStart(9)} ` +
          `${(r.commShare === undefined ? '-' : (100 * r.commShare).toFixed(1) + '%').padStart(7)} ${(r.efficiency === undefined ? '-' : (100 * r.efficiency).toFixed(0) + '%').padStart(11)}`,
      )
    }
    if (rows.some((r) => r.oversubscribed)) console.log(`* more ranks than the ${availableParallelism()} cores: oversubscribed`)
  }
  if (argv['csv-out']) writeFileSync(argv['csv-out'], csv(rows) + '\n')
  if (argv.plot) {
    writeFileSync(argv.plot, plotTrainSvg(rows, `training throughput (medians of ${argv.reps} alternated runs)`))
    say(`# wrote ${argv.plot}`)
  }
}

function csv(rows: TrainRow[]): string {
  const head = 'impl,model,mode,np,group_size,average_every,batch_per_rank,steps,params,samples_per_s,step_ms,comm_share,efficiency,oversubscribed'
  const line = (r: TrainRow) =>
    [
      r.impl,
      r.model,
      r.mode,
      r.np,
      r.groupSize,
      r.averageEvery,
      r.batchPerRank,
      r.steps,
      r.params,
      r.samplesPerSec.toFixed(1),
      r.stepMs.toFixed(2),
      r.commShare?.toFixed(3) ?? '',
      r.efficiency?.toFixed(3) ?? '',
      r.oversubscribed ? 'yes' : 'no',
    ].join(',')
  return [head, ...rows.map(line)].join('\n')
}

function fail(message: string): never {
  process.stderr.write(`bench/train.ts: ${message}\n`)
  process.exit(2)
}

function runTsrun(model: ModelName, mode: string, np: number): TrainRow {
  const extra = (['steps', 'warmup', 'batch'] as const).flatMap((k) => (argv[k] === undefined ? [] : [`--${k}`, String(argv[k])]))
  const args = [
    resolve(ROOT, 'launcher/bin.mjs'),
    '-np',
    String(np),
    '--timeout',
    '900',
    resolve(ROOT, 'bench/train.ts'),
    '--worker',
    '--model',
    model,
    '--mode',
    mode,
    '--average-every',
    String(argv['average-every']),
    ...extra,
  ]
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, TSRUN_DL_QUIET: '1' }, maxBuffer: 1 << 26 })
  const line = r.stdout.split('\n').find((l) => l.startsWith('{"impl"'))
  if (r.status !== 0 || !line) fail(`tsrun ${model} ${mode} np=${np} failed (exit ${r.status}):\n${r.stderr.slice(-3000)}`)
  return JSON.parse(line) as TrainRow
}

/** --compare-torch needs a Python that imports torch: say in one line what to install, before measuring anything. */
function checkTorch(): void {
  if (!existsSync(argv['torch-script'])) fail(`--compare-torch: ${argv['torch-script']} not found; pass --torch-script PATH`)
  const r = spawnSync(argv.python, ['-c', 'import torch, torch.distributed'], { encoding: 'utf8' })
  if (r.error) fail(`--compare-torch: no Python at ${argv.python}; install one with PyTorch (apt-get install -y python3-torch) or pass --python PATH`)
  if (r.status !== 0) fail(`--compare-torch: ${argv.python} cannot import torch; install it (apt-get install -y python3-torch) or pass --python PATH`)
}

/**
 * PyTorch DDP at `np` ranks on `model`, started by ddp_train.py --nproc. A run gets a time limit (then SIGTERM, on
 * which the script ends its ranks); one that fails or runs out of time is tried once more, saying so.
 */
function runTorch(np: number, model: ModelName): TrainRow {
  const first = torchOnce(np, model)
  if (typeof first !== 'string') return first
  console.error(`# PyTorch DDP np=${np} ${model}: ${first.split('\n')[0]}; trying once more`)
  const second = torchOnce(np, model)
  if (typeof second === 'string') fail(second)
  return second
}

/** One PyTorch DDP job: its row, or why it failed. */
function torchOnce(np: number, model: ModelName): TrainRow | string {
  const d = DEFAULTS[model]
  const steps = String(argv.steps ?? d.steps)
  const warmup = String(argv.warmup ?? d.warmup)
  const batch = String(argv.batch ?? d.batch)
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TSRUN_'))), GLOO_SOCKET_IFNAME: 'lo', OMP_NUM_THREADS: '1' }
  const args = [argv['torch-script'], '--threads', '1', '--steps', steps, '--warmup', warmup, '--batch', batch, '--model', TORCH[model]!, '--nproc', String(np)]
  const r = spawnSync(argv.python, args, { encoding: 'utf8', env, timeout: argv['torch-timeout'] * 1000, maxBuffer: 1 << 26 })
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('torch-ddp-gloo,'))
  if (r.error?.message.includes('ETIMEDOUT')) return `PyTorch DDP np=${np} did not end within ${argv['torch-timeout']} s (--torch-timeout)`
  if (r.status !== 0 || !line) return `PyTorch DDP np=${np} failed (exit ${r.status}; is python3-torch installed?):\n${(r.stderr ?? '').slice(-3000)}`
  // impl,np,threads,blas,batch_per_rank,steps,samples_per_s,step_ms,oversubscribed,params
  const f = line.split(',')
  return {
    impl: 'torch-ddp-gloo',
    model,
    mode: 'sync',
    np,
    groupSize: np,
    averageEvery: 0,
    batchPerRank: Number(f[4]),
    steps: Number(f[5]),
    samplesPerSec: Number(f[6]),
    stepMs: Number(f[7]),
    commShare: undefined,
    params: Number(f[9]),
    oversubscribed: f[8] === 'yes',
  }
}

function medians(runs: TrainRow[]): TrainRow[] {
  const key = (r: TrainRow) => `${r.impl}|${r.model}|${r.mode}|${r.np}`
  const groups = new Map<string, TrainRow[]>()
  for (const r of runs) groups.set(key(r), [...(groups.get(key(r)) ?? []), r])
  const rows = [...groups.values()].map((rs) => ({
    ...rs[0]!,
    samplesPerSec: median(rs.map((r) => r.samplesPerSec)),
    stepMs: median(rs.map((r) => r.stepMs)),
    commShare: rs[0]!.commShare === undefined ? undefined : median(rs.map((r) => r.commShare!)),
  }))
  for (const r of rows) {
    const base = rows.find((b) => b.impl === r.impl && b.model === r.model && b.np === 1)
    r.efficiency = base ? r.samplesPerSec / (r.np * base.samplesPerSec) : undefined
  }
  return rows
}
