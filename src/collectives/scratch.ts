/**
 * Scratch buffers for the algorithms, reused between calls. A fresh large ArrayBuffer is zeroed memory the
 * kernel maps on first touch (page faults on every call, then unmapped again at GC): measured at np=2 as a
 * 1 MiB scan taking ~1.5 ms with fresh buffers. A buffer taken here belongs to its caller until it gives it back.
 */
import type { TypedArray } from '../dtype.ts'

/** Buffers kept per byte size, and sizes kept (the oldest size goes first). */
const PER_SIZE = 4
const SIZES = 8
/** Below this a fresh buffer costs less than the bookkeeping. */
const MIN_BYTES = 16 * 1024
/** At most this much memory is kept idle in the pool. */
const MAX_POOLED_BYTES = 128 << 20

const pool = new Map<number, ArrayBuffer[]>()
let pooled = 0

/** A `Ctor` of `n` elements over a reused buffer (contents undefined). */
export function takeScratch<T extends TypedArray>(Ctor: new (buffer: ArrayBuffer, offset: number, length: number) => T, n: number, bytesPerElement: number): T {
  const bytes = n * bytesPerElement
  const buf = bytes >= MIN_BYTES ? pool.get(bytes)?.pop() : undefined
  if (buf) pooled -= bytes
  return new Ctor(buf ?? new ArrayBuffer(bytes), 0, n)
}

/** Gives a buffer from `takeScratch` back; it must not be used afterwards. */
export function giveScratch(a: TypedArray): void {
  const bytes = a.buffer.byteLength
  if (bytes < MIN_BYTES || a.byteOffset !== 0 || !(a.buffer instanceof ArrayBuffer)) return
  if (pooled + bytes > MAX_POOLED_BYTES) return
  let list = pool.get(bytes)
  if (!list) {
    if (pool.size >= SIZES) {
      const [oldest, bufs] = pool.entries().next().value!
      pooled -= oldest * bufs.length
      pool.delete(oldest)
    }
    pool.set(bytes, (list = []))
  }
  if (list.length < PER_SIZE) {
    list.push(a.buffer)
    pooled += bytes
  }
}

/** A scratch array like `like` (same type), of `n` elements (default: the same length). */
export function scratchLike<T extends TypedArray>(like: T, n: number = like.length): T {
  return takeScratch(like.constructor as new (b: ArrayBuffer, o: number, l: number) => T, n, like.BYTES_PER_ELEMENT)
}
