/**
 * Block arithmetic shared by the algorithms. `count` elements split into `parts` blocks as evenly as possible:
 * the first `count % parts` blocks get one element more (the reduceScatter contract).
 */

/** Start of block `i` of `count` elements in `parts` blocks. */
export function blockStart(count: number, parts: number, i: number): number {
  const base = Math.floor(count / parts)
  const extra = count % parts
  return i * base + Math.min(i, extra)
}

/** [start, end) of block `i`. */
export function blockRange(count: number, parts: number, i: number): [number, number] {
  return [blockStart(count, parts, i), blockStart(count, parts, i + 1)]
}

/** Sizes of all blocks, in order. */
export function blockSizes(count: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => blockStart(count, parts, i + 1) - blockStart(count, parts, i))
}

/** [start, end) ranges of at most `segment` elements covering [start, end); none for an empty range. */
export function segments(start: number, end: number, segment: number): [number, number][] {
  const out: [number, number][] = []
  const step = Math.max(1, segment)
  for (let s = start; s < end; s += step) out.push([s, Math.min(end, s + step)])
  return out
}

/** Largest power of two <= n (n >= 1). */
export function floorPow2(n: number): number {
  return 2 ** Math.floor(Math.log2(n))
}

/** (x mod n) for any integer x, in [0, n). */
export function mod(x: number, n: number): number {
  return ((x % n) + n) % n
}
