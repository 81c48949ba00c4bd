import { describe, expect, it } from 'vitest'
import { arrayDataset, batchCount, epochBatches, permutation, prefetch, shardDataset, shardIndices } from '../../../src/dl/data.ts'
import { ProgressBar } from '../../../src/dl/progress.ts'

describe('shardIndices', () => {
  it('splits an epoch into disjoint shards that cover every sample, padded to equal length', () => {
    for (const [n, size] of [
      [12, 3],
      [97, 4],
      [5, 8],
      [1, 2],
    ] as const) {
      const shards = Array.from({ length: size }, (_, rank) => shardIndices(n, { rank, size, seed: 1, epoch: 2 }))
      const per = Math.ceil(n / size)
      for (const s of shards) expect(s.length).toBe(per)
      const all = shards.flatMap((s) => [...s])
      expect(new Set(all)).toEqual(new Set(Array.from({ length: n }, (_, i) => i)))
      // Padding repeats only as many samples as it has to.
      expect(all.length - n).toBe(per * size - n)
    }
  })

  it('drops the remainder instead when asked: disjoint shards of floor(n/size)', () => {
    const shards = [0, 1, 2].map((rank) => shardIndices(11, { rank, size: 3, dropRemainder: true }))
    for (const s of shards) expect(s.length).toBe(3)
    expect(new Set(shards.flatMap((s) => [...s])).size).toBe(9)
  })

  it('is the same on every call for (seed, epoch), new for each epoch, and in order without shuffle', () => {
    const a = shardIndices(100, { rank: 1, size: 4, seed: 5, epoch: 3 })
    expect(shardIndices(100, { rank: 1, size: 4, seed: 5, epoch: 3 })).toEqual(a)
    expect(shardIndices(100, { rank: 1, size: 4, seed: 5, epoch: 4 })).not.toEqual(a)
    expect(shardIndices(100, { rank: 1, size: 4, seed: 6, epoch: 3 })).not.toEqual(a)
    expect([...shardIndices(10, { rank: 1, size: 2, shuffle: false })]).toEqual([1, 3, 5, 7, 9])
  })

  it('gives step k of 2 ranks with batch B/2 the samples of step k of 1 rank with batch B', () => {
    const one = [...epochBatches(ds(64), 8, { rank: 0, size: 1, seed: 9, epoch: 1 })]
    const two = [0, 1].map((rank) => [...epochBatches(ds(64), 4, { rank, size: 2, seed: 9, epoch: 1 })])
    expect(two[0]).toHaveLength(one.length)
    one.forEach((b, k) => {
      const ids = (xs: Float32Array) => [...xs].sort((p, q) => p - q)
      expect(ids(new Float32Array([...two[0]![k]!.x, ...two[1]![k]!.x]))).toEqual(ids(b.x))
    })
  })

  it('rejects bad arguments with the expected range', () => {
    expect(() => shardIndices(10, { rank: 4, size: 4 })).toThrow('rank must be in 0..3, got 4')
    expect(() => shardIndices(-1, { rank: 0, size: 1 })).toThrow('non-negative integer')
    expect(() => [...epochBatches(ds(4), 0, { rank: 0, size: 1 })]).toThrow('batchSize must be a positive integer, got 0')
  })

  it("shardDataset copies this rank's rows in epoch order", () => {
    const shard = shardDataset(ds(10), { rank: 1, size: 3, shuffle: false })
    expect(shard.length).toBe(4) // ceil(10 / 3), the last one wrapped around
    expect([...shard.x]).toEqual([1, 4, 7, 0])
    expect([...shard.y]).toEqual([1, -1, 4, -4, 7, -7, 0, -0])
  })

  it('permutation is a permutation', () => {
    const p = permutation(1000, 3, 0)
    expect(new Set(p).size).toBe(1000)
    expect(Math.max(...p)).toBe(999)
  })
})

