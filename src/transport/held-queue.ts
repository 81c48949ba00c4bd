/**
 * A frame queue that holds what is pushed until the queue it stands for exists (a pipe to a peer whose address
 * is being fetched: peer-links.ts), then hands it all over in order and passes everything after straight on.
 */
import type { FrameQueue } from './frame-queue.ts'

export class HeldQueue implements FrameQueue {
  private held: Buffer[][] | undefined = []
  private target: FrameQueue | undefined
  private readonly waiters: (() => void)[] = []

  push(frames: Buffer[]): void {
    if (this.target) this.target.push(frames)
    else this.held?.push(frames)
  }

  get pending(): boolean {
    return this.target ? this.target.pending : (this.held?.length ?? 0) > 0
  }

  async drained(): Promise<void> {
    if (this.held !== undefined && this.held.length > 0 && !this.target) await new Promise<void>((resolve) => this.waiters.push(resolve))
    await this.target?.drained()
  }

  /** The real queue exists: what was held goes to it first. */
  release(target: FrameQueue): void {
    if (this.held === undefined) return
    for (const frames of this.held) target.push(frames)
    this.held = undefined
    this.target = target
    for (const w of this.waiters.splice(0)) w()
  }

  /** There will be no real queue (the transport failed or closed): what was held is dropped. */
  drop(): void {
    this.held = undefined
    for (const w of this.waiters.splice(0)) w()
  }
}
