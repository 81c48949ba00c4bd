// The store over real ZeroMQ sockets on loopback (no ranks involved).
import * as zmq from 'zeromq'
import { afterEach, expect, test } from 'vitest'
import { PrefixStore } from '../../../src/bootstrap/prefix-store.ts'
import { keyList, StoreClient, storeTraffic } from '../../../src/bootstrap/zmq/store-client.ts'
import { requestProof } from '../../../src/bootstrap/zmq/request-proof.ts'
import { StoreServer } from '../../../src/bootstrap/zmq/store-server.ts'
import { StoreTimeoutError } from '../../../src/bootstrap/store.ts'

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const f of cleanups.splice(0)) f()
})

async function setup(secret = 's3cret') {
  const server = await StoreServer.start({ endpoint: 'tcp://127.0.0.1:*', secret })
  const client = new StoreClient(server.endpoint, secret)
  cleanups.push(
    () => client.close(),
    () => server.close(),
  )
  return { server, client }
}

test('set, get, add, and get waiting for a later set', async () => {
  const { server, client } = await setup()
  await client.set('a', 'one')
  expect((await client.get('a', 1000)).toString()).toBe('one')
  expect(await client.add('n', 2)).toBe(2)
  expect(await client.add('n', 3)).toBe(5)
  const other = new StoreClient(server.endpoint, 's3cret')
  cleanups.push(() => other.close())
  const later = client.get('b', 5000)
  await other.set('b', new Uint8Array([1, 2, 3]))
  expect([...(await later)]).toEqual([1, 2, 3])
})

test('wait reports exactly the keys still missing at the deadline', async () => {
  const { client } = await setup()
  await client.set('addr/0', 'x')
  await client.set('addr/2', 'x')
  const err = await client.wait(['addr/0', 'addr/1', 'addr/2', 'addr/3'], 100).catch((e) => e)
  expect(err).toBeInstanceOf(StoreTimeoutError)
  expect(err.missing).toEqual(['addr/1', 'addr/3'])
})

test('a prefix store keeps namespaces apart and strips its prefix from missing keys', async () => {
  const { client } = await setup()
  const a = new PrefixStore('job/a/', client)
  const b = new PrefixStore('job/b/', client)
  await a.set('k', 'A')
  await b.set('k', 'B')
  expect((await a.get('k', 100)).toString()).toBe('A')
  expect((await b.get('k', 100)).toString()).toBe('B')
  const err = await a.wait(['k', 'missing'], 50).catch((e) => e)
  expect(err.missing).toEqual(['missing'])
})

