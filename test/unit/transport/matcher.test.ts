import { expect, test } from 'vitest'
import { Matcher } from '../../../src/transport/matcher.ts'
import { ANY_SOURCE, ANY_TAG, type Message } from '../../../src/transport/transport.ts'

const msg = (source: number, tag: number, commId = 0, byte = 0): Message => ({ commId, source, tag, dtype: 2, payload: new Uint8Array([byte]) })

test('a message that arrives first waits for its receive', async () => {
  const m = new Matcher()
  m.deliver(msg(1, 5))
  expect(m.depth).toEqual({ unexpected: 1, posted: 0 })
  expect((await m.receive(0, 1, 5)).source).toBe(1)
  expect(m.depth).toEqual({ unexpected: 0, posted: 0 })
})

test('a receive posted first gets the message when it arrives', async () => {
  const m = new Matcher()
  const p = m.receive(0, 2, 9)
  m.deliver(msg(2, 8))
  m.deliver(msg(2, 9))
  expect((await p).tag).toBe(9)
  expect(m.depth.unexpected).toBe(1)
})

test('same source and tag: received in arrival order', async () => {
  const m = new Matcher()
  for (let i = 0; i < 5; i++) m.deliver(msg(1, 3, 0, i))
  const got = []
  for (let i = 0; i < 5; i++) got.push((await m.receive(0, 1, 3)).payload[0])
  expect(got).toEqual([0, 1, 2, 3, 4])
})

test('wildcards take the earliest match; ANY_TAG never matches collective (negative) tags', async () => {
  const m = new Matcher()
  m.deliver(msg(2, -4))
  m.deliver(msg(3, 1))
  m.deliver(msg(1, 0))
  expect((await m.receive(0, ANY_SOURCE, ANY_TAG)).source).toBe(3)
  expect((await m.receive(0, ANY_SOURCE, 0)).source).toBe(1)
  expect((await m.receive(0, ANY_SOURCE, -4)).source).toBe(2)
})

test("communicators never see each other's messages", async () => {
  const m = new Matcher()
  m.deliver(msg(1, 0, 7))
  const other = m.receive(8, 1, 0, { timeoutMs: 50 })
  await expect(other).rejects.toMatchObject({ code: 'TSRUN_TIMEOUT' })
  expect((await m.receive(7, 1, 0)).commId).toBe(7)
})

test('posted receives are served in posting order', async () => {
  const m = new Matcher()
  const a = m.receive(0, ANY_SOURCE, 1)
  const b = m.receive(0, ANY_SOURCE, 1)
  m.deliver(msg(4, 1, 0, 10))
  m.deliver(msg(5, 1, 0, 20))
  expect([(await a).payload[0], (await b).payload[0]]).toEqual([10, 20])
})

test('timeouts say what was awaited; fail() rejects pending and later receives', async () => {
  const m = new Matcher()
  await expect(m.receive(0, 1, 2, { timeoutMs: 20, describeWait: () => 'waiting for rank 1 tag 2' })).rejects.toThrow('waiting for rank 1 tag 2')
  expect(m.depth.posted).toBe(0)
  const pending = m.receive(0, 1, 2)
  m.fail(new Error('peer lost'))
  await expect(pending).rejects.toThrow('peer lost')
  await expect(m.receive(0, 1, 2)).rejects.toThrow('peer lost')
})

test('a receive with a buffer gets the message copied into it; a too small buffer is a UsageError', async () => {
  const m = new Matcher()
  const into = new Uint8Array(4)
  m.deliver(msg(1, 0, 0, 9))
  const got = await m.receive(0, 1, 0, { into })
  expect(got.payload.buffer).toBe(into.buffer)
  expect([...got.payload]).toEqual([9])
  const small = m.receive(0, 1, 1, { into: new Uint8Array(0) })
  m.deliver(msg(1, 1))
  await expect(small).rejects.toMatchObject({ code: 'TSRUN_USAGE', message: expect.stringMatching(/smaller than the message of 1 bytes/) })
})

test('claim takes the oldest matching posted receive, for a transport to fill in place', async () => {
  const m = new Matcher()
  const p = m.receive(0, ANY_SOURCE, 4, { into: new Uint8Array(8) })
  expect(m.claim(0, 2, 5)).toBeUndefined()
  const claimed = m.claim(0, 2, 4)!
  expect(claimed.into?.byteLength).toBe(8)
  expect(m.depth.posted).toBe(0)
  claimed.resolve(msg(2, 4))
  expect((await p).source).toBe(2)
})

test('waitsOn: true while a receive or probe could be answered by a source the caller names (any source always)', async () => {
  const m = new Matcher()
  const local = (s: number) => s === 1
  expect(m.waitsOn(local)).toBe(false)
  const remote = m.receive(0, 3, 0)
  expect(m.waitsOn(local)).toBe(false)
  const probe = m.probe(0, 1, 0)
  expect(m.waitsOn(local)).toBe(true)
  m.deliver(msg(1, 0))
  await probe
  expect(m.waitsOn(local)).toBe(false)
  const any = m.receive(0, ANY_SOURCE, 7)
  expect(m.waitsOn(local)).toBe(true)
  m.deliver(msg(3, 7))
  m.deliver(msg(3, 0))
  await Promise.all([any, remote])
  expect(m.waitsOn(() => true)).toBe(false)
})
