/**
 * Checkpoints: the model's variables, the optimizer's state and the training position, written by one rank
 * into a temporary directory and renamed into place, so a reader sees a whole checkpoint or none. Restoring
 * is collective: the root reads the latest complete checkpoint and broadcasts it, so other hosts need no
 * shared file system.
 *
 * Layout: `<dir>/ckpt-<step, 9 digits>/manifest.json` and `tensors.bin` (little-endian float32 / int32).
 */
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { UsageError, type Communicator } from '../index.ts'
import { tf, type Optimizer, type Tensor, type Variable } from './backend.ts'
import { allVariables, type Trainable } from './variables.ts'

const FORMAT = 'tsrun-checkpoint-1'
const NAME = /^ckpt-(\d{9})$/

/** Where training stood when a checkpoint was written. */
export interface TrainingPosition {
  /** Optimizer steps taken. */
  step: number
  /** Anything else to carry over (epoch, history, a data loader's position), as JSON. */
  extra?: Record<string, unknown>
}

interface TensorEntry {
  name: string
  part: 'model' | 'optimizer'
  dtype: 'float32' | 'int32'
  shape: number[]
  byteOffset: number
}

interface Manifest extends TrainingPosition {
  format: typeof FORMAT
  tensors: TensorEntry[]
  bytes: number
}

/** Options of {@link saveCheckpoint}. */
export interface SaveOptions {
  /** Keep this many newest checkpoints and delete older ones (default 3). */
  keep?: number
}

/**
 * Writes a checkpoint of `model` and `optimizer` at `position` into `dir` (created if missing) and returns
 * its path. Call it on one rank (rank 0) after the ranks agree on the model.
 *
 * @example
 * ```ts
 * if (world.rank === 0) await saveCheckpoint('ckpt', model, opt.optimizer, { step: opt.stepCount })
 * ```
 */
export async function saveCheckpoint(
  dir: string,
  model: Trainable,
  optimizer: Optimizer,
  position: TrainingPosition,
  options: SaveOptions = {},
): Promise<string> {
  const keep = options.keep ?? 3
  if (!Number.isInteger(position.step) || position.step < 0) throw new UsageError(`checkpoint step must be a non-negative integer, got ${position.step}`)
  if (!Number.isInteger(keep) || keep < 1) throw new UsageError(`keep must be a positive integer, got ${keep}`)
  const named = [
    ...allVariables(model).map((v) => ({ name: v.name, part: 'model' as const, tensor: v as Tensor })),
    ...(await optimizer.getWeights()).map((n) => ({ name: n.name, part: 'optimizer' as const, tensor: n.tensor })),
  ]
  const entries: TensorEntry[] = []
  const chunks: Buffer[] = []
  let bytes = 0
  for (const n of named) {
    if (n.tensor.dtype !== 'float32' && n.tensor.dtype !== 'int32') throw new UsageError(`cannot checkpoint "${n.name}" of dtype ${n.tensor.dtype}`)
    const data = n.tensor.dataSync() as Float32Array | Int32Array
    entries.push({ name: n.name, part: n.part, dtype: n.tensor.dtype, shape: n.tensor.shape, byteOffset: bytes })
    chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    bytes += data.byteLength
  }
  const manifest: Manifest = { format: FORMAT, step: position.step, extra: position.extra, tensors: entries, bytes }

  await mkdir(dir, { recursive: true })
  const final = join(dir, `ckpt-${String(position.step).padStart(9, '0')}`)
  const tmp = join(dir, `.tmp-${process.pid}-${String(position.step).padStart(9, '0')}`)
  await rm(tmp, { recursive: true, force: true })
  await mkdir(tmp)
  await writeDurably(join(tmp, 'tensors.bin'), chunks)
  await writeDurably(join(tmp, 'manifest.json'), [Buffer.from(JSON.stringify(manifest))])
  await rm(final, { recursive: true, force: true })
  await rename(tmp, final)
  await syncDir(dir)
  // Drop optimizer tensors getWeights made (the iteration count); variables stay.
  for (const n of named) if (n.part === 'optimizer' && typeof (n.tensor as Variable).assign !== 'function') n.tensor.dispose()
  const all = await listCheckpoints(dir)
  for (const old of all.slice(0, Math.max(0, all.length - keep))) await rm(old.path, { recursive: true, force: true })
  return final
}

async function writeDurably(path: string, chunks: Buffer[]): Promise<void> {
  const fh = await open(path, 'w', 0o644)
  try {
    for (const c of chunks) await fh.write(c)
    await fh.sync()
  } finally {
    await fh.close()
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic.
  } finally {
    await fh.close()
  }
}

