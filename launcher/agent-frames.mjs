// The frames a host agent (host-agent.mjs) sends back to the launcher over its one ssh connection: the output
// and the life of every rank it runs on that host, taken apart again by spawn-ssh.ts. Plain JS: the agent runs
// without a TypeScript loader.
//
// A frame is a 9-byte header, kind (u8), rank id (u32 BE), payload length (u32 BE), then the payload.

/** What a frame carries. */
export const FRAME = Object.freeze({
  /** The agent is up (payload: its host name); sent once, first. */
  ready: 0,
  /** Bytes the rank wrote to stdout. */
  stdout: 1,
  /** Bytes the rank wrote to stderr. */
  stderr: 2,
  /** The rank runs (payload: its pid, in decimal). */
  started: 3,
  /** The rank ended (payload: JSON {code, signal}), after its last output. */
  exit: 4,
  /** The rank could not be started (payload: the reason). */
  failed: 5,
})

export const HEADER_BYTES = 9

/** One frame, as bytes. */
export function encodeFrame(kind, id, payload) {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload
  const head = Buffer.allocUnsafe(HEADER_BYTES)
  head.writeUInt8(kind, 0)
  head.writeUInt32BE(id, 1)
  head.writeUInt32BE(body.length, 5)
  return Buffer.concat([head, body])
}

/** Returns a function that takes chunks of a frame stream and calls `onFrame` for each whole frame. */
export function frameReader(onFrame) {
  let pending = Buffer.alloc(0)
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk
    let at = 0
    while (pending.length - at >= HEADER_BYTES) {
      const len = pending.readUInt32BE(at + 5)
      if (pending.length - at < HEADER_BYTES + len) break
      onFrame(pending.readUInt8(at), pending.readUInt32BE(at + 1), pending.subarray(at + HEADER_BYTES, at + HEADER_BYTES + len))
      at += HEADER_BYTES + len
    }
    pending = at === pending.length ? Buffer.alloc(0) : pending.subarray(at)
  }
}
