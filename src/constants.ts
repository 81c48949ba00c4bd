/** Defaults shared by the layers that cut large messages into segments (collectives and transports). */

/** Default segment size of large messages and pipelined algorithms (bench/p2p.ts: 256 KiB - 1 MiB segments go fastest). */
export const DEFAULT_SEGMENT_BYTES = 1024 * 1024
