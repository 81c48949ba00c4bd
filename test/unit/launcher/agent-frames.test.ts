import { expect, test } from 'vitest'
import { encodeFrame, FRAME, frameReader } from '../../../launcher/agent-frames.mjs'

test('frames from a host agent come out whole and in order however the stream splits them', () => {
  const sent: [number, number, string][] = [
    [FRAME.ready, 0, 'node7'],
    [FRAME.started, 3, '4242'],
    [FRAME.stdout, 3, 'a line\n'],
    [FRAME.stderr, 12, ''],
    [FRAME.stdout, 3, 'é'.repeat(5000)], // a multibyte character cut between chunks stays whole in its frame
    [FRAME.exit, 3, JSON.stringify({ code: null, signal: 'SIGKILL' })],
  ]
  const bytes = Buffer.concat(sent.map(([k, id, p]) => encodeFrame(k, id, p)))
  for (const step of [1, 2, 7, 9, 100, bytes.length]) {
    const got: [number, number, string][] = []
    const read = frameReader((k, id, p) => got.push([k, id, p.toString('utf8')]))
    for (let at = 0; at < bytes.length; at += step) read(bytes.subarray(at, at + step))
    expect(got).toEqual(sent)
  }
})
