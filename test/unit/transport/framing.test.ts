import { expect, test } from 'vitest'
import { decodeHeader, encodeHeader, writeHeader, HEADER_BYTES, KIND_CONT, KIND_DATA, MAGIC, type Header } from '../../../src/transport/framing.ts'

const h: Header = {
  commId: 0xdeadbeef,
  tag: -7,
  source: 3,
  dtype: 8,
  kind: KIND_CONT,
  flags: 1,
  seq: 2 ** 32 - 1,
  bytes: 2 ** 33 + 5,
  coll: 4,
  op: 1,
  root: 0xffff,
  count: 1000,
  aux: 7,
}

test('a header round-trips through 48 bytes', () => {
  const buf = encodeHeader(h)
  expect(buf.length).toBe(HEADER_BYTES)
  expect(buf.readUInt32LE(0)).toBe(MAGIC)
  expect(decodeHeader(buf, 4)).toEqual(h)
})

test('a one-frame message: the header is read from the front of a longer buffer', () => {
  const frame = Buffer.alloc(HEADER_BYTES + 5)
  writeHeader(frame, h)
  expect(decodeHeader(frame, 4)).toEqual(h)
})

test('malformed headers are reported as reasons, never thrown', () => {
  const good = encodeHeader({ ...h, kind: KIND_DATA })
  expect(decodeHeader(good.subarray(0, 31), 4)).toMatch(/header of 31 bytes, expected 48/)
  const bad = Buffer.from(good)
  bad.writeUInt32LE(0x12345678, 0)
  expect(decodeHeader(bad, 4)).toBe('bad magic')
  expect(decodeHeader(good, 3)).toMatch(/source 3 outside world of 3/)
  const kind = Buffer.from(good)
  kind.writeUInt8(99, 17)
  expect(decodeHeader(kind, 4)).toMatch(/unknown kind 99/)
  const dtype = Buffer.from(good)
  dtype.writeUInt8(200, 16)
  expect(decodeHeader(dtype, 4)).toMatch(/unknown dtype 200/)
  for (const bytes of [-1, 0.5, NaN, 2 ** 41]) {
    const len = Buffer.from(good)
    len.writeDoubleLE(bytes, 24)
    expect(decodeHeader(len, 4)).toMatch(/bad length/)
  }
  expect(decodeHeader(Buffer.alloc(0), 4)).toMatch(/header of 0 bytes/)
})
