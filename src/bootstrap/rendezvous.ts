/**
 * Full-mesh rendezvous (gloo connectFullMesh):
 * 1. each rank publishes its transport address under `addr/<rank>`;
 * 2. each rank waits until all `size` addresses are there and reads them in the same request (two requests a
 *    rank, whatever the size), or fails after the timeout naming the ranks that never arrived (so every rank
 *    reports the same missing ranks);
 * 3. each rank links to its peers (those of other hosts when first used: transport/peer-links.ts).
 */
import { RendezvousError } from '../errors.ts'
import type { Connectable, PeerAddress } from '../transport/transport.ts'
import { StoreTimeoutError, type Store } from './store.ts'

export async function rendezvous(store: Store, transport: Connectable, timeoutMs: number): Promise<PeerAddress[]> {
  const { rank, size } = transport
  const keys = Array.from({ length: size }, (_, r) => `addr/${r}`)
  await store.set(keys[rank], JSON.stringify(transport.address))
  let values: Buffer[]
  try {
    values = await store.getAll(keys, timeoutMs)
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
  const peers = values.map((v) => JSON.parse(v.toString()) as PeerAddress)
  transport.connect(peers)
  return peers
}
