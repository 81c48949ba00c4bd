/**
 * P collective contexts in one process, joined by in-memory mailboxes: runs an algorithm's schedule on all
 * ranks at once without sockets, and counts what each rank sent. For unit tests of algorithms only; the
 * real-rank tests (test/ranks) run the same algorithms over the real transport. Messages arrive at once, or
 * (`jitterSeed`) after a few seeded turns of the event loop, shuffled across channels but in order within one.
 */
import type { CollectiveContext } from '../../src/collectives/context.ts'
import { reduceInto } from '../../src/collectives/reduce-ops.ts'
import { copyInto, type TypedArray } from '../../src/dtype.ts'

export interface MemoryWorld {
  contexts: CollectiveContext[]
  /** Messages and elements sent by each rank. */
  sent: { messages: number; elements: number }[]
}

export interface MemoryWorldOptions {
  /**
   * Deliver each message after 0..3 turns of the event loop, chosen by a PRNG seeded with this, instead of at
   * once: messages of different channels (source, destination, tag) then arrive in shuffled orders, as on a real
   * network, while each channel keeps its order (MPI's non-overtaking rule, which the transport keeps).
   */
  jitterSeed?: number
  /** What every context's `contributors()` answers (the divisor of an `avg`); absent: no `contributors`. */
  contributors?: number
}

/** A small seeded PRNG (mulberry32) for tests: deterministic numbers in [0, 1). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

export function memoryWorld(size: number, segmentBytes = 1 << 20, options: MemoryWorldOptions = {}): MemoryWorld {
  const boxes = new Map<string, { queue: TypedArray[]; waiters: ((m: TypedArray) => void)[]; last: Promise<void> }>()
  const box = (src: number, dst: number, tag: number) => {
    const k = `${src}>${dst}#${tag}`
    let b = boxes.get(k)
    if (!b) boxes.set(k, (b = { queue: [], waiters: [], last: Promise.resolve() }))
    return b
  }
  const rand = options.jitterSeed === undefined ? undefined : seeded(options.jitterSeed)
  const take = (src: number, dst: number, tag: number) => {
    const b = box(src, dst, tag)
    return b.queue.length > 0 ? Promise.resolve(b.queue.shift()!) : new Promise<TypedArray>((resolve) => b.waiters.push(resolve))
  }
  const sent = Array.from({ length: size }, () => ({ messages: 0, elements: 0 }))
  const contexts = Array.from(
    { length: size },
    (_, rank): CollectiveContext => ({
      rank,
      size,
      ...(options.contributors === undefined ? {} : { contributors: () => options.contributors! }),
      segmentElements: (bpe) => Math.max(1, Math.floor(segmentBytes / bpe)),
      async send(peer, tag, data) {
        if (peer < 0 || peer >= size || peer === rank) throw new Error(`rank ${rank} sent to bad peer ${peer}`)
        sent[rank].messages++
        sent[rank].elements += data.length
        const b = box(rank, peer, tag)
        const copy = data.slice()
        const deliver = () => {
          const w = b.waiters.shift()
          if (w) w(copy)
          else b.queue.push(copy)
        }
        if (!rand) return deliver()
        const turns = Math.floor(rand() * 4)
        b.last = b.last.then(async () => {
          for (let i = 0; i < turns; i++) await turn()
          deliver()
        })
      },
      async recv(peer, tag, into) {
        const m = await take(peer, rank, tag)
        if (m.length !== into.length || m.constructor !== into.constructor) {
          throw new Error(`rank ${rank} expected ${into.constructor.name}[${into.length}] from ${peer}, got ${m.constructor.name}[${m.length}]`)
        }
        copyInto(into, m)
      },
      async recvReduce(peer, tag, dst, op) {
        const m = await take(peer, rank, tag)
        if (m.length !== dst.length || m.constructor !== dst.constructor) throw new Error(`rank ${rank}: bad message for recvReduce from ${peer}`)
        reduceInto(op, dst, m)
      },
      recvAny: (peer, tag) => take(peer, rank, tag),
    }),
  )
  return { contexts, sent }
}

/** Runs `fn` on every rank of a memory world and returns the per-rank results. */
export function onAll<T>(world: MemoryWorld, fn: (ctx: CollectiveContext) => Promise<T>): Promise<T[]> {
  return Promise.all(world.contexts.map(fn))
}
