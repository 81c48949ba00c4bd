/**
 * Automatic restart (torchrun's --max-restarts, Elastic Horovod's reset): after a failure the launcher starts
 * the whole job again, up to `maxRestarts` times, with TSRUN_RESTART_COUNT telling the ranks which attempt
 * this is (a training script resumes from its last complete checkpoint: `fitDistributed({ resume: true })`).
 * A job the user interrupted, or one that ran past --timeout, is not restarted. When every attempt failed, the
 * last line lists each attempt's root cause.
 */

/** How one attempt ended. */
export interface Outcome {
  /** The supervisor's line naming the root cause of the failure, if one failed. */
  cause?: string
  /** Ended by the user (Ctrl-C, SIGTERM) or by --timeout: do not restart. */
  final?: boolean
}

/**
 * Runs `attempt(n, outcome)` for n = 0, 1, ... until one exits 0, one is final, or `maxRestarts` restarts have
 * failed too. Resolves to the exit code of the last attempt.
 */
export async function withRestarts(
  maxRestarts: number,
  attempt: (n: number, outcome: Outcome) => Promise<number>,
  log: (line: string) => void,
): Promise<number> {
  const causes: string[] = []
  for (let n = 0; ; n++) {
    const outcome: Outcome = {}
    const code = await attempt(n, outcome)
    if (code === 0 || outcome.final || maxRestarts === 0) return code
    causes.push(outcome.cause ?? `exit code ${code}`)
    if (n >= maxRestarts) {
      log(`the job failed ${n + 1} times (--max-restarts ${maxRestarts}); giving up. ${causes.map((c, i) => `Attempt ${i + 1}: ${c}`).join('. ')}`)
      return code
    }
    log(`restarting the job (restart ${n + 1} of ${maxRestarts}, TSRUN_RESTART_COUNT=${n + 1}) after: ${outcome.cause ?? `exit code ${code}`}`)
  }
}
