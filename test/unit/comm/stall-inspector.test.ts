// The stall inspector's one timer: calls with different deadlines each warn and fail on time, a call that ends
// first never warns, and the failure records hear of every call's start and end.
import { afterEach, expect, test, vi } from 'vitest'
import type { CommScope } from '../../../src/comm/scope.ts'
import { StallInspector, type StallWatch } from '../../../src/comm/stall-inspector.ts'
import type { Activity } from '../../../src/comm/state.ts'
import { TimeoutError } from '../../../src/errors.ts'
import type { Transport } from '../../../src/transport/transport.ts'

/** Rank 0 of two; rank 1 answers that it has started `peerCount` collectives. */
function scope(peerCount: number): CommScope {
  const transport = {
    query: async () =>
      new Map([
        [0, 5],
        [1, peerCount],
      ]),
  } as unknown as Transport
  return { transport, commId: 1, name: 'world', rank: 0, members: [0, 1], rankOf: (w) => w }
}

function witness() {
  const log: string[] = []
  return {
    log,
    running: (a: Activity) => void log.push(`start ${a.op} #${a.seq}`),
    ended: (a: Activity) => void log.push(`end ${a.op} #${a.seq}`),
    mismatch: () => {},
  }
}

const watch = (seq: number, stallWarningMs: number, opTimeoutMs?: number): StallWatch => ({ what: 'allreduce', seq, stallWarningMs, opTimeoutMs })
const never = () => new Promise<never>(() => {})

afterEach(() => vi.restoreAllMocks())

function captureStderr(lines: string[]): void {
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    lines.push(String(s))
    return true
  })
}

test('a call with a short op timeout fails on time although an earlier call armed the timer for later', async () => {
  const w = witness()
  const s = new StallInspector(scope(4), w)
  const slow = s.watch(never(), watch(5, 60_000, 60_000), { op: 'allreduce', comm: 'world', seq: 5 })
  slow.catch(() => {})
  const t0 = Date.now()
  const fast = s.watch(never(), watch(6, 60_000, 100), { op: 'allreduce', comm: 'world', seq: 6 })
  const err = await fast.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(TimeoutError)
  expect((err as Error).message).toMatch(/allreduce #6 on world waiting 0 s for ranks \[1\]; they have not called it; gave up after the op timeout of 0.1 s/)
  expect(Date.now() - t0).toBeGreaterThanOrEqual(95)
  expect(Date.now() - t0).toBeLessThan(2000)
  expect(w.log).toEqual(['start allreduce #5', 'start allreduce #6', 'end allreduce #6'])
})

test('a stalled call warns every stallWarningMs until it ends, and says nothing after', async () => {
  const lines: string[] = []
  captureStderr(lines)
  const w = witness()
  const s = new StallInspector(scope(5), w)
  let finish!: (v: number) => void
  const p = s.watch(new Promise<number>((r) => (finish = r)), watch(5, 40), { op: 'allreduce', comm: 'world', seq: 5 })
  await new Promise((r) => setTimeout(r, 150))
  finish(7)
  expect(await p).toBe(7)
  const warned = lines.length
  expect(warned).toBeGreaterThanOrEqual(2)
  expect(lines[0]).toMatch(/^tsrun: rank 0: allreduce #5 on world waiting 0 s for data from the other ranks; every rank has called it\n$/)
  await new Promise((r) => setTimeout(r, 120))
  expect(lines.length).toBe(warned)
  expect(w.log).toEqual(['start allreduce #5', 'end allreduce #5'])
})

test('calls that end before their time never warn, and a rejection passes through unchanged', async () => {
  const lines: string[] = []
  captureStderr(lines)
  const w = witness()
  const s = new StallInspector(scope(5), w)
  for (let i = 1; i <= 100; i++) expect(await s.watch(Promise.resolve(i), watch(i, 30, 50), { op: 'barrier', comm: 'world', seq: i })).toBe(i)
  const boom = new Error('boom')
  await expect(s.watch(Promise.reject(boom), watch(101, 30, 50), { op: 'barrier', comm: 'world', seq: 101 })).rejects.toBe(boom)
  await new Promise((r) => setTimeout(r, 120))
  expect(lines).toEqual([])
  expect(w.log.length).toBe(202)
})
