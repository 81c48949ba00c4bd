#!/usr/bin/env node
// The `tsrun` command. In an installed package it runs the compiled launcher (dist/launcher/cli.js); in a
// checkout, where the TypeScript sources are, it runs them through tsx, so a change needs no build.
import { existsSync } from 'node:fs'

const source = new URL('./cli.ts', import.meta.url)
if (existsSync(new URL('../src/index.ts', import.meta.url)) && existsSync(source)) {
  const { register } = await import('tsx/esm/api')
  register()
  await import(source.href)
} else {
  await import(new URL('../dist/launcher/cli.js', import.meta.url).href)
}