/**
 * Complete checkpoints in `dir`, oldest first (a directory without its manifest is not complete).
 *
 * @example
 * ```ts
 * const latest = (await listCheckpoints('ckpt')).at(-1)   // { step: 300, path: 'ckpt/ckpt-000000300' }
 * ```
 */
export async function listCheckpoints(dir: string): Promise<{ step: number; path: string }[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw e
  }
  const found: { step: number; path: string }[] = []
  for (const name of names) {
    const m = NAME.exec(name)
    if (!m) continue
    const path = join(dir, name)
    try {
      await stat(join(path, 'manifest.json'))
      found.push({ step: Number(m[1]), path })
    } catch {}
  }
  return found.sort((a, b) => a.step - b.step)
}

async function readLatest(dir: string): Promise<{ manifest: Manifest; data: Buffer } | undefined> {
  const all = await listCheckpoints(dir)
  const latest = all.at(-1)
  if (!latest) return undefined
  const manifest = JSON.parse(await readFile(join(latest.path, 'manifest.json'), 'utf8')) as Manifest
  if (manifest.format !== FORMAT) throw new UsageError(`${latest.path} is not a tsrun checkpoint (format "${manifest.format}")`)
  const data = await readFile(join(latest.path, 'tensors.bin'))
  if (data.length !== manifest.bytes)
    throw new UsageError(`${latest.path}/tensors.bin has ${data.length} bytes, its manifest says ${manifest.bytes}; the checkpoint is damaged`)
  return { manifest, data }
}

/**
 * Loads the latest complete checkpoint in `dir` on every rank of `comm`: `root` reads it and broadcasts it,
 * every rank assigns it to `model` and `optimizer`. Resolves to the saved position, or `undefined` (and
 * changes nothing) when `dir` holds no checkpoint. Collective.
 *
 * @example
 * ```ts
 * const at = await restoreCheckpoint('ckpt', model, opt.optimizer, world)
 * const start = at?.step ?? 0
 * ```
 */
export async function restoreCheckpoint(
  dir: string,
  model: Trainable,
  optimizer: Optimizer,
  comm: Communicator,
  root = 0,
): Promise<TrainingPosition | undefined> {
  let loaded: { manifest: Manifest; data: Buffer } | undefined
  let failure: string | undefined
  if (comm.rank === root) {
    try {
      loaded = await readLatest(dir)
    } catch (e) {
      failure = (e as Error).message
    }
  }
  // Everyone learns the outcome first, so a bad file fails every rank instead of leaving them waiting.
  const head = await comm.broadcastObject(comm.rank === root ? { failure, manifest: loaded?.manifest } : undefined, root)
  if (head?.failure) throw new UsageError(`cannot restore from ${dir}: ${head.failure}`)
  const manifest = head?.manifest
  if (!manifest) return undefined
  const bytes = new Uint8Array(manifest.bytes)
  if (comm.rank === root) bytes.set(loaded!.data)
  if (comm.size > 1) await comm.broadcast(bytes, root)

  const vars = allVariables(model)
  const modelEntries = manifest.tensors.filter((t) => t.part === 'model')
  if (modelEntries.length !== vars.length) {
    throw new UsageError(
      `checkpoint in ${dir} has ${modelEntries.length} model variables, the model has ${vars.length}; it was saved from another architecture`,
    )
  }
  const tensorOf = (t: TensorEntry): Tensor => {
    const n = t.shape.reduce((a, b) => a * b, 1)
    const copy = bytes.slice(t.byteOffset, t.byteOffset + n * 4).buffer
    return tf.tensor(t.dtype === 'int32' ? new Int32Array(copy) : new Float32Array(copy), t.shape, t.dtype)
  }
  modelEntries.forEach((t, i) => {
    const v = vars[i]!
    if (v.shape.join() !== t.shape.join())
      throw new UsageError(`checkpoint variable "${t.name}" has shape [${t.shape}], the model's "${v.name}" has [${v.shape}]`)
    const value = tensorOf(t)
    v.assign(value)
    value.dispose()
  })
  const optEntries = manifest.tensors.filter((t) => t.part === 'optimizer')
  const optValues = optEntries.map((t) => ({ name: t.name, tensor: tensorOf(t) }))
  await optimizer.setWeights(optValues)
  // setWeights turns slot values into variables of their own; the iteration count it only reads.
  for (const n of optValues) if (n.tensor.dtype === 'int32') n.tensor.dispose()
  return { step: manifest.step, extra: manifest.extra }
}
