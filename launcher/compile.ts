/**
 * Transpiles the job's TypeScript once, in the launcher, so that ranks run plain JavaScript: a rank started
 * with a TypeScript loader (tsx) spends about 0.5 CPU-seconds more on its start than one without, and 64 ranks
 * on a 2-core host pay that 64 times (docs/benchmarks.md, `bench/startup.ts`).
 *
 * The script and every TypeScript file of its own it reaches (static imports, and dynamic imports of a literal;
 * tsrun's sources too, from a checkout) become one module, `<out>/<the script's absolute path>.mjs`: Node loads
 * one file instead of a hundred (at np=64, 0.22 CPU-s a rank against 0.33: docs/benchmarks.md). Everything else
 * stays a module of its own, imported by the URL of the file it resolves to (the copy lives elsewhere, so a bare
 * name would not resolve from it): packages, JavaScript files, Node's built-in modules (by name). `import.meta.url`,
 * `import.meta.filename` and `import.meta.dirname` keep each file's own values, so `createRequire`, `new
 * URL('./data', import.meta.url)` and the like behave as with tsx; inline source maps give stack traces with
 * the original files and lines. What this cannot do as tsx does (CommonJS TypeScript, an import that does not
 * resolve, a syntax error) returns undefined, and the ranks run the script through tsx as before, which reports
 * errors in the familiar way.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, extname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Plugin } from 'esbuild'
import { tsrunCacheDir } from '../src/native/native.ts'
import { setting } from '../src/settings.ts'
import { FROM_SOURCE, VERSION } from './paths.ts'

/** Files that need transpiling; anything else is loaded by Node as it is. */
const TYPESCRIPT = new Set(['.ts', '.mts', '.tsx'])
const BUILTINS = new Set(builtinModules)

/** Where the compiled copy of `file` goes. */
function copyOf(out: string, file: string): string {
  return join(out, `${file.slice(0, -extname(file).length)}.mjs`)
}

/** The tsconfig.json files above `file`, which esbuild reads too (a change in one compiles again). */
function tsconfigsOf(file: string): string[] {
  const found: string[] = []
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'tsconfig.json'))) found.push(join(dir, 'tsconfig.json'))
    if (dirname(dir) === dir) return found
  }
}

/** The file's module format by Node's rules: .mts is ESM, .ts/.tsx follow the nearest package.json's "type". */
function isEsm(file: string): boolean {
  if (file.endsWith('.mts')) return true
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    try {
      return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { type?: string }).type === 'module'
    } catch {
      if (dirname(dir) === dir) return false
    }
  }
}

class Unsupported extends Error {}

/**
 * Compiles `script` and the TypeScript it imports into `out`; returns the compiled entry, or undefined when the
 * ranks should load the script through tsx instead (see the file's comment). `conditions` are the export
 * conditions the ranks resolve with.
 */
export async function compileScript(script: string, out: string, conditions: string[] = []): Promise<string | undefined> {
  return (await compileInto(resolve(script), out, conditions))?.entry
}

type Esbuild = typeof import('esbuild')
type Made = { entry: string; inputs: string[] }

async function compileInto(entry: string, out: string, conditions: string[]): Promise<Made | undefined> {
  if (!TYPESCRIPT.has(extname(entry))) return undefined
  const esbuild = await import('esbuild').catch(() => undefined)
  if (!esbuild) return undefined
  // A syntax error, an import that does not resolve, CommonJS TypeScript: tsx loads it and reports as usual.
  return bundleInto(esbuild, entry, out, conditions).catch(() => undefined)
}

/** `import.meta` fields of `file` as literals, so that they keep their values wherever the code ends up. */
function withOwnMeta(text: string, file: string): string {
  return text
    .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(file).href))
    .replaceAll('import.meta.filename', JSON.stringify(file))
    .replaceAll('import.meta.dirname', JSON.stringify(dirname(file)))
}

/**
 * The script and every file of its own (outside node_modules) in one module: Node loads one file instead of a
 * hundred (tsrun's sources, from a checkout). Packages stay separate, imported by their resolved URL. Throws
 * where that would change what the code does (CommonJS TypeScript) or esbuild cannot (then: fileByFile).
 */
