// tsrun as a user gets it: `npm pack`, the tarball installed into a new project outside the repository, and
// the quick start, plain JavaScript, CommonJS, the tsrun/dl custom loop and the type checker run there, with
// the user's own strict compiler settings. The README's examples are these files, word for word.
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { ROOT } from '../helpers/run-ranks.ts'

let project = ''
let packDir = ''

/** Runs a command in the scratch project; never hangs (timeout) and never inherits the repo's TSRUN_*. */
function run(cmd: string, args: string[], timeoutMs = 120_000) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TSRUN_') && !k.startsWith('npm_')))
  const r = spawnSync(cmd, args, { cwd: project, env, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

const strict = {
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  skipLibCheck: true,
  noEmit: true,
  target: 'es2022',
  lib: ['es2023'],
  types: ['node'],
}

beforeAll(() => {
  packDir = mkdtempSync(join(tmpdir(), 'tsrun-pack-'))
  execFileSync('npm', ['pack', '--pack-destination', packDir], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
  const tarball = join(packDir, readdirSync(packDir).find((f) => f.endsWith('.tgz'))!)
  project = mkdtempSync(join(tmpdir(), 'tsrun-user-'))
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }))
  const own = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
  const r = run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      tarball,
      `typescript@${own.devDependencies.typescript}`,
      `@types/node@${own.devDependencies['@types/node']}`,
    ],
    300_000,
  )
  if (r.code !== 0) throw new Error(`npm install of the tarball failed:\n${r.err}`)
  for (const [dir, file] of [
    ['quickstart', 'job.ts'],
    ['quickstart', 'job.mjs'],
    ['quickstart', 'job.cjs'],
    ['custom-loop', 'train.ts'],
  ]) {
    copyFileSync(join(ROOT, 'examples', dir!, file!), join(project, file!))
  }
  for (const [name, moduleResolution, module] of [
    ['nodenext', 'nodenext', 'nodenext'],
    ['bundler', 'bundler', 'esnext'],
  ]) {
    writeFileSync(
      join(project, `tsconfig.${name}.json`),
      JSON.stringify({ compilerOptions: { ...strict, module, moduleResolution }, files: ['job.ts', 'train.ts'] }),
    )
  }
}, 600_000)

afterAll(() => {
  for (const dir of [project, packDir]) if (dir) rmSync(dir, { recursive: true, force: true })
})

test('the tarball carries compiled JavaScript and declarations, not the TypeScript sources', () => {
  const pkg = join(project, 'node_modules', 'tsrun')
  expect(readdirSync(join(pkg, 'dist', 'src'))).toContain('index.js')
  expect(readdirSync(join(pkg, 'dist', 'src'))).toContain('index.d.ts')
  expect(readdirSync(pkg)).not.toContain('src')
  // The native module is compiled on the user's machine from tsrun.c and the headers it includes.
  expect(readdirSync(join(pkg, 'dist', 'src', 'native'))).toEqual(expect.arrayContaining(['tsrun.c', 'half.h', 'shm.h', 'cma.h']))
})

test('npx tsrun -np 2 job.ts (the README quick start)', () => {
  const r = run('npx', ['tsrun', '-np', '2', 'job.ts'])
  expect(r.err).toBe('')
  expect(r.code).toBe(0)
  expect(r.out).toContain('rank 1 got 1,2,3 from rank 0 with tag 7')
  expect(r.out).toContain('rank 0 of 2: average of the ranks is 0.5')
})

test('npx tsrun -np 2 job.mjs, and node job.mjs as a world of one', () => {
  const two = run('npx', ['tsrun', '-np', '2', 'job.mjs'])
  expect(two.code).toBe(0)
  expect(two.out).toContain('rank 1 of 2: sum of the ranks is 1')
  const one = run('node', ['job.mjs'])
  expect(one.err).toBe('')
  expect(one.out.trim()).toBe('rank 0 of 1: sum of the ranks is 0')
})

test('npx tsx job.ts: the quick start runs alone too', () => {
  const r = run('npx', ['tsx', 'job.ts'])
  expect(r.err).toBe('')
  expect(r.out.trim()).toBe('rank 0 of 1: average of the ranks is 0')
})

test('CommonJS: require("tsrun") under the launcher and alone', () => {
  expect(run('node', ['job.cjs']).out.trim()).toBe('rank 0 of 1: 1')
  const two = run('npx', ['tsrun', '-np', '2', 'job.cjs'])
  expect(two.code).toBe(0)
  expect(two.out).toContain('rank 1 of 2: 3')
})

test.each(['nodenext', 'bundler'])(
  'tsc --noEmit in the user project (%s, strict, noUncheckedIndexedAccess, exactOptionalPropertyTypes, skipLibCheck)',
  (name) => {
    const r = run('npx', ['tsc', '-p', `tsconfig.${name}.json`])
    expect(r.out + r.err).toBe('')
    expect(r.code).toBe(0)
  },
)

test('the tsrun/dl custom loop from the README trains on 2 ranks', () => {
  const r = run('npx', ['tsrun', '-np', '2', 'train.ts'], 180_000)
  expect(r.code).toBe(0)
  expect(r.out).toMatch(/epoch 3: loss \d\.\d{4}/)
})

test('the README shows these files word for word', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  for (const file of ['quickstart/job.ts', 'custom-loop/train.ts']) {
    expect(readme, file).toContain(readFileSync(join(ROOT, 'examples', file), 'utf8').trim())
  }
})
