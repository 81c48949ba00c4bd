/** The sending side of one pair's shared slots: the mapped file and which slots are free. */
import { rmSync } from 'node:fs'
import type { NativeModule } from '../../native/native.ts'
import { channelPath } from './slots.ts'

export class ShmOutbox {
  readonly slots: number
  readonly slotBytes: number
  private readonly memory: ArrayBuffer
  private readonly path: string
  private readonly free: number[]

  /** Creates and maps the pair's file (from → to). Throws if it cannot. */
  constructor(native: NativeModule, dir: string, from: number, to: number, slots: number, slotBytes: number) {
    this.slots = slots
    this.slotBytes = slotBytes
    this.path = channelPath(dir, from, to)
    rmSync(this.path, { force: true }) // a leftover of an earlier run with this job id cannot be ours
    this.memory = native.mapShared(this.path, slots * slotBytes, true)
    this.free = Array.from({ length: slots }, (_, i) => slots - 1 - i)
  }

  /** A free slot's index, or undefined when all are in use (wait for a release). */
  acquire(): number | undefined {
    return this.free.pop()
  }

  /** The receiver gave slot `i` back. False for a slot that is not in use (a malformed notice). */
  release(i: number): boolean {
    if (!Number.isInteger(i) || i < 0 || i >= this.slots || this.free.includes(i)) return false
    this.free.push(i)
    return true
  }

  /** Slot `i` as bytes. */
  slot(i: number): Uint8Array {
    return new Uint8Array(this.memory, i * this.slotBytes, this.slotBytes)
  }

  /** Removes the file if the receiver never mapped (and so never unlinked) it. */
  close(): void {
    rmSync(this.path, { force: true })
  }
}
