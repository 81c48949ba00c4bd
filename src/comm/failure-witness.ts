/** What the failure records (failure/record.ts) learn from the communicators: init.ts wires one in. */

/** A collective as the failure records name it. */
export interface Activity {
  op: string
  comm: string
  seq: number
}

/** What the failure records learn from the communicators. */
export interface FailureWitness {
  /** A collective has started on this rank. */
  running(activity: Activity): void
  /** That collective has ended (the same object). */
  ended(activity: Activity): void
  /** A mismatch this rank found or was told of (recorded once, even if the script catches it). */
  mismatch(err: Error): void
}
