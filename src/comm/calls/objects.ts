/**
 * The collectives on JSON values (mpi4py's lower-case calls): serialised, for small values such as configs,
 * metrics and task lists. Typed arrays go through the typed calls (collectives.ts, vector.ts).
 */
import { alltoallvPairwise } from '../../collectives/alltoallv-pairwise.ts'
import { decodeJson, describe, encodeJson } from '../../dtype.ts'
import { UsageError } from '../../errors.ts'
import { begin } from '../begin.ts'
import type { CollectiveOptions } from '../options.ts'
import { ALGORITHMS, pick } from '../select.ts'
import { signatureOf, UNKNOWN_DTYPE } from '../signature.ts'
import type { CommState } from '../state.ts'
import type { CollectiveCalls } from './collectives.ts'

/** The collectives on JSON values of a Communicator. */
export interface ObjectCalls {
  /**
   * `value` from `root` to every rank (serialised as JSON).
   *
   * @example
   * ```ts
   * const config = await world.broadcastObject(world.rank === 0 ? loadConfig() : undefined, 0)
   * ```
   */
  broadcastObject<T>(value: T, root: number, options?: CollectiveOptions): Promise<T>
  /**
   * Every rank's `value` on `root`, as an array in rank order; `undefined` elsewhere.
   *
   * @example
   * ```ts
   * const stats = await world.gatherObject({ rank: world.rank, loss }, 0)
   * ```
   */
  gatherObject<T>(value: T, root: number, options?: CollectiveOptions): Promise<T[] | undefined>
  /**
   * Every rank's `value` on every rank, as an array in rank order.
   *
   * @example
   * ```ts
   * const hosts = await world.allgatherObject(world.host)
   * ```
   */
  allgatherObject<T>(value: T, options?: CollectiveOptions): Promise<T[]>
  /**
   * `values[i]` from `root` to rank i (root passes an array of `size` JSON values; others may pass undefined).
   *
   * @example
   * ```ts
   * const task = await world.scatterObject(world.rank === 0 ? tasks : undefined, 0)
   * ```
   */
  scatterObject<T>(values: T[] | undefined, root: number, options?: CollectiveOptions): Promise<T>
  /**
   * Combines every rank's `value` with `fn`, in rank order, on every rank (all get the same result).
   *
   * @example
   * ```ts
   * const merged = await world.allreduceObject(localCounts, (a, b) => mergeCounts(a, b))
   * ```
   */
  allreduceObject<T>(value: T, fn: (a: T, b: T) => T, options?: CollectiveOptions): Promise<T>
  /**
   * Combines every rank's `value` with `fn` in rank order on `root` (mpi4py's `reduce` for objects); `undefined`
   * elsewhere.
   *
   * @example
   * ```ts
   * const total = await world.reduceObject({ n: 1 }, (a, b) => ({ n: a.n + b.n }), 0)   // rank 0: { n: size }
   * ```
   */
  reduceObject<T>(value: T, fn: (a: T, b: T) => T, root: number, options?: CollectiveOptions): Promise<T | undefined>
  /**
   * `values[i]` goes to rank i; resolves to what every rank sent this one, in rank order (mpi4py's `alltoall`).
   *
   * @example
   * ```ts
   * const got = await world.alltoallObject(Array.from({ length: world.size }, (_, to) => `${world.rank}->${to}`))
   * ```
   */
  alltoallObject<T>(values: T[], options?: CollectiveOptions): Promise<T[]>
  /**
   * Inclusive prefix of JSON values: rank r gets `fn` folded over ranks 0..r in order (mpi4py's `scan`).
   *
   * @example
   * ```ts
   * const seen = await world.scanObject([world.rank], (a, b) => [...a, ...b])   // rank 2: [0, 1, 2]
   * ```
   */
  scanObject<T>(value: T, fn: (a: T, b: T) => T, options?: CollectiveOptions): Promise<T>
  /**
   * Exclusive prefix of JSON values: rank r gets `fn` folded over ranks 0..r-1; rank 0 gets `undefined`
   * (mpi4py's `exscan` gives None).
   *
   * @example
   * ```ts
   * const before = await world.exscanObject(myCount, (a, b) => a + b)   // undefined on rank 0
   * ```
   */
  exscanObject<T>(value: T, fn: (a: T, b: T) => T, options?: CollectiveOptions): Promise<T | undefined>
}

type Self = ObjectCalls & CollectiveCalls & { readonly state: CommState }

