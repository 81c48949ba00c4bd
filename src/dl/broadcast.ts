/**
 * Start every rank from the same weights: the root's variables travel as one fused broadcast.
 */
import { UsageError, type Communicator } from '../index.ts'
import { allVariables, assignFrom, fuse, readInto, type Trainable } from './variables.ts'

/**
 * Overwrites every variable of `target` (a model, or a list of variables) on every rank with `root`'s values.
 * Call it after building the model and before the first step. Every rank must pass the same architecture;
 * a different one is reported as a collective mismatch (the fused lengths differ).
 *
 * @example
 * ```ts
 * const model = buildModel()          // random initial weights, different on every rank
 * await broadcastVariables(model, world)
 * ```
 */
export async function broadcastVariables(target: Trainable, comm: Communicator, root = 0): Promise<void> {
  if (!Number.isInteger(root) || root < 0 || root >= comm.size) {
    throw new UsageError(`broadcastVariables: root must be a rank of the communicator (0..${comm.size - 1}), got ${root}`)
  }
  const vars = allVariables(target)
  const { layout, buffer } = fuse(vars)
  if (comm.rank === root) readInto(layout, buffer, vars)
  await comm.broadcast(buffer, root)
  if (comm.rank !== root) assignFrom(layout, buffer, vars)
}
