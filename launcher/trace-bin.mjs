#!/usr/bin/env node
// The `tsrun-trace` command: the compiled one in an installed package, the TypeScript source in a checkout.
import { existsSync } from 'node:fs'

const source = new URL('./trace-cli.ts', import.meta.url)
if (existsSync(new URL('../src/index.ts', import.meta.url)) && existsSync(source)) {
  const { register } = await import('tsx/esm/api')
  register()
  process.exitCode = await (await import(source.href)).traceMain(process.argv.slice(2))
} else {
  process.exitCode = await (await import(new URL('../dist/launcher/trace-cli.js', import.meta.url).href)).traceMain(process.argv.slice(2))
}
