/**
 * The proof a store request carries instead of the job secret: a one-time claim and its HMAC over the whole
 * request (id, command, key, a hash of the argument), as `claim proof` (src/proof.ts). A recorded request
 * sent again, or one with anything changed, is refused.
 */
import { createHash } from 'node:crypto'
import { prove, type ProofChecker } from '../../proof.ts'

function purpose(reqId: Buffer, op: Buffer | string, key: Buffer | string, arg: Buffer): string {
  return `store request ${reqId.toString('hex')} ${op} ${key} ${createHash('sha256').update(arg).digest('hex')}`
}

/** The proof frame of a request. */
export function requestProof(secret: string, reqId: Buffer, op: string, key: string, arg: Buffer): string {
  const { claim, proof } = prove(secret, purpose(reqId, op, key, arg))
  return `${claim} ${proof}`
}

/** Undefined if the request's proof holds, else why it is refused. */
export function checkRequestProof(checker: ProofChecker, frame: Buffer, reqId: Buffer, op: Buffer, key: Buffer, arg: Buffer): string | undefined {
  const [claim, proof, extra] = frame.toString().split(' ')
  if (!claim || !proof || extra !== undefined) return 'no proof of the job secret'
  const why = checker.check(purpose(reqId, op.toString(), key.toString(), arg), claim, proof)
  return why && `${why} (not this job's secret?)`
}
