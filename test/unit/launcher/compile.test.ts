// The launcher's one-time compile of a job's TypeScript (launcher/compile.ts): real esbuild, real files, and the
// compiled copy run by plain Node (no TypeScript loader), compared with what the script does under tsx.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, test } from 'vitest'
import { compileCached, compileScript } from '../../../launcher/compile.ts'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsrun-compile-test-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

function project(files: Record<string, string>, type: 'module' | 'commonjs' = 'module'): string {
  const root = join(dir, 'project')
  mkdirSync(join(root, 'lib'), { recursive: true })
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'p', type }))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, name), text)
  return root
}

const node = (file: string) => execFileSync(process.execPath, [file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
const withTsx = (file: string) => execFileSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', cwd: process.cwd() })

test('a script and the TypeScript it imports run as JavaScript, as they do under tsx', async () => {
  const root = project({
    'main.ts': [
      "import { basename } from 'node:path'",
      "import { createRequire } from 'node:module'",
      "import { twice, type Pair } from './lib/util.ts'",
      'const pair: Pair = [1, 2]',
      'const { later } = await import("./lib/later.ts")',
      // import.meta keeps the original file: a require made from it finds this project's files.
      "const pkg = createRequire(import.meta.url)('./package.json') as { name: string }",
      'console.log(JSON.stringify({ sum: twice(pair[0]) + later(), pkg: pkg.name, file: basename(import.meta.filename), dir: basename(import.meta.dirname), url: import.meta.url.endsWith("/main.ts") }))',
    ].join('\n'),
    'lib/util.ts': 'export type Pair = [number, number]\nexport function twice(x: number): number { return 2 * x }\n',
    'lib/later.ts': 'export const later = (): number => 40\n',
  })
  const out = join(dir, 'out')
  const compiled = await compileScript(join(root, 'main.ts'), out)
  expect(compiled).toBe(join(out, root, 'main.mjs'))
  const expected = { sum: 42, pkg: 'p', file: 'main.ts', dir: 'project', url: true }
  expect(JSON.parse(node(compiled!))).toEqual(expected)
  expect(JSON.parse(withTsx(join(root, 'main.ts')))).toEqual(expected)
})

test('a stack trace from the compiled copy names the TypeScript file and line (source maps)', async () => {
  const root = project({ 'main.ts': 'type T = { a: number }\nconst t: T = { a: 1 }\n\nthrow new Error("boom " + String(t.a))\n' })
  const compiled = await compileScript(join(root, 'main.ts'), join(dir, 'out'))
  let stderr = ''
  try {
    execFileSync(process.execPath, ['--enable-source-maps', compiled!], { stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    stderr = String((err as { stderr: Buffer }).stderr)
  }
  expect(stderr).toContain('boom 1')
  expect(stderr).toContain(`${join(root, 'main.ts')}:4`)
})

test('packages are imported from where they are installed, not from the copy', async () => {
  const root = project({ 'main.ts': "import { answer } from 'fortytwo'\nconst n: number = answer()\nconsole.log(n)\n" })
  const pkg = join(root, 'node_modules', 'fortytwo')
  mkdirSync(pkg, { recursive: true })
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'fortytwo', type: 'module', exports: { '.': { import: './esm.js', require: './cjs.cjs' } } }))
  writeFileSync(join(pkg, 'esm.js'), 'export const answer = () => 42\n')
  writeFileSync(join(pkg, 'cjs.cjs'), 'exports.answer = () => -1\n')
  const compiled = await compileScript(join(root, 'main.ts'), join(dir, 'out'))
  expect(node(compiled!).trim()).toBe('42') // the copy has no node_modules beside it; the "import" condition holds
})

test('what only tsx can load is left to tsx: CommonJS TypeScript, a syntax error, an import that does not resolve, plain JavaScript', async () => {
  const cjs = project({ 'main.ts': 'const x: number = 1\nconsole.log(x)\n' }, 'commonjs')
  expect(await compileScript(join(cjs, 'main.ts'), join(dir, 'out1'))).toBeUndefined()
  const root = project({
    'bad.ts': 'const x: number = \n',
    'missing.ts': "import { nothing } from './lib/nowhere.ts'\nconsole.log(nothing)\n",
    'plain.mjs': 'console.log(1)\n',
  })
  expect(await compileScript(join(root, 'bad.ts'), join(dir, 'out2'))).toBeUndefined()
  expect(await compileScript(join(root, 'missing.ts'), join(dir, 'out3'))).toBeUndefined()
  expect(await compileScript(join(root, 'plain.mjs'), join(dir, 'out4'))).toBeUndefined()
})

test('the cache gives the same copy while nothing changed, and a new one when an imported file changes', async () => {
  process.env.TSRUN_CACHE_DIR = join(dir, 'cache')
  try {
    const root = project({ 'main.ts': "import { n } from './lib/n.ts'\nconsole.log(n)\n", 'lib/n.ts': 'export const n: number = 1\n' })
    const first = await compileCached(join(root, 'main.ts'))
    expect(first?.startsWith(join(dir, 'cache'))).toBe(true)
    expect(await compileCached(join(root, 'main.ts'))).toBe(first)
    writeFileSync(join(root, 'lib', 'n.ts'), 'export const n: number = 22\n')
    utimesSync(join(root, 'lib', 'n.ts'), new Date(), new Date(Date.now() + 5000)) // a new time even on a coarse clock
    const second = await compileCached(join(root, 'main.ts'))
    expect(second).not.toBe(first)
    expect(node(second!).trim()).toBe('22')
    expect(node(first!).trim()).toBe('1') // the old copy stays whole for a job that still runs it
  } finally {
    delete process.env.TSRUN_CACHE_DIR
  }
})

test('JavaScript files of the project stay modules of their own (CommonJS keeps its require); top-level await in a dynamic import', async () => {
  const root = project({
    'main.ts': "import helper from './lib/helper.cjs'\nconst { x } = await import('./lib/tla.ts')\nconsole.log(helper.base('/a/b.txt'), x)\n",
    'lib/helper.cjs': "const { basename } = require('node:path')\nexports.base = (p) => basename(p)\n",
    'lib/tla.ts': 'export const x: number = await Promise.resolve(5)\n',
  })
  const compiled = await compileScript(join(root, 'main.ts'), join(dir, 'out'))
  expect(compiled).toBeDefined()
  expect(node(compiled!).trim()).toBe('b.txt 5')
})
