/**
 * Which samples each rank trains on. Every epoch is one permutation of the data set, the same on every rank
 * (seeded by `seed` and the epoch number, not by a running random state, so a resumed run sees the same order);
 * rank r takes every size-th sample of it starting at r. Shards are padded to equal length by wrapping around,
 * as PyTorch's DistributedSampler does, so every rank runs the same number of steps and the last step of an
 * epoch cannot deadlock.
 */
import { UsageError } from '../index.ts'

/** Options of {@link shardIndices}. */
export interface ShardOptions {
  rank: number
  size: number
  /** Common seed of the shuffles (default 0). */
  seed?: number
  /** Epoch number: each epoch has its own permutation (default 0). */
  epoch?: number
  /** Shuffle (default true); false keeps the data set's order. */
  shuffle?: boolean
  /** Drop the tail so every shard has floor(n / size) samples instead of padding to ceil (default false). */
  dropRemainder?: boolean
}

/**
 * A small, fast, seedable generator (mulberry32); returns floats in [0, 1).
 *
 * @example
 * ```ts
 * const rand = seededRandom(42)
 * const noise = Float32Array.from({ length: 10 }, rand)   // the same ten numbers on every rank
 * ```
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * The permutation of 0..n-1 for (seed, epoch): Fisher-Yates with {@link seededRandom}.
 *
 * @example
 * ```ts
 * const order = permutation(60_000, 1, epoch)   // the same on every rank
 * ```
 */
export function permutation(n: number, seed: number, epoch: number): Int32Array {
  const p = new Int32Array(n)
  for (let i = 0; i < n; i++) p[i] = i
  const rand = seededRandom((Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    const t = p[i]!
    p[i] = p[j]!
    p[j] = t
  }
  return p
}

/**
 * The sample indices rank `rank` of `size` trains on in epoch `epoch` of a data set of `n` samples.
 *
 * @example
 * ```ts
 * const mine = shardIndices(60_000, { rank: world.rank, size: world.size, seed: 1, epoch })
 * ```
 */
export function shardIndices(n: number, options: ShardOptions): Int32Array {
  const { rank, size, seed = 0, epoch = 0, shuffle = true, dropRemainder = false } = options
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`the data set size must be a non-negative integer, got ${n}`)
  if (!Number.isInteger(size) || size < 1) throw new UsageError(`size must be a positive integer, got ${size}`)
  if (!Number.isInteger(rank) || rank < 0 || rank >= size) throw new UsageError(`rank must be in 0..${size - 1}, got ${rank}`)
  if (n === 0) return new Int32Array(0)
  const order = shuffle ? permutation(n, seed, epoch) : Int32Array.from({ length: n }, (_, i) => i)
  const per = dropRemainder ? Math.floor(n / size) : Math.ceil(n / size)
  const out = new Int32Array(per)
  for (let k = 0; k < per; k++) out[k] = order[(rank + k * size) % n]!
  return out
}

/**
 * Number of batches of `batchSize` in a shard of `shardLength` (the last one may be smaller).
 *
 * @example
 * ```ts
 * const steps = batchCount(Math.ceil(train.length / world.size), 32)   // steps per epoch, on every rank
 * ```
 */
export function batchCount(shardLength: number, batchSize: number): number {
  return Math.ceil(shardLength / batchSize)
}

/** An in-memory data set: `length` samples of `xShape` inputs and `yShape` targets, row after row. */
export interface ArrayDataset {
  x: Float32Array
  y: Float32Array
  xShape: number[]
  yShape: number[]
  length: number
}

/** One batch as plain arrays: rows of the data set, in the order of `indices`. */
export interface ArrayBatch {
  x: Float32Array
  y: Float32Array
  size: number
}

/**
 * Makes an {@link ArrayDataset}, checking that `x` and `y` hold `length` rows of their shapes.
 *
 * @example
 * ```ts
 * const train = arrayDataset(pixels, oneHot, [784], [10])   // pixels: n × 784 floats, oneHot: n × 10
 * ```
 */
