// Dissemination barrier on 1..9 ranks in memory: ceil(log2 P) rounds.
import { describe, expect, test } from 'vitest'
import { barrierDissemination } from '../../../src/collectives/barrier-dissemination.ts'
import { memoryWorld, onAll } from '../../helpers/memory-context.ts'

const SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]
const steps = (p: number) => Math.ceil(Math.log2(p))

describe.each(SIZES)('on %i ranks', (P) => {
  test('sends ceil(log2 P) messages per rank', async () => {
    const b = memoryWorld(P)
    await onAll(b, (ctx) => barrierDissemination(ctx, -2))
    for (const s of b.sent) expect(s.messages).toBe(steps(P))
  })
})
