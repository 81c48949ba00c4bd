/**
 * Full-mesh rendezvous (gloo connectFullMesh):
 * 1. each rank publishes its transport address under `addr/<rank>`;
 * 2. each rank waits until all `size` addresses are there, or fails after the timeout naming the ranks that
 *    never arrived (so every rank reports the same missing ranks);
 * 3. each rank reads all addresses and connects to its peers.
 */
import { RendezvousError } from '../errors.ts'
import type { Connectable, PeerAddress } from '../transport/transport.ts'
import { StoreTimeoutError, type Store } from './store.ts'

export async function rendezvous(store: Store, transport: Connectable, timeoutMs: number): Promise<PeerAddress[]> {
  const { rank, size } = transport
  const keys = Array.from({ length: size }, (_, r) => `addr/${r}`)
  await store.set(keys[rank], JSON.stringify(transport.address))
  try {
    await store.wait(keys, timeoutMs)
  } catch (err) {
    if (err instanceof StoreTimeoutError) {
      const missing = err.missing.map((k) => Number(k.slice('addr/'.length))).sort((a, b) => a - b)
      throw new RendezvousError(
        `rank ${rank}: rendezvous timed out after ${timeoutMs / 1000} s: ranks [${missing.join(', ')}] never ` +
          `arrived (${size - missing.length} of ${size} did); did they crash or hang before init()? ` +
          `Set TSRUN_RENDEZVOUS_TIMEOUT (seconds) to wait longer`,
        missing,
        { cause: err },
      )
    }
    throw err
  }
  const peers = await Promise.all(keys.map(async (k) => JSON.parse((await store.get(k, timeoutMs)).toString()) as PeerAddress))
  transport.connect(peers)
  return peers
}
