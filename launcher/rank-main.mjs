// The main module of every rank the launcher starts: runs the user's script (argv[2]) as if Node had run it
// directly (argv[1] is the script again), and tells tsrun when the script's top level has finished. A script
// that never called finalize() then still exits once it has nothing left to do (src/init.ts finalizeWhenIdle),
// instead of being kept alive by ZeroMQ's sockets. The three globals are described in src/bootstrap/protocol.ts.
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { isLoadError, reportLoadError } from './load-error.mjs'

globalThis[Symbol.for('tsrun.wrapped')] = true
const script = resolve(process.argv[2])
process.argv.splice(1, 2, script)
// The launcher may have compiled the script to JavaScript (launcher/compile.ts): run that copy, with source maps
// so that stack traces name the script's own lines; argv[1] stays the script. A rank on another host that does
// not see the copy (no shared file system) loads the script through tsx instead.
let compiled = process.env.TSRUN_SCRIPT_MODULE
delete process.env.TSRUN_SCRIPT_MODULE
if (compiled && !existsSync(compiled)) {
  compiled = undefined
  ;(await import('tsx/esm/api')).register()
}
if (compiled) process.setSourceMapsEnabled(true)
try {
  await import(pathToFileURL(compiled ?? script).href)
} catch (err) {
  if (!isLoadError(err)) throw err
  await reportLoadError(err)
}
globalThis[Symbol.for('tsrun.scriptReturned')] = true
globalThis[Symbol.for('tsrun.onScriptReturned')]?.()