/** A data set whose x row i is [i] and y row i is [i, -i]. */
function ds(n: number) {
  return arrayDataset(
    Float32Array.from({ length: n }, (_, i) => i),
    Float32Array.from({ length: 2 * n }, (_, j) => (j % 2 ? -(j >> 1) : j >> 1)),
    [1],
    [2],
  )
}

describe('batches', () => {
  it('gathers the right rows, and the last batch is short', () => {
    const batches = [...epochBatches(ds(10), 4, { rank: 0, size: 1, shuffle: false })]
    expect(batches.map((b) => b.size)).toEqual([4, 4, 2])
    expect([...batches[2]!.x]).toEqual([8, 9])
    expect([...batches[2]!.y]).toEqual([8, -8, 9, -9])
    expect(batchCount(10, 4)).toBe(3)
  })

  it('skips the batches a resumed run already did', () => {
    const batches = [...epochBatches(ds(10), 4, { rank: 0, size: 1, shuffle: false, skip: 2 })]
    expect([...batches[0]!.x]).toEqual([8, 9])
  })

  it('arrayDataset checks that x and y have the same number of rows', () => {
    expect(() => arrayDataset(new Float32Array(6), new Float32Array(2), [3], [2])).toThrow('x has 2 rows but y has 1 rows')
  })
})

describe('prefetch', () => {
  it('yields every item in order and makes the next one while the consumer waits', async () => {
    const made: number[] = []
    const source = function* () {
      for (let i = 0; i < 4; i++) {
        made.push(i)
        yield i
      }
    }
    const seen: number[] = []
    const madeWhenSeen: number[] = []
    for await (const i of prefetch(source())) {
      seen.push(i)
      await new Promise((r) => setTimeout(r, 5)) // the step's wait for the network
      madeWhenSeen.push(made.length)
    }
    expect(seen).toEqual([0, 1, 2, 3])
    // While item i was being used, item i+1 had already been made.
    expect(madeWhenSeen).toEqual([2, 3, 4, 4])
  })

  it('passes a failure of the source on to the consumer', async () => {
    const source = function* () {
      yield 1
      throw new Error('disk gone')
    }
    const run = async () => {
      for await (const _ of prefetch(source())) await new Promise((r) => setTimeout(r, 1))
    }
    await expect(run()).rejects.toThrow('disk gone')
  })
})

describe('ProgressBar', () => {
  it('prints a line per tenth of the epoch to a log file, with samples/s and the values', () => {
    let out = ''
    const sink = {
      write: (s: string) => {
        out += s
        return true
      },
      isTTY: false,
    } as unknown as NodeJS.WritableStream
    const saved = process.env.TSRUN_TTY
    delete process.env.TSRUN_TTY
    try {
      const bar = new ProgressBar('epoch 1/2', 20, true, sink)
      for (let step = 1; step <= 20; step++) bar.update({ step, samples: step * 32, values: { loss: 1 / step } })
      bar.done({ step: 20, samples: 640, values: {} }, 'loss 0.0500')
    } finally {
      if (saved !== undefined) process.env.TSRUN_TTY = saved
    }
    const lines = out.trimEnd().split('\n')
    expect(lines).toHaveLength(11)
    expect(lines[0]).toMatch(/^epoch 1\/2 \[=* *\] 1\/20 {2}\d+ samples\/s {2}loss 1\.0000$/)
    expect(lines[10]).toBe('epoch 1/2 [========================] 20/20  loss 0.0500')
    expect(out).not.toContain('\r')
  })

  it('prints nothing when disabled (ranks other than 0)', () => {
    let out = ''
    const sink = {
      write: (s: string) => {
        out += s
        return true
      },
    } as unknown as NodeJS.WritableStream
    const bar = new ProgressBar('x', 3, false, sink)
    bar.update({ step: 1, samples: 1, values: {} })
    bar.done({ step: 3, samples: 3, values: {} })
    expect(out).toBe('')
  })
})
