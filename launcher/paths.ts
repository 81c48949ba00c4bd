/**
 * Where the package's files are, whether the launcher runs from the compiled package (dist/launcher) or from a
 * checkout (launcher/, TypeScript through tsx). From a checkout, ranks resolve `import 'tsrun'` to the sources
 * (the `tsrun-dev` export condition) so that a change is live without a build; users get the compiled package.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'tsrun') return dir
    if (dirname(dir) === dir) throw new Error(`tsrun: cannot find its own package.json above ${from}`)
  }
}

/** The package's top folder. */
export const PACKAGE_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)))
/** True in a checkout with the TypeScript sources (not in an installed package). */
export const FROM_SOURCE = existsSync(join(PACKAGE_ROOT, 'src', 'index.ts'))
/** The `tsrun` command itself (re-run by srun inside an allocation). */
export const BIN = join(PACKAGE_ROOT, 'launcher', 'bin.mjs')
/** Loaded into every rank before the script, and the module that runs the script. */
export const RANK_PRELOAD = join(PACKAGE_ROOT, 'launcher', 'rank-preload.mjs')
export const RANK_MAIN = join(PACKAGE_ROOT, 'launcher', 'rank-main.mjs')
/** The package version. */
export const VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version
