/** Types of jit-flags.mjs (V8 flags for a rank, by how full its host is). */
export declare function jitFlags(localSize: number, cores: number): string[]
