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

test('a carriage return ends a line too, so a progress bar redraws live; each redraw is tagged', async () => {
  const { out, writes } = collect()
  const f = new LineForwarder(out, '[r0] ')
  f.push('\rstep 1')
  f.push('\rstep 2')
  f.push('\rstep 3 done\n')
  await new Promise((r) => setImmediate(r))
  // Each redraw is out as soon as the next one starts, not held back until a newline.
  expect(writes[0]).toBe('\r[r0] step 1')
  expect(writes.join('')).toBe('\r[r0] step 1\r[r0] step 2\r[r0] step 3 done\n')
})
