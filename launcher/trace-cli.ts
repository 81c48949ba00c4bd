/**
 * `tsrun-trace` (also `tsrun trace`): looks at a timeline without a browser.
 *   tsrun-trace trace.json --svg out.svg [--from MS --to MS]   draw the ranks' tracks on one time axis
 *   tsrun-trace trace.json --report [--report-json FILE]        the straggler report and end-of-job summary
 *   tsrun-trace trace.json.parts                                 merge what the ranks of a failed srun job left
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import yargs from 'yargs'
import { UsageError } from '../src/errors.ts'
import { mergeParts, type ChromeTrace } from '../src/trace-offline/merge.ts'
import { formatReport, jobReport } from '../src/trace-offline/report.ts'
import { traceSvg } from '../src/trace-offline/svg.ts'

/** Runs the command on `args` (after the command name); resolves to the exit code. Bad input exits 2. */
export async function traceMain(args: string[]): Promise<number> {
  try {
    return await run(args)
  } catch (err) {
    process.stderr.write(`tsrun-trace: ${err instanceof UsageError ? err.message : ((err as Error).stack ?? err)}\n`)
    return err instanceof UsageError ? 2 : 1
  }
}

async function run(args: string[]): Promise<number> {
  const argv = await yargs(args)
    .scriptName('tsrun-trace')
    .usage('Usage: tsrun-trace <trace.json | trace.json.parts> [options]')
    .option('svg', { type: 'string', description: 'draw the timeline into this SVG file' })
    .option('from', { type: 'number', description: 'with --svg: start of the time axis, ms' })
    .option('to', { type: 'number', description: 'with --svg: end of the time axis, ms' })
    .option('title', { type: 'string', description: 'with --svg: the title line' })
    .option('report', { type: 'boolean', default: false, description: 'print the straggler report and end-of-job summary' })
    .option('report-json', { type: 'string', description: 'write the report as JSON to this file' })
    .demandCommand(1, 'give a trace file (tsrun --timeline FILE) or the .parts directory a failed job left')
    .strictOptions()
    .exitProcess(false)
    .fail((msg, err) => {
      throw new UsageError(err?.message ?? msg)
    })
    .parse()
  const input = String(argv._[0])
  if (!existsSync(input)) throw new UsageError(`${input} not found; give the file written by tsrun --timeline (or TSRUN_TIMELINE)`)
  let trace: ChromeTrace
  if (statSync(input).isDirectory()) {
    const out = input.replace(/\.parts\/?$/, '') === input ? `${input}.json` : input.replace(/\.parts\/?$/, '')
    trace = mergeParts(input, out)!
    const { ranks } = trace.otherData.tsrun
    process.stderr.write(`tsrun-trace: merged ${ranks.length} ${ranks.some((r) => r.member !== undefined) ? "members'" : "ranks'"} files into ${out}\n`)
  } else {
    try {
      trace = JSON.parse(readFileSync(input, 'utf8')) as ChromeTrace
    } catch (err) {
      throw new UsageError(`${input} is not a JSON trace (${(err as Error).message})`)
    }
    if (!Array.isArray(trace.traceEvents) || !trace.otherData?.tsrun)
      throw new UsageError(`${input} is not a tsrun timeline (no traceEvents / otherData.tsrun)`)
  }
  if (argv.svg) {
    writeFileSync(argv.svg, traceSvg(trace, { fromMs: argv.from, toMs: argv.to, title: argv.title }))
    process.stderr.write(`tsrun-trace: wrote ${argv.svg}\n`)
  }
  if (argv.report || argv['report-json'] || !argv.svg) {
    const report = jobReport(trace)
    if (argv.report || !argv.svg) process.stdout.write(formatReport(report))
    if (argv['report-json']) writeFileSync(argv['report-json'], JSON.stringify(report, null, 2) + '\n')
  }
  return 0
}