async function bundleInto(esbuild: Esbuild, entry: string, out: string, conditions: string[]): Promise<Made> {
  const packages = new Set<string>()
  const own: Plugin = {
    name: 'tsrun-own-files',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind === 'entry-point' || args.pluginData === 'inner') return undefined
        if (args.path.startsWith('node:') || BUILTINS.has(args.path)) return { path: args.path, external: true }
        const found = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'inner' })
        if (found.errors.length > 0 || !found.path) throw new Unsupported(`cannot resolve ${args.path}`)
        if (TYPESCRIPT.has(extname(found.path)) && !found.path.includes('/node_modules/')) return { path: found.path }
        packages.add(found.path) // the copy names this file: if it goes (a package upgraded), compile again
        return { path: pathToFileURL(found.path).href, external: true }
      })
      build.onLoad({ filter: /\.(m?ts|tsx)$/ }, (args) => {
        if (TYPESCRIPT.has(extname(args.path)) && !isEsm(args.path)) throw new Unsupported(`${args.path} is CommonJS TypeScript`)
        const loader = extname(args.path) === '.tsx' ? 'tsx' : 'ts'
        return { contents: withOwnMeta(readFileSync(args.path, 'utf8'), args.path), loader, resolveDir: dirname(args.path) }
      })
    },
  }
  const outfile = copyOf(out, entry)
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    conditions,
    mainFields: ['main'],
    outfile,
    sourcemap: 'inline',
    sourcesContent: false, // Node maps positions from the files themselves; the copy stays small
    plugins: [own],
    logLevel: 'silent',
    metafile: true,
  })
  mkdirSync(dirname(outfile), { recursive: true })
  for (const file of result.outputFiles) writeFileSync(file.path, file.contents)
  const inputs = Object.keys(result.metafile.inputs).map((f) => resolve(f))
  return { entry: outfile, inputs: [...inputs, ...packages, ...tsconfigsOf(entry)] }
}

/** What a cached copy was made from: each input's path, modification time and size. */
type Manifest = [file: string, mtimeMs: number, size: number][]

function stamp(file: string): [string, number, number] {
  const st = statSync(file)
  return [file, st.mtimeMs, st.size]
}

/**
 * `compileScript` through a cache shared by the jobs and ranks of this host (the native helpers' cache directory):
 * a copy is reused while none of the files it was made from has changed (modification time and size), so a
 * job started again, or each task of `srun` on a host, compiles nothing. A new copy goes into a directory of its
 * own and is published by renaming a pointer, so concurrent builders never see each other's half-written files.
 */
export async function compileCached(script: string, conditions: string[] = []): Promise<string | undefined> {
  const entry = resolve(script)
  if (!TYPESCRIPT.has(extname(entry))) return undefined
  const key = createHash('sha256')
    .update(JSON.stringify([entry, conditions, process.version, VERSION]))
    .digest('hex')
    .slice(0, 20)
  const base = join(tsrunCacheDir(), 'scripts', key)
  try {
    const current = join(base, readFileSync(join(base, 'current'), 'utf8'))
    const manifest = JSON.parse(readFileSync(join(current, 'manifest.json'), 'utf8')) as Manifest
    if (
      manifest.every(([file, mtimeMs, size]) => {
        const [, m, n] = stamp(file)
        return m === mtimeMs && n === size
      })
    )
      return copyOf(current, entry)
  } catch {
    // no copy yet, or a file is gone: compile
  }
  const name = `${Date.now()}-${process.pid}-${randomBytes(4).toString('hex')}`
  const out = join(base, name)
  const made = await compileInto(entry, out, conditions)
  if (!made) {
    rmSync(out, { recursive: true, force: true })
    return undefined
  }
  writeFileSync(join(out, 'manifest.json'), JSON.stringify(made.inputs.map(stamp)))
  const pointer = join(base, `current.${name}`)
  writeFileSync(pointer, name)
  renameSync(pointer, join(base, 'current'))
  // Copies replaced more than a day ago go: a job still running from one has long loaded its modules.
  for (const old of readdirSync(base)) {
    if (old === name || old === 'current' || old.startsWith('current.')) continue
    if (Date.now() - statSync(join(base, old)).mtimeMs > 86_400_000) rmSync(join(base, old), { recursive: true, force: true })
  }
  return made.entry
}

/**
 * The variable that points a host's ranks at the compiled script, or none (TSRUN_COMPILE=0, or a script that
 * compile.ts leaves to tsx).
 */
export async function compiledScriptVars(script: string): Promise<{ TSRUN_SCRIPT_MODULE?: string }> {
  if (!setting('TSRUN_COMPILE')) return {}
  // A compile that does not finish (esbuild's service stuck) must not hold the job: the ranks use tsx then.
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      process.stderr.write(`tsrun: compiling ${script} took over ${COMPILE_TIMEOUT_MS / 1000} s; the ranks load it through tsx\n`)
      resolve(undefined)
    }, COMPILE_TIMEOUT_MS)
  })
  const compiled = await Promise.race([compileCached(script, FROM_SOURCE ? ['tsrun-dev'] : []).catch(() => undefined), late])
  clearTimeout(timer)
  return compiled ? { TSRUN_SCRIPT_MODULE: compiled } : {}
}

/** How long the launcher waits for a compile before it gives the script to tsx instead. */
const COMPILE_TIMEOUT_MS = 20_000
