// A user's script that does not compile or cannot be loaded: one line, `file:line:column: message`, as a
// compiler prints it, instead of a stack trace from inside the TypeScript loader on every rank. Used by
// rank-main.mjs (an import that rejects) and rank-preload.mjs (the loader's errors arrive as uncaught exceptions).

/** Errors of compiling or loading modules, as opposed to errors the script's own code throws. */
export function isLoadError(err) {
  if (!err || typeof err !== 'object') return false
  // esbuild (through tsx) compiling TypeScript; its `errors` array is lost on the way from the loader thread.
  if (err.name === 'TransformError' || (Array.isArray(err.errors) && err.errors[0]?.location)) return true
  if (err instanceof SyntaxError && /^\s+at .*(compileSourceTextModule|ModuleLoader|ModuleJob)/m.test(String(err.stack))) return true
  return ['MODULE_NOT_FOUND', 'ERR_MODULE_NOT_FOUND', 'ERR_UNKNOWN_FILE_EXTENSION', 'ERR_UNSUPPORTED_DIR_IMPORT', 'ERR_PACKAGE_PATH_NOT_EXPORTED'].includes(
    err.code,
  )
}

/** `file:line:column: message` where the error knows the place, else its message. */
export function describeLoadError(err) {
  const first = Array.isArray(err.errors) ? err.errors[0] : undefined
  if (!first?.location && err.name !== 'TransformError') return String(err.message).split('\n')[0]
  if (!first?.location) {
    // "Transform failed with 2 errors:\n/x/job.ts:3:18: ERROR: Unexpected \";\"\n...": the first, and a count.
    const lines = String(err.message)
      .split('\n')
      .filter((l) => / ERROR: /.test(l))
    if (lines.length === 0) return String(err.message).split('\n')[0]
    const more = lines.length > 1 ? ` (and ${lines.length - 1} more)` : ''
    return `${lines[0].replace(' ERROR: ', ' ')}${more}`
  }
  const { file, line, column } = first.location
  const more = err.errors.length > 1 ? ` (and ${err.errors.length - 1} more)` : ''
  return `${file}:${line}:${column + 1}: ${first.text}${more}`
}

/**
 * Prints the one line and exits 1. Every rank fails the same way, so rank 0 speaks at once and the others wait
 * a moment: the job is over before they would repeat it, and a rank that alone fails to load still says why.
 */
export async function reportLoadError(err) {
  const rank = Number(process.env.TSRUN_RANK ?? process.env.SLURM_PROCID ?? 0)
  if (rank !== 0) await new Promise((r) => setTimeout(r, 1500))
  process.stderr.write(`tsrun: rank ${rank}: cannot run ${process.argv[1]}: ${describeLoadError(err)}\n`)
  process.exit(1)
}
