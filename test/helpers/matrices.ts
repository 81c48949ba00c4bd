// A non-commutative, associative user op for tests: products of 2x2 integer matrices mod 101, four Int32
// elements each (row-major). Only a reduction in rank order gives the expected product.
import { defineOp } from '../../src/collectives/reduce-ops.ts'

export const M = 101

/** The product a·b of two 2x2 matrices mod 101. */
export const matmul = (a: number[], b: number[]): number[] => [
  (a[0]! * b[0]! + a[1]! * b[2]!) % M,
  (a[0]! * b[1]! + a[1]! * b[3]!) % M,
  (a[2]! * b[0]! + a[3]! * b[2]!) % M,
  (a[2]! * b[1]! + a[3]! * b[3]!) % M,
]

/** inout[k] = inout[k] · incoming[k] for each matrix k of the arrays. */
export const matOp = defineOp<Int32Array>(
  'matmul-mod-101',
  (inout, incoming) => {
    for (let i = 0; i < inout.length; i += 4) inout.set(matmul([...inout.subarray(i, i + 4)], [...incoming.subarray(i, i + 4)]), i)
  },
  { commutative: false },
)
