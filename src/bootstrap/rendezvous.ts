/**
 * The world's rendezvous (gloo connectFullMesh, made lazy as Open MPI's async modex and NCCL's lazy
 * connections are):
 * 1. each rank publishes its transport address under `addr/<rank>`, then its place (host, shared memory) under
 *    `place/<rank>`: a few bytes;
 * 2. each rank waits until all `size` places are there and reads them in one request (a range of keys, not n
 *    names), or fails after the timeout naming the ranks that never arrived (so every rank reports the same
 *    missing ranks); then reads the addresses of its own host's ranks;
 * 3. each rank links to its peers: its host's at once, another host's when first used (transport/peer-links.ts),
 *    fetching the addresses of that host's ranks then, in one request.
 * So what a rank reads at init grows by a place (about 11 B) per rank of the job, not an address (about 190 B).
 * `eager`: every address at init (where a rank serves the store and may close it before others are done: srun).
 */
import { RendezvousError } from '../errors.ts'
import type { AddressFetch, Connectable, PeerAddress, PeerPlace } from '../transport/transport.ts'
import { StoreTimeoutError, type Store } from './store.ts'

export async function rendezvous(store: Store, transport: Connectable, timeoutMs: number, eager = false): Promise<PeerPlace[]> {
  const { rank, size } = transport
  const me = transport.address
  const keys = (what: string, ranks: number[]) => ranks.map((r) => `${what}/${r}`)
  const all = Array.from({ length: size }, (_, r) => r)
  const parse = (v: Buffer) => JSON.parse(v.toString()) as PeerAddress
  const published = store.set(`addr/${rank}`, JSON.stringify(me))
  if (eager) {
    await published
    const peers = (await gather(store, keys('addr', all), timeoutMs, rank)).map(parse)
    transport.connect(peers)
    return peers
  }
  // After the address, on the same connection (the store answers in order, no round trip between): a rank whose
  // place is there has its address there too.
  await Promise.all([published, store.set(`place/${rank}`, `${me.shm ? 1 : 0}${me.host}`)])
  const places: PeerPlace[] = (await gather(store, keys('place', all), timeoutMs, rank)).map((v, r) => {
    const s = v.toString()
    return { rank: r, host: s.slice(1), shm: s[0] === '1' }
  })
  const local = places.filter((p) => p.host === me.host).map((p) => p.rank)
  const addresses = (await store.getAll(keys('addr', local), timeoutMs)).map(parse)
  const peers: PeerPlace[] = places.slice()
  for (const a of addresses) peers[a.rank] = a
  const fetch: AddressFetch = async (ranks) => (await store.getAll(keys('addr', ranks), timeoutMs)).map(parse)
  transport.connect(peers, fetch)
  return peers
}

/** Every key's value, once all are set; a timeout names the ranks whose keys never came. */
async function gather(store: Store, keys: string[], timeoutMs: number, rank: number): Promise<Buffer[]> {
  try {
    return await store.getAll(keys, timeoutMs)
  } catch (err) {
    if (!(err instanceof StoreTimeoutError)) throw err
    const missing = err.missing.map((k) => Number(k.slice(k.indexOf('/') + 1))).sort((a, b) => a - b)
    throw new RendezvousError(
      `rank ${rank}: rendezvous timed out after ${timeoutMs / 1000} s: ranks [${missing.join(', ')}] never ` +
        `arrived (${keys.length - missing.length} of ${keys.length} did); did they crash or hang before init()? ` +
        `Set TSRUN_RENDEZVOUS_TIMEOUT (seconds) to wait longer`,
      missing,
      { cause: err },
    )
  }
}