test('a client with the wrong secret is refused', async () => {
  const { server } = await setup('right')
  const intruder = new StoreClient(server.endpoint, 'wrong')
  cleanups.push(() => intruder.close())
  await expect(intruder.set('x', 'y')).rejects.toThrow(/refused this job's secret/)
  expect(server.rejected).toBe(1)
})

test('unknown commands and garbage frames get an error or are ignored; the store keeps working', async () => {
  const { server, client } = await setup('k')
  const raw = new zmq.Dealer({ linger: 0 })
  raw.connect(server.endpoint)
  cleanups.push(() => raw.close())
  const id = Buffer.alloc(4)
  await raw.send([id, Buffer.from(requestProof('k', id, 'explode', 'x', Buffer.alloc(0))), Buffer.from('explode'), Buffer.from('x'), Buffer.alloc(0)])
  const [, status, body] = await raw.receive()
  expect(status.toString()).toBe('error')
  expect(body.toString()).toMatch(/unknown store command 'explode'/)
  await raw.send([Buffer.from('junk')])
  await raw.send([
    id,
    Buffer.from(requestProof('k', id, 'wait', 'not json', Buffer.from('10'))),
    Buffer.from('wait'),
    Buffer.from('not json'),
    Buffer.from('10'),
  ])
  const [, status2] = await raw.receive()
  expect(status2.toString()).toBe('error')
  await client.set('still', 'fine')
  expect((await client.get('still', 100)).toString()).toBe('fine')
  expect(server.rejected).toBeGreaterThanOrEqual(2)
})

test('requests prove the secret without carrying it; a recorded request sent again is refused', async () => {
  const { server } = await setup('the-job-secret')
  const raw = new zmq.Dealer({ linger: 0 })
  raw.connect(server.endpoint)
  cleanups.push(() => raw.close())
  const id = Buffer.alloc(4)
  const frames = [id, Buffer.from(requestProof('the-job-secret', id, 'set', 'k', Buffer.from('v'))), Buffer.from('set'), Buffer.from('k'), Buffer.from('v')]
  expect(Buffer.concat(frames).includes('the-job-secret')).toBe(false)
  await raw.send(frames)
  expect((await raw.receive())[1]!.toString()).toBe('ok')
  await raw.send(frames) // replayed as recorded
  const [, status, body] = await raw.receive()
  expect([status!.toString(), body!.toString()]).toEqual(['denied', "claim used before (not this job's secret?)"])
  // Changing the argument breaks the proof.
  await raw.send([id, frames[1]!, Buffer.from('set'), Buffer.from('k'), Buffer.from('other')])
  expect((await raw.receive())[2]!.toString()).toBe("wrong proof (not this job's secret?)")
})

test('a store that does not answer becomes a clear error, not a hang', async () => {
  // A bound socket that never replies.
  const mute = new zmq.Router()
  await mute.bind('tcp://127.0.0.1:*')
  cleanups.push(() => mute.close())
  const client = new StoreClient(mute.lastEndpoint!, 'x')
  cleanups.push(() => client.close())
  await expect(client.ping(200)).rejects.toThrow(/did not answer within 200 ms/)
})

test('getAll waits for every key and answers all the values in one request, empty and binary ones too', async () => {
  const { server, client } = await setup()
  const other = new StoreClient(server.endpoint, 's3cret')
  cleanups.push(() => other.close())
  const view = new PrefixStore('job/world/', client)
  await view.set('addr/0', 'zero')
  const all = view.getAll(['addr/0', 'addr/1', 'addr/2'], 5000)
  await new PrefixStore('job/world/', other).set('addr/2', new Uint8Array([0, 255, 7]))
  await other.set('job/world/addr/1', '')
  const values = await all
  expect(values.map((v) => [...v])).toEqual([[...Buffer.from('zero')], [], [0, 255, 7]])
  // Missing keys at the deadline are named without the prefix, as wait() names them.
  const late = await view.getAll(['addr/0', 'addr/9'], 100).catch((e: unknown) => e)
  expect(late).toBeInstanceOf(StoreTimeoutError)
  expect((late as StoreTimeoutError).missing).toEqual(['addr/9'])
})

test('a list of keys prefix + 0..n-1 goes as a range of a few bytes, and is answered as the list would be', async () => {
  const { client } = await setup()
  const keys = Array.from({ length: 1000 }, (_, i) => `job7/world/place/${i}`)
  expect(keyList(keys)).toBe('{"prefix":"job7/world/place/","count":1000}')
  // Anything else stays a list of names: not from 0, a gap, another prefix, a single key.
  for (const other of [['p/1', 'p/2'], ['p/0', 'p/2'], ['p/0', 'q/1'], ['p/0'], ['a10', 'a11']]) expect(JSON.parse(keyList(other))).toEqual(other)
  await Promise.all(keys.map((k, i) => client.set(k, String(i))))
  const before = storeTraffic.requestBytes
  const values = await client.getAll(keys, 1000)
  expect(storeTraffic.requestBytes - before).toBeLessThan(100)
  expect(values.map(String)).toEqual(keys.map((_, i) => String(i)))
  const late = await client.getAll(['r/0', 'r/1', 'r/2'], 100).catch((e: unknown) => e)
  expect((late as StoreTimeoutError).missing).toEqual(['r/0', 'r/1', 'r/2'])
})
