/**
 * Transpiles the job's TypeScript once, in the launcher, so that ranks run plain JavaScript: a rank started
 * with a TypeScript loader (tsx) spends about 0.6 CPU-seconds in the loader's own start before the script's
 * first line, and 64 ranks on a 2-core host pay that 64 times (docs/benchmarks.md, `bench/startup.ts`).
 *
 * Every TypeScript file the script reaches (through static imports and dynamic imports of a literal) is
 * compiled on its own, not bundled, into `<out>/<its absolute path>.mjs`, with its imports rewritten: to the
 * compiled copy for TypeScript, to the resolved file's URL for JavaScript packages (the copy lives elsewhere,
 * so a bare name would not resolve from it), unchanged for Node's built-in modules. `import.meta.url`,
 * `import.meta.filename` and `import.meta.dirname` keep the original file's values, so `createRequire`, `new
 * URL('./data', import.meta.url)` and the like behave as with tsx; inline source maps give stack traces with
 * the original lines. What this cannot do as tsx does (CommonJS TypeScript, an import that does not resolve,
 * a syntax error) returns undefined, and the ranks run the script through tsx as before, which reports errors
 * in the familiar way.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, extname, join, relative, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Plugin } from 'esbuild'
import { tsrunCacheDir } from '../src/native/native.ts'
import { setting } from '../src/settings.ts'
import { FROM_SOURCE, VERSION } from './paths.ts'

/** Files that need transpiling; anything else is loaded by Node as it is. */
const TYPESCRIPT = new Set(['.ts', '.mts', '.tsx'])
const BUILTINS = new Set(builtinModules)
/** Placeholders for `import.meta` fields, replaced by each file's own values after the build. */
const META = { url: '__tsrun_meta_url__', filename: '__tsrun_meta_filename__', dirname: '__tsrun_meta_dirname__' }

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

async function compileInto(entry: string, out: string, conditions: string[]): Promise<{ entry: string; inputs: string[] } | undefined> {
  if (!TYPESCRIPT.has(extname(entry))) return undefined
  const esbuild = await import('esbuild').catch(() => undefined)
  if (!esbuild) return undefined
  const seen = new Set([entry])
  const packages = new Set<string>()
  let batch = [entry]
  const rewrite: Plugin = {
    name: 'tsrun-rewrite-imports',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind === 'entry-point' || args.pluginData === 'inner') return undefined
        if (args.path.startsWith('node:') || BUILTINS.has(args.path)) return { path: args.path, external: true }
        const found = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'inner' })
        if (found.errors.length > 0 || !found.path) throw new Unsupported(`cannot resolve ${args.path}`)
        if (!TYPESCRIPT.has(extname(found.path))) {
          packages.add(found.path) // the copy names this file: if it goes (a package upgraded), compile again
          return { path: pathToFileURL(found.path).href, external: true }
        }
        if (!seen.has(found.path)) {
          seen.add(found.path)
          batch.push(found.path)
        }
        let spec = relative(dirname(copyOf(out, args.importer)), copyOf(out, found.path))
        if (!spec.startsWith('.')) spec = `./${spec}`
        return { path: spec, external: true }
      })
    },
  }
  try {
    while (batch.length > 0) {
      const files = batch
      batch = []
      for (const f of files) if (!isEsm(f)) return undefined
      const result = await esbuild.build({
        entryPoints: files,
        bundle: true, // so that the plugin sees every import; each one is external, so nothing is inlined
        write: false,
        format: 'esm',
        platform: 'node',
        target: `node${process.versions.node.split('.')[0]}`,
        conditions,
        mainFields: ['main'],
        outbase: '/',
        outdir: out,
        outExtension: { '.js': '.mjs' },
        sourcemap: 'inline',
        define: { 'import.meta.url': META.url, 'import.meta.filename': META.filename, 'import.meta.dirname': META.dirname },
        plugins: [rewrite],
        logLevel: 'silent',
        metafile: true,
      })
      for (const file of result.outputFiles) {
        const source = result.metafile.outputs[relative(process.cwd(), file.path)]?.entryPoint
        if (!source) return undefined
        const original = resolve(source)
        const text = file.text
          .replaceAll(META.url, JSON.stringify(pathToFileURL(original).href))
          .replaceAll(META.filename, JSON.stringify(original))
          .replaceAll(META.dirname, JSON.stringify(dirname(original)))
        mkdirSync(dirname(file.path), { recursive: true })
        writeFileSync(file.path, text)
      }
    }
  } catch {
    return undefined // a syntax error, an import that does not resolve, …: tsx loads it and reports it as usual
  }
  return { entry: copyOf(out, entry), inputs: [...seen, ...packages, ...tsconfigsOf(entry)] }
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
  const compiled = await compileCached(script, FROM_SOURCE ? ['tsrun-dev'] : []).catch(() => undefined)
  return compiled ? { TSRUN_SCRIPT_MODULE: compiled } : {}
}
