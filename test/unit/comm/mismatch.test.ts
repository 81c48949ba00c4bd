// Mismatch detection without sockets: the detector and the early notices on their own, and gatherv on three
// in-memory ranks wired as the real transport is (every arriving collective message's signature goes to the
// communicator's detector, or is held while the communicator is not made yet, before it is matched).
import { expect, test } from 'vitest'
import { gathervLinear } from '../../../src/collectives/gatherv-linear.ts'
import { CommContext } from '../../../src/comm/collective-context.ts'
import { EarlyNotices, MismatchDetector, type MismatchInfo } from '../../../src/comm/mismatch.ts'
import type { CommScope } from '../../../src/comm/scope.ts'
import { type FullSignature, signatureOf, UNKNOWN_DTYPE } from '../../../src/comm/signature.ts'
import { dtypeOf, type TypedArray } from '../../../src/dtype.ts'
import { CollectiveMismatchError } from '../../../src/errors.ts'
import { Matcher } from '../../../src/transport/matcher.ts'
import type { Signature, Transport } from '../../../src/transport/transport.ts'

const I32 = dtypeOf(new Int32Array(0))
const F32 = dtypeOf(new Float32Array(0))
const TAG = -2 // the first collective on a communicator

/** A detector on a communicator of `size` ranks, with what it told the transport. */
function detector(rank = 0, size = 3) {
  const failed: Error[] = []
  const told: { peers: number[]; info: MismatchInfo }[] = []
  const transport = {
    failComm: (_: number, err: Error) => failed.push(err),
    notify: (peers: number[], _: number, n: { info: MismatchInfo }) => told.push({ peers, info: n.info }),
  } as unknown as Transport
  const scope: CommScope = { transport, commId: 7, name: 'world.dup()', rank, members: [...Array(size).keys()], rankOf: (w) => w }
  return { d: new MismatchDetector(scope), failed, told }
}

const gatherv = (dtype: number) => signatureOf('gatherv', dtype, -1, 0)

test('two blocks before the root calls, the first one matching: the second is still checked', () => {
  for (const order of [
    [2, 1],
    [1, 2],
  ]) {
    const { d, failed, told } = detector()
    for (const source of order) d.arrived(TAG, source, gatherv(source === 1 ? F32 : I32))
    expect(d.error).toBeUndefined()
    d.called(TAG, gatherv(I32))
    expect(d.error, `arrival order ${order}`).toBeInstanceOf(CollectiveMismatchError)
    expect(d.error!.message).toMatch(
      /collective #1 does not match: rank 1 called gatherv\(root=0, Float32Array\) while rank 0 called gatherv\(root=0, Int32Array\)/,
    )
    expect(failed).toEqual([d.error])
    expect(told).toHaveLength(1)
    expect(told[0]!.peers).toEqual([0, 1, 2])
  }
})

test('blocks after the call are compared as they come; matching ones leave the communicator usable', () => {
  const { d, told } = detector()
  d.called(TAG, gatherv(I32))
  d.arrived(TAG, 2, gatherv(I32))
  expect(d.error).toBeUndefined()
  d.arrived(TAG, 1, gatherv(F32))
  expect(d.error).toBeInstanceOf(CollectiveMismatchError)
  expect(told).toHaveLength(1)
  d.arrived(TAG, 1, gatherv(F32)) // once failed, nothing more is said
  expect(told).toHaveLength(1)
})

test('many messages of one matching call keep one entry per tag; every tag is checked', () => {
  const { d } = detector()
  for (let i = 0; i < 1000; i++) d.arrived(TAG, 1 + (i % 2), gatherv(I32))
  expect(d.waiting).toBe(1)
  d.called(TAG, gatherv(I32))
  expect(d.waiting).toBe(0)
  expect(d.error).toBeUndefined()
})

test('a block that does not fit its receive (found) fails the communicator and tells every member', () => {
  const { d, told } = detector()
  d.called(TAG, gatherv(I32))
  d.found(TAG, 2, { ...gatherv(I32), count: 5 })
  expect(d.error!.message).toMatch(/rank 2 called gatherv\(root=0, Int32Array\[5\]\) while rank 0 called gatherv\(root=0, Int32Array\)/)
  expect(told).toHaveLength(1)
})

test('early notices: every different signature of a tag is kept for a communicator not made yet, and replayed', () => {
  const early = new EarlyNotices()
  early.hold(7, { kind: 'arrival', tag: TAG, source: 2, sig: gatherv(I32) })
  early.hold(7, { kind: 'arrival', tag: TAG, source: 2, sig: gatherv(I32) })
  early.hold(7, { kind: 'arrival', tag: TAG, source: 1, sig: gatherv(F32) })
  early.hold(7, { kind: 'notice', source: 1, notice: { kind: 'join' } })
  const held = early.take(7)
  expect(held.map((n) => (n.kind === 'arrival' ? `${n.source}:${n.sig.dtype}` : 'notice'))).toEqual([`2:${I32}`, `1:${F32}`, 'notice'])
  expect(early.take(7)).toEqual([])
  const { d } = detector()
  for (const n of held) if (n.kind === 'arrival') d.arrived(n.tag, n.source, n.sig)
  d.called(TAG, gatherv(I32))
  expect(d.error).toBeInstanceOf(CollectiveMismatchError)
})

