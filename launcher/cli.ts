/** The `tsrun` command: parse the arguments, run the job, exit with its code. Bad input exits 2. */
import { UsageError } from '../src/errors.ts'
import { launch } from './launch.ts'
import { parseArgs } from './options.ts'
import { VERSION as version } from './paths.ts'

async function main(): Promise<number> {
  // `tsrun trace FILE ...`: the timeline viewer (also the `tsrun-trace` command).
  if (process.argv[2] === 'trace') return (await import('./trace-cli.ts')).traceMain(process.argv.slice(3))
  try {
    const parsed = await parseArgs(process.argv.slice(2), process.cwd(), version)
    if (parsed.kind !== 'run') {
      process.stdout.write(parsed.text + '\n')
      return 0
    }
    return await launch(parsed.options)
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`tsrun: ${err.message}\n`)
      return 2
    }
    process.stderr.write(`tsrun: internal error: ${(err as Error).stack ?? err}\n`)
    return 1
  }
}

process.exitCode = await main()
// Writes to a pipe are asynchronous in Node: let the ranks' last lines reach a slow reader before exiting.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise((resolve) => s.write('', resolve))))
// Nothing of ours is left running; exit even if a stray handle (stdin) would keep the loop alive.
process.exit()