export function arrayDataset(x: Float32Array, y: Float32Array, xShape: number[], yShape: number[]): ArrayDataset {
  const xRow = xShape.reduce((a, b) => a * b, 1)
  const yRow = yShape.reduce((a, b) => a * b, 1)
  const length = xRow > 0 ? x.length / xRow : 0
  if (!Number.isInteger(length)) throw new UsageError(`x has ${x.length} values, not a whole number of rows of shape [${xShape}]`)
  if (y.length !== length * yRow) throw new UsageError(`x has ${length} rows but y has ${y.length / yRow} rows of shape [${yShape}]`)
  return { x, y, xShape, yShape, length }
}

/**
 * Copies the rows `indices` of `data` into one batch.
 *
 * @example
 * ```ts
 * const b = gatherRows(train, [3, 1, 4])   // b.x: 3 × 784 floats, b.size: 3
 * ```
 */
export function gatherRows(data: ArrayDataset, indices: ArrayLike<number>): ArrayBatch {
  const xRow = data.x.length / Math.max(1, data.length)
  const yRow = data.y.length / Math.max(1, data.length)
  const x = new Float32Array(indices.length * xRow)
  const y = new Float32Array(indices.length * yRow)
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!
    x.set(data.x.subarray(i * xRow, (i + 1) * xRow), k * xRow)
    y.set(data.y.subarray(i * yRow, (i + 1) * yRow), k * yRow)
  }
  return { x, y, size: indices.length }
}

/**
 * This rank's shard of `data` for one epoch, as a data set of its own (a copy of its rows, in epoch order).
 *
 * @example
 * ```ts
 * const mine = shardDataset(train, { rank: world.rank, size: world.size, seed: 1, epoch })
 * ```
 */
export function shardDataset(data: ArrayDataset, options: ShardOptions): ArrayDataset {
  const b = gatherRows(data, shardIndices(data.length, options))
  return { x: b.x, y: b.y, xShape: data.xShape, yShape: data.yShape, length: b.size }
}

/**
 * This rank's batches of one epoch, built one at a time.
 *
 * @example
 * ```ts
 * for (const b of epochBatches(train, 32, { rank, size, seed: 1, epoch })) await opt.step(() => loss(b))
 * ```
 */
export function* epochBatches(data: ArrayDataset, batchSize: number, options: ShardOptions & { skip?: number }): Generator<ArrayBatch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`batchSize must be a positive integer, got ${batchSize}`)
  const mine = shardIndices(data.length, options)
  for (let b = options.skip ?? 0; b * batchSize < mine.length; b++) {
    yield gatherRows(data, mine.subarray(b * batchSize, Math.min(mine.length, (b + 1) * batchSize)))
  }
}

/**
 * Runs `source` one item ahead: while the caller works on item k (and, above all, while it waits for the
 * network), item k+1 is being made. The next item is started from a macrotask, so it runs in the gaps the
 * caller's awaits leave instead of before the caller even starts.
 *
 * @example
 * ```ts
 * for await (const batch of prefetch(epochBatches(train, 32, shard))) await opt.step(() => loss(batch))
 * ```
 */
export async function* prefetch<T>(source: Iterable<T> | AsyncIterable<T>): AsyncGenerator<T> {
  const it = Symbol.asyncIterator in source ? (source as AsyncIterable<T>)[Symbol.asyncIterator]() : (source as Iterable<T>)[Symbol.iterator]()
  const pull = async () => it.next() // a throwing source becomes a rejection, not an uncaught exception
  const nextSoon = () => new Promise<IteratorResult<T>>((resolve, reject) => setImmediate(() => pull().then(resolve, reject)))
  let next = pull()
  for (;;) {
    const r = await next
    if (r.done) return
    next = nextSoon()
    // Keep a rejection of the prefetched item from being reported as unhandled while the caller still works.
    next.catch(() => {})
    yield r.value
  }
}
