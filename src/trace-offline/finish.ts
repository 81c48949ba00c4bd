/** The end of a recorded job: merge the ranks' files, write the timeline, print and write the report. */
import { writeFileSync } from 'node:fs'
import { mergeParts } from './merge.ts'
import { formatReport, jobReport } from './report.ts'

export interface TraceOutputs {
  /** Write the merged Chrome trace here. */
  timeline?: string
  /** Print the report (via `print`). */
  report?: boolean
  /** Write the report as JSON here. */
  reportJson?: string
}

/** Merges `parts` (then removes it) into what `outputs` asks for; nothing if no rank recorded anything. */
export function finishTrace(parts: string, outputs: TraceOutputs, print: (text: string) => void): void {
  const trace = mergeParts(parts, outputs.timeline)
  if (!trace) return
  if (outputs.report || outputs.reportJson) {
    const report = jobReport(trace)
    if (outputs.report) print(formatReport(report))
    if (outputs.reportJson) writeFileSync(outputs.reportJson, JSON.stringify(report, null, 2) + '\n')
  }
  if (outputs.timeline)
    print(
      `tsrun: timeline of ${trace.otherData.tsrun.ranks.length} ${trace.otherData.tsrun.ranks.some((r) => r.member !== undefined) ? 'members' : 'ranks'} written to ${outputs.timeline} (open it in Perfetto or chrome://tracing; tsrun-trace ${outputs.timeline} --svg out.svg draws it)\n`,
    )
}
