/**
 * The launcher ↔ rank protocol: everything the `tsrun` process (launcher/) tells the ranks it starts, in one
 * place. The launcher never imports the rank's code and the rank never imports the launcher's; they agree on
 * these names only.
 *
 * 1. Environment variables. Their one table is src/settings.ts (type, default, meaning; docs/configuration.md
 *    shows it): the ones marked `setBy: 'launcher'` are set by launcher/launch.ts for every rank and read
 *    through `setting()` (most in env.ts; srun sets SLURM_* instead, which env.ts and slurm-env.ts translate, and
 *    a TSRUN_* variable wins over its SLURM_* counterpart). `PROTOCOL_VARIABLES` below is that list, derived
 *    from the table so that the two cannot disagree. The launcher also passes on settings the user gave as flags
 *    (--op-timeout → TSRUN_OP_TIMEOUT, ...: the `flag` column of the table) and with -x.
 *
 * 2. Three globals (below), set by launcher/rank-main.mjs (plain JavaScript that runs the user's script) and
 *    read by init.ts, so that a script whose top level has ended without finalize() still exits.
 */
import { LAUNCHER_SET_NAMES } from '../settings.ts'

/** The environment variables the launcher sets for every rank (TSRUN_RANK, TSRUN_STORE, ...). */
export const PROTOCOL_VARIABLES: readonly string[] = LAUNCHER_SET_NAMES

/** Set (true) before the user's script runs under the launcher's wrapper. */
export const WRAPPED = Symbol.for('tsrun.wrapped')
/** Set (true) when the script's top level has finished. */
export const SCRIPT_RETURNED = Symbol.for('tsrun.scriptReturned')
/** A function init() installs; the wrapper calls it when the script's top level has finished. */
export const ON_SCRIPT_RETURNED = Symbol.for('tsrun.onScriptReturned')
