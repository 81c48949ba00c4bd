/**
 * Barrier by dissemination: in round k every rank signals rank + 2^k and waits for rank - 2^k. After
 * ceil(log2 P) rounds every rank has heard, directly or not, from every other. Messages are empty.
 * Ref: Hensgen, Finkel & Manber, "Two algorithms for barrier synchronization", 1988.
 */
import type { CollectiveContext } from './context.ts'
import { mod } from './partition.ts'

const EMPTY = new Uint8Array(0)

export async function barrierDissemination(ctx: CollectiveContext, tag: number): Promise<void> {
  const { rank, size } = ctx
  for (let k = 1; k < size; k <<= 1) {
    await Promise.all([ctx.send(mod(rank + k, size), tag, EMPTY), ctx.recv(mod(rank - k, size), tag, EMPTY)])
  }
}
