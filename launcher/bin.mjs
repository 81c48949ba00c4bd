#!/usr/bin/env node
// The `tsrun` bin: load TypeScript support, then the CLI (launcher/cli.ts).
import { register } from 'tsx/esm/api'

register()
await import('./cli.ts')
