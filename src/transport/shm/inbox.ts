/** The receiving side of the pairs' shared slots: each sender's mapped file, unlinked once mapped. */
import { rmSync } from 'node:fs'
import type { NativeModule } from '../../native/native.ts'
import { channelPath, SLOT_BYTES, SLOTS } from './slots.ts'

interface Mapped {
  memory: ArrayBuffer
  slots: number
  slotBytes: number
}

export class ShmInbox {
  private readonly native: NativeModule
  private readonly dir: string
  private readonly rank: number
  private readonly bySource: (Mapped | undefined)[] = []

  constructor(native: NativeModule, dir: string, rank: number) {
    this.native = native
    this.dir = dir
    this.rank = rank
  }

  /**
   * Maps the file `source` made toward us (it said so in an SHM_OPEN), then unlinks it: from now on it lives
   * exactly as long as the two mappings. False for a geometry we do not expect (a malformed notice).
   */
  open(source: number, slots: number, slotBytes: number): boolean {
    if (this.bySource[source] || slots < 1 || slots > 4 * SLOTS || slotBytes < 4096 || slotBytes > 16 * SLOT_BYTES) return false
    const path = channelPath(this.dir, source, this.rank)
    const memory = this.native.mapShared(path, slots * slotBytes, false)
    rmSync(path, { force: true })
    this.bySource[source] = { memory, slots, slotBytes }
    return true
  }

  /** The first `bytes` bytes of slot `i` of `source`'s file; undefined if there is no such slot. */
  segment(source: number, i: number, bytes: number): Uint8Array | undefined {
    const m = this.bySource[source]
    if (!m || i >= m.slots || bytes > m.slotBytes) return undefined
    return new Uint8Array(m.memory, i * m.slotBytes, bytes)
  }

  /** Bytes per slot of `source`'s file (the segment size), or 0 if it has not opened one. */
  slotBytes(source: number): number {
    return this.bySource[source]?.slotBytes ?? 0
  }
}
