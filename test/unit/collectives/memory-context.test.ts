// The in-memory world the algorithm tests run on: with jitter, channels keep their order but arrive shuffled
// against each other (else the "shuffled order" runs of the other tests would prove nothing).
import { expect, test } from 'vitest'
import { memoryWorld } from '../../helpers/memory-context.ts'

test('jitter keeps each channel in order and reorders channels against each other; without it, sends arrive in order', async () => {
  const arrivals = async (jitterSeed?: number) => {
    const w = memoryWorld(3, undefined, { jitterSeed })
    const [a, b, c] = w.contexts
    for (let i = 0; i < 20; i++) {
      await a!.send(2, -1, Int32Array.of(i))
      await b!.send(2, -1, Int32Array.of(100 + i))
    }
    const order: number[] = []
    await Promise.all(
      [0, 1].map(async (from) => {
        for (let i = 0; i < 20; i++) {
          const m = new Int32Array(1)
          await c!.recv(from, -1, m)
          order.push(m[0]!)
        }
      }),
    )
    return order
  }
  const inOrder = (xs: number[]) => xs.every((x, i) => i === 0 || x > xs[i - 1]!)
  const plain = await arrivals()
  const shuffled = await arrivals(1)
  for (const order of [plain, shuffled]) {
    expect(inOrder(order.filter((x) => x < 100))).toBe(true)
    expect(inOrder(order.filter((x) => x >= 100))).toBe(true)
    expect(order.length).toBe(40)
  }
  // Without jitter both receivers drain in lockstep; with it, the interleaving differs.
  expect(shuffled).not.toEqual(plain)
  expect(await arrivals(1)).toEqual(shuffled) // deterministic for a seed
})

test('contributors: absent unless asked for', () => {
  expect(memoryWorld(2).contexts[0]!.contributors).toBeUndefined()
  expect(memoryWorld(4, undefined, { contributors: 3 }).contexts[1]!.contributors!()).toBe(3)
})