test('early notices: a peer that only sends, far ahead on a new communicator, has every call checked', () => {
  const early = new EarlyNotices()
  // 300 gathervs by ranks 1 and 2 (both blocks each time) before this rank made the dup; rank 1 differs at #250.
  for (let k = 0; k < 300; k++) {
    early.hold(7, { kind: 'arrival', tag: -2 - k, source: 2, sig: gatherv(I32) })
    early.hold(7, { kind: 'arrival', tag: -2 - k, source: 1, sig: gatherv(k === 249 ? F32 : I32) })
  }
  const { d } = detector()
  for (const n of early.take(7)) if (n.kind === 'arrival') d.arrived(n.tag, n.source, n.sig)
  for (let k = 0; k < 249; k++) d.called(-2 - k, gatherv(I32))
  expect(d.error).toBeUndefined()
  d.called(-2 - 249, gatherv(I32))
  expect(d.error!.message).toMatch(/collective #250 does not match: rank 1 called gatherv\(root=0, Float32Array\)/)
})

// ------------------------------------------------------------------ three ranks in memory

/** A rank as the real stack wires it: a matcher, and a registry of detectors with early notices. */
interface Rank {
  matcher: Matcher
  detectors: Map<number, MismatchDetector>
  early: EarlyNotices
  transport: Transport
  /** What inbound.ts and the registry do with a collective data frame: signature first, then matching. */
  arrive(commId: number, source: number, tag: number, dtype: number, payload: Uint8Array, sig: Signature): void
  /** A peer's mismatch notice (control plane). */
  notice(commId: number, source: number, notice: unknown): void
}

const COMM = 7

function world(size: number): Rank[] {
  const ranks: Rank[] = []
  for (let r = 0; r < size; r++) {
    const matcher = new Matcher()
    const transport = {
      rank: r,
      size,
      send(peer: number, commId: number, tag: number, dtype: number, payload: Uint8Array, sig: Signature) {
        ranks[peer]!.arrive(commId, r, tag, dtype, payload.slice(), sig)
        return Promise.resolve()
      },
      recv: (commId: number, source: number, tag: number, opts: object) => matcher.receive(commId, source, tag, opts),
      failComm: (commId: number, err: Error) => matcher.failComm(commId, err),
      notify(peers: number[], commId: number, notice: unknown) {
        for (const p of peers) if (p !== r) ranks[p]!.notice(commId, r, notice)
      },
    } as unknown as Transport
    ranks.push({
      matcher,
      detectors: new Map(),
      early: new EarlyNotices(),
      transport,
      arrive(this: Rank, commId: number, source: number, tag: number, dtype: number, payload: Uint8Array, sig: Signature) {
        const full = { ...sig, dtype }
        const d = this.detectors.get(commId)
        if (d) d.arrived(tag, source, full)
        else this.early.hold(commId, { kind: 'arrival', tag, source, sig: full })
        this.matcher.deliver({ commId, source, tag, dtype, payload })
      },
      notice(this: Rank, commId: number, source: number, notice: unknown) {
        const d = this.detectors.get(commId)
        if (d) d.poison((notice as { info: MismatchInfo }).info)
        else this.early.hold(commId, { kind: 'notice', source, notice })
      },
    })
  }
  return ranks
}

/** Makes communicator COMM on rank `r` (a dup): its detector, with what peers already said replayed. */
function make(ranks: Rank[], r: number): MismatchDetector {
  const scope: CommScope = { transport: ranks[r]!.transport, commId: COMM, name: 'world.dup()', rank: r, members: ranks.map((_, i) => i), rankOf: (w) => w }
  const d = new MismatchDetector(scope)
  ranks[r]!.detectors.set(COMM, d)
  for (const n of ranks[r]!.early.take(COMM)) {
    if (n.kind === 'arrival') d.arrived(n.tag, n.source, n.sig)
    else d.poison((n.notice as { info: MismatchInfo }).info)
  }
  return d
}

/** Rank `r` calls gatherv(data, root 0, counts) as the communicator does: signature first, then the algorithm. */
function callGatherv(ranks: Rank[], r: number, data: TypedArray, counts?: number[]): Promise<TypedArray | undefined> {
  const d = ranks[r]!.detectors.get(COMM)!
  if (d.error) return Promise.reject(d.error)
  const sig: FullSignature = signatureOf('gatherv', dtypeOf(data), -1, 0)
  d.called(TAG, sig)
  if (d.error) return Promise.reject(d.error)
  const members = ranks.map((_, i) => i)
  const ctx = new CommContext({ transport: ranks[r]!.transport, commId: COMM, name: 'world.dup()', rank: r, members, what: 'gatherv #1', sig, mismatch: d })
  return gathervLinear(ctx, data, 0, TAG, counts)
}

const block = (r: number, f: boolean) => (f ? new Float32Array(3 + r).fill(r + 0.5) : new Int32Array(3 + r).fill(r))

type When = 'root first' | 'senders first' | 'senders before the root made the dup'

test.each([
  ...(['root first', 'senders first', 'senders before the root made the dup'] as When[]).flatMap((when) =>
    ['iif', 'ifi', 'fii'].flatMap((types) =>
      [
        [1, 2],
        [2, 1],
      ].map((order) => ({ when, types, order })),
    ),
  ),
])('gatherv $types, $when, blocks from ranks $order: every rank fails, no rank keeps a usable communicator', async ({ when, types, order }) => {
  const ranks = world(3)
  const f = [...types].map((t) => t === 'f')
  for (const r of [1, 2]) make(ranks, r)
  let root: Promise<TypedArray | undefined> | undefined
  if (when !== 'senders before the root made the dup') make(ranks, 0)
  if (when === 'root first') root = callGatherv(ranks, 0, block(0, f[0]!))
  for (const r of order) await callGatherv(ranks, r, block(r, f[r]!)).catch(() => {})
  if (when === 'senders before the root made the dup') make(ranks, 0)
  root ??= callGatherv(ranks, 0, block(0, f[0]!))
  await expect(root).rejects.toThrow(CollectiveMismatchError)
  // A rank that only sent learns it by its next call at the latest: its communicator is failed.
  for (const r of [0, 1, 2]) expect(ranks[r]!.detectors.get(COMM)!.error, `rank ${r}`).toBeInstanceOf(CollectiveMismatchError)
})

test.each([
  { counts: [3, 4, 9], got: /expected 36 bytes of Int32Array from rank 2 but got 20 bytes of Int32Array/ },
  // A block longer than its place: the matcher refuses it and says what came.
  { counts: [3, 4, 2], got: /expected 8 bytes of Int32Array from rank 2 but got 20 bytes of Int32Array/ },
])('gatherv with counts $counts against a block of 5: the root fails and so does every member', async ({ counts, got }) => {
  const ranks = world(3)
  for (const r of [0, 1, 2]) make(ranks, r)
  const root = callGatherv(ranks, 0, new Int32Array(3), counts)
  await callGatherv(ranks, 1, new Int32Array(4))
  await callGatherv(ranks, 2, new Int32Array(5))
  await expect(root).rejects.toThrow(got)
  for (const r of [0, 1, 2]) expect(ranks[r]!.detectors.get(COMM)!.error, `rank ${r}`).toBeInstanceOf(CollectiveMismatchError)
  expect(ranks[1]!.detectors.get(COMM)!.error!.message).toMatch(
    /rank 2 called gatherv\(root=0, Int32Array\[5\]\) while rank 0 called gatherv\(root=0, Int32Array\)/,
  )
})

test('a reducing receive (sink) that gets another element type fails the communicator on every member', async () => {
  const ranks = world(2)
  for (const r of [0, 1]) make(ranks, r)
  // Signatures that cannot tell (unknown type and length), so that only the sink sees the difference.
  const sig = signatureOf('allreduce', UNKNOWN_DTYPE, -1, undefined, 'sum')
  for (const r of [0, 1]) ranks[r]!.detectors.get(COMM)!.called(TAG, sig)
  const ctx = (r: number) =>
    new CommContext({
      transport: ranks[r]!.transport,
      commId: COMM,
      name: 'world.dup()',
      rank: r,
      members: [0, 1],
      what: 'allreduce #1',
      sig,
      mismatch: ranks[r]!.detectors.get(COMM)!,
    })
  await ctx(1).send(0, TAG, new Float64Array(4))
  await expect(ctx(0).recvReduce(1, TAG, new Float32Array(4), 'sum')).rejects.toThrow(
    /expected 16 bytes of Float32Array from rank 1 but got 32 bytes of Float64Array/,
  )
  for (const r of [0, 1]) expect(ranks[r]!.detectors.get(COMM)!.error, `rank ${r}`).toBeInstanceOf(CollectiveMismatchError)
})

test('matching gathervs in every order go through and leave the communicator usable', async () => {
  for (const when of ['root first', 'senders first', 'senders before the root made the dup'] as When[]) {
    const ranks = world(3)
    for (const r of [1, 2]) make(ranks, r)
    if (when !== 'senders before the root made the dup') make(ranks, 0)
    const root = when === 'root first' ? callGatherv(ranks, 0, block(0, false)) : undefined
    for (const r of [2, 1]) await callGatherv(ranks, r, block(r, false))
    if (when === 'senders before the root made the dup') make(ranks, 0)
    const out = await (root ?? callGatherv(ranks, 0, block(0, false)))
    expect(Array.from(out as Int32Array)).toEqual([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2])
    for (const r of [0, 1, 2]) expect(ranks[r]!.detectors.get(COMM)!.error).toBeUndefined()
  }
})