export const objectCalls: ObjectCalls & ThisType<Self> = {
  async broadcastObject<T>(value: T, root: number, options: CollectiveOptions = {}) {
    const c = this.state
    c.checkRank(root, 'root')
    const bytes = c.rank === root ? encodeJson(value) : undefined
    const length = new Float64Array([bytes?.byteLength ?? 0])
    await this.broadcast(length, root, options)
    const buf = bytes ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(length[0])
    await this.broadcast(buf, root, options)
    return c.rank === root ? value : (decodeJson(buf) as T)
  },

  async gatherObject<T>(value: T, root: number, options: CollectiveOptions = {}) {
    const c = this.state
    c.checkRank(root, 'root')
    const bytes = encodeJson(value)
    const algo = pick('gatherObject', ALGORITHMS.gatherObject, c.size, bytes.byteLength, options.algorithm)
    const run = begin(c, 'gatherObject', options, signatureOf('gatherObject', UNKNOWN_DTYPE, -1, root), algo.name, bytes.byteLength)
    const { ctx, tag } = run
    const parts = await run.guard(algo.run(ctx, bytes, root, tag))
    return parts?.map((p, r) => (r === root ? value : (decodeJson(p) as T)))
  },

  async allgatherObject<T>(value: T, options: CollectiveOptions = {}) {
    const gathered = await this.gatherObject(value, 0, options)
    return this.broadcastObject(gathered as T[], 0, options)
  },

  async scatterObject<T>(values: T[] | undefined, root: number, options: CollectiveOptions = {}) {
    const c = this.state
    c.checkRank(root, 'root')
    if (c.rank === root && (!Array.isArray(values) || values.length !== c.size)) {
      throw new UsageError(`scatterObject: the root must pass an array of ${c.size} values (one per rank), got ${describe(values)}`)
    }
    const parts = c.rank === root ? values!.map((v, r) => (r === root ? new Uint8Array(0) : encodeJson(v))) : undefined
    const algo = pick('scatterObject', ALGORITHMS.scatterObject, c.size, 0, options.algorithm)
    const run = begin(c, 'scatterObject', options, signatureOf('scatterObject', UNKNOWN_DTYPE, -1, root), algo.name, 0)
    const { ctx, tag } = run
    const mine = await run.guard(algo.run(ctx, parts, root, tag))
    return c.rank === root ? values![root] : (decodeJson(mine) as T)
  },

  async allreduceObject<T>(value: T, fn: (a: T, b: T) => T, options: CollectiveOptions = {}) {
    checkFn('allreduceObject', fn)
    const all = await this.allgatherObject(value, options)
    return all.reduce(fn)
  },

  async reduceObject<T>(value: T, fn: (a: T, b: T) => T, root: number, options: CollectiveOptions = {}) {
    checkFn('reduceObject', fn)
    const all = await this.gatherObject(value, root, options)
    return all?.reduce(fn)
  },

  async alltoallObject<T>(values: T[], options: CollectiveOptions = {}) {
    const c = this.state
    if (!Array.isArray(values) || values.length !== c.size) {
      throw new UsageError(`alltoallObject needs an array of ${c.size} values (one per rank), got ${describe(values)}`)
    }
    const parts = values.map((v, r) => (r === c.rank ? new Uint8Array(0) : encodeJson(v)))
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
    let offset = 0
    for (const p of parts) {
      bytes.set(p, offset)
      offset += p.byteLength
    }
    const run = begin(c, 'alltoallObject', options, signatureOf('alltoallObject', UNKNOWN_DTYPE, -1), 'pairwise', bytes.byteLength)
    const { ctx, tag } = run
    const got = await run.guard(
      alltoallvPairwise(
        ctx,
        bytes,
        parts.map((p) => p.byteLength),
        tag,
      ),
    )
    let at = 0
    return got.counts.map((n, r) => {
      const piece = got.data.subarray(at, (at += n)) as Uint8Array
      return r === c.rank ? values[r]! : (decodeJson(piece) as T)
    })
  },

  async scanObject<T>(value: T, fn: (a: T, b: T) => T, options: CollectiveOptions = {}) {
    const c = this.state
    checkFn('scanObject', fn)
    const all = await this.allgatherObject(value, options)
    return all.slice(0, c.rank + 1).reduce(fn)
  },

  async exscanObject<T>(value: T, fn: (a: T, b: T) => T, options: CollectiveOptions = {}) {
    const c = this.state
    checkFn('exscanObject', fn)
    const all = await this.allgatherObject(value, options)
    return c.rank === 0 ? undefined : all.slice(0, c.rank).reduce(fn)
  },
}

function checkFn(what: string, fn: unknown): void {
  if (typeof fn !== 'function') throw new UsageError(`${what} needs a function (a, b) => combined, got ${describe(fn)}`)
}
