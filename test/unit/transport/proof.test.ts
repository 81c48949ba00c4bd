import * as zmq from 'zeromq'
import { afterAll, expect, test } from 'vitest'
import { PROOF_WINDOW_MS, ProofChecker, prove } from '../../../src/proof.ts'
import { connectionProof, refusedHandshakes, startZapHandler, stopZapHandler, ZAP_DOMAIN } from '../../../src/transport/zmq/auth.ts'

test('a proof holds once, for its purpose, under its secret, while fresh', () => {
  const c = new ProofChecker('s3cret')
  const { claim, proof } = prove('s3cret', 'zmq connection to rank 2')
  expect(claim).toMatch(/^tsrun1:\d+:[0-9a-f]{24}$/)
  expect(proof).not.toContain('s3cret')
  expect(c.check('zmq connection to rank 3', claim, proof)).toBe('wrong proof')
  expect(c.check('zmq connection to rank 2', claim, proof)).toBeUndefined()
  expect(c.check('zmq connection to rank 2', claim, proof)).toBe('claim used before')
  const other = prove('another', 'zmq connection to rank 2')
  expect(c.check('zmq connection to rank 2', other.claim, other.proof)).toBe('wrong proof')
  const late = prove('s3cret', 'p')
  expect(c.check('p', late.claim, late.proof, Date.now() + PROOF_WINDOW_MS + 1000)).toMatch(/stale claim/)
  expect(c.check('p', 'tsrun1:1:xyz', late.proof)).toBe('not a tsrun claim')
})

afterAll(() => stopZapHandler())

test('ZeroMQ: a connection with a fresh proof delivers; the same recorded credentials, or a proof for another rank, are refused', async () => {
  await startZapHandler('job-secret', 0)
  const pull = new zmq.Pull({ linger: 0, zapDomain: ZAP_DOMAIN, zapEnforceDomain: true, plainServer: true })
  await pull.bind('tcp://127.0.0.1:*')
  const endpoint = pull.lastEndpoint!
  const received: string[] = []
  void (async () => {
    for await (const [m] of pull) received.push(m!.toString())
  })()
  const creds = connectionProof('job-secret', 0)
  expect(JSON.stringify(creds)).not.toContain('job-secret')
  const pushes: zmq.Push[] = []
  const sendWith = async (c: { plainUsername: string; plainPassword: string }, text: string) => {
    const push = new zmq.Push({ linger: 0, ...c })
    pushes.push(push)
    push.connect(endpoint)
    void push.send(text).catch(() => {})
  }
  const before = refusedHandshakes()
  await sendWith(creds, 'genuine')
  await new Promise((r) => setTimeout(r, 300))
  await sendWith(creds, 'replayed') // what an eavesdropper recorded
  await sendWith(connectionProof('job-secret', 1), 'meant for rank 1')
  await new Promise((r) => setTimeout(r, 500))
  expect(received).toEqual(['genuine'])
  expect(refusedHandshakes() - before).toBeGreaterThanOrEqual(2)
  for (const p of pushes) p.close()
  pull.close()
})
