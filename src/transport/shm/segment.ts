/**
 * A rank's shared-memory segment (native/shm.h has the layout): its receive queue, into which every rank of the
 * host writes small messages inline and notices of large ones, and its own pool of fragments, which carry the
 * bytes of its large messages to any rank of the host. Memory grows with the ranks of a host, not with their
 * pairs: 256 KiB of queue, up to 4 MiB of fragments (4 × 1 MiB) and 260 KiB for host collectives per rank.
 *
 * The pages are reserved when the file is made (posix_fallocate), so a full /dev/shm is an error then, which
 * the transport answers by leaving this rank on the unix streams, never a SIGBUS at a later first touch.
 */
import { rmSync, statfsSync } from 'node:fs'
import type { NativeModule } from '../../native/native.ts'

/** Cells of a receive queue, and bytes per cell (an 8-byte cell header, then a frame: header and payload). */
export const CELLS = 256
export const CELL_BYTES = 1024
/** The largest frame a cell holds: a message up to CELL_BYTES - 8 - 48 bytes travels inline. */
export const CELL_FRAME_BYTES = CELL_BYTES - 8
/** Bytes per fragment, and the most fragments a rank keeps. */
export const FRAG_BYTES = 1024 * 1024
export const MAX_FRAGS = 4
/** The host collectives' area at the end of each segment: a flag line and two slots (host-slot.ts). */
export const COLL_AREA_BYTES = 4096
/** After it, the area a host broadcast's root copies its data into for the others (host-broadcast.ts). */
export const BCAST_AREA_BYTES = 256 * 1024
/** Fewer fragments than this, and the segment is not worth making. */
const MIN_FRAGS = 2
/** The budget of a host when TSRUN_SHM_BYTES does not set one: half of /dev/shm's free space, at most this. */
const DEFAULT_HOST_BUDGET = 1 << 30

export interface Geometry {
  cells: number
  cellBytes: number
  frags: number
  fragBytes: number
  world: number
}

const align = (n: number) => Math.ceil(n / 4096) * 4096

/** Bytes of a segment of this geometry, and where its fragments start (as shm.h computes them). */
export function layout(g: Geometry): { bytes: number; fragsOffset: number; collOffset: number; bcastOffset: number } {
  const queue = align(384 + g.world)
  const fragsOffset = align(queue + g.cells * g.cellBytes + 4 * g.frags)
  // After the fragments, where the native side never looks: the host collectives' areas (host-collectives.ts).
  const collOffset = align(fragsOffset + g.frags * g.fragBytes)
  const bcastOffset = collOffset + COLL_AREA_BYTES
  return { bytes: bcastOffset + BCAST_AREA_BYTES, fragsOffset, collOffset, bcastOffset }
}

/**
 * The geometry of this rank's segment: its share of the host's budget (`hostBudget` bytes, or half of the free
 * space of `dir`'s file system, at most 1 GiB) among `localSize` ranks. A string says why there is none.
 */
export function geometryFor(dir: string, localSize: number, world: number, hostBudget?: number): Geometry | string {
  let budget = hostBudget
  if (budget === undefined) {
    try {
      const fs = statfsSync(dir)
      budget = Math.min(DEFAULT_HOST_BUDGET, Math.floor((fs.bavail * fs.bsize) / 2))
    } catch {
      budget = DEFAULT_HOST_BUDGET
    }
  }
  const share = Math.floor(budget / Math.max(1, localSize))
  const base: Geometry = { cells: CELLS, cellBytes: CELL_BYTES, frags: 0, fragBytes: FRAG_BYTES, world }
  const frags = Math.min(MAX_FRAGS, Math.floor((share - layout(base).bytes - 4096) / FRAG_BYTES))
  if (frags < MIN_FRAGS) {
    const need = layout({ ...base, frags: MIN_FRAGS }).bytes * localSize
    return `the budget of ${mib(budget)} for ${localSize} ranks is below the ${mib(need)} they need (TSRUN_SHM_BYTES sets it)`
  }
  return { ...base, frags }
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`

export class ShmSegment {
  readonly memory: ArrayBuffer
  readonly geometry: Geometry
  readonly path: string
  private readonly fragsOffset: number
  /** Where the host collectives' area starts, and the host broadcast's. */
  readonly collOffset: number
  readonly bcastOffset: number

  private constructor(memory: ArrayBuffer, geometry: Geometry, path: string) {
    this.memory = memory
    this.geometry = geometry
    this.path = path
    const l = layout(geometry)
    this.fragsOffset = l.fragsOffset
    this.collOffset = l.collOffset
    this.bcastOffset = l.bcastOffset
  }

  /** Makes, reserves and maps this rank's segment. Throws (code ENOSPC for a full tmpfs) if it cannot. */
  static create(n: NativeModule, path: string, g: Geometry): ShmSegment {
    rmSync(path, { force: true }) // a leftover of an earlier run with this job id cannot be ours
    const memory = n.mapShared(path, layout(g).bytes, true)
    n.shmInit(memory, g.cells, g.cellBytes, g.frags, g.fragBytes, g.world)
    return new ShmSegment(memory, g, path)
  }

  /** Maps a peer's segment and checks its geometry. Throws if it is missing or malformed. */
  static open(n: NativeModule, path: string): ShmSegment {
    const memory = n.mapShared(path, 0, false)
    const out = new Float64Array(6)
    if (n.shmGeometry(memory, out) !== 1) throw new Error(`${path} is not a tsrun segment`)
    const [cells, cellBytes, frags, fragBytes, world] = out as unknown as number[]
    return new ShmSegment(memory, { cells: cells!, cellBytes: cellBytes!, frags: frags!, fragBytes: fragBytes!, world: world! }, path)
  }

  /** Fragment `i` of this segment's pool, its first `bytes` bytes. */
  fragment(i: number, bytes = this.geometry.fragBytes): Uint8Array {
    return new Uint8Array(this.memory, this.fragsOffset + i * this.geometry.fragBytes, bytes)
  }
}
