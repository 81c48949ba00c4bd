// Files in src/ and launcher/ stay small enough to read in one sitting (ARCHITECTURE.md): at most 300 lines.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { expect, test } from 'vitest'
import { ROOT } from '../helpers/run-ranks.ts'

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : /\.(ts|mjs|c)$/.test(name) ? [path] : []
  })
}

test('no file in src/ or launcher/ is over 300 lines', () => {
  const long = [...files(join(ROOT, 'src')), ...files(join(ROOT, 'launcher'))]
    .map((f) => [relative(ROOT, f), readFileSync(f, 'utf8').split('\n').length - 1] as const)
    .filter(([, n]) => n > 300)
  expect(long).toEqual([])
})
