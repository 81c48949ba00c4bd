/** Types of agent-frames.mjs (the frames a host agent sends to the launcher). */
export declare const FRAME: Readonly<{ ready: 0; stdout: 1; stderr: 2; started: 3; exit: 4; failed: 5 }>
export declare const HEADER_BYTES: 9
export declare function encodeFrame(kind: number, id: number, payload: string | Buffer): Buffer
export declare function frameReader(onFrame: (kind: number, id: number, payload: Buffer) => void): (chunk: Buffer) => void
