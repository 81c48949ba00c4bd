/** The one line a host's lowest rank prints when some ranks of the host could not get their shared memory. */
import type { PeerAddress } from '../transport.ts'

/** `local`: the published addresses of this host's ranks (this rank among them). */
export function reportShmOff(rank: number, local: PeerAddress[]): void {
  const off = local.filter((p) => p.shmOff !== undefined)
  if (off.length === 0 || Math.min(...local.map((p) => p.rank)) !== rank) return
  const ranks = off.map((p) => p.rank).join(', ')
  process.stderr.write(
    `tsrun: shared memory is off for rank${off.length > 1 ? 's' : ''} ${ranks} of host ${local[0]!.host} (${off[0]!.shmOff}); ` +
      'they talk to the ranks of their host over unix streams, more slowly. Give /dev/shm more room or set TSRUN_SHM_BYTES (docs/configuration.md).\n',
  )
}
