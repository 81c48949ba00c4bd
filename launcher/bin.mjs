#!/usr/bin/env node
// The `tsrun` command. In an installed package it runs the compiled launcher (dist/launcher/cli.js); in a
// checkout, where the TypeScript sources are, it runs them through tsx, so a change needs no build.
import { existsSync } from 'node:fs'

const source = new URL('./cli.ts', import.meta.url)
try {
  if (existsSync(new URL('../src/index.ts', import.meta.url)) && existsSync(source)) {
    const { register } = await import('tsx/esm/api')
    register()
    await import(source.href)
  } else {
    await import(new URL('../dist/launcher/cli.js', import.meta.url).href)
  }
} catch (err) {
  // A bad setting met while the launcher's modules load (a value src/settings.ts rejects, such as
  // TSRUN_SHM_BYTES=abc): one line and exit 2, like a bad flag, instead of a stack trace.
  if (err?.code !== 'TSRUN_USAGE') throw err
  process.stderr.write(`tsrun: ${err.message}\n`)
  process.exit(2)
}
