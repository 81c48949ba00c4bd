import { PassThrough } from 'node:stream'
import { expect, test } from 'vitest'
import { LineForwarder, tagFor } from '../../../launcher/rank-output.ts'

function collect() {
  const out = new PassThrough()
  const writes: string[] = []
  out.on('data', (d) => writes.push(String(d)))
  return { out, writes }
}

test('writes only whole lines, each write a set of complete lines', async () => {
  const { out, writes } = collect()
  const f = new LineForwarder(out, '')
  f.push('ab')
  f.push('c\nde')
  f.push('f\n\ng\n')
  f.flush()
  await new Promise((r) => setImmediate(r))
  expect(writes).toEqual(['abc\n', 'def\n\ng\n'])
})

test('prefixes every line, empty ones too, and ends a last partial line with a newline', async () => {
  const { out, writes } = collect()
  const f = new LineForwarder(out, tagFor(3, 'stdout') + ' ')
  f.push('one\n\ntwo')
  f.flush()
  await new Promise((r) => setImmediate(r))
  expect(writes.join('')).toBe('[1,3]<stdout>: one\n[1,3]<stdout>: \n[1,3]<stdout>: two\n')
})
