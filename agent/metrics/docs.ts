// Regenerates the metric tables in docs/metrics.md from gpu-metrics.ts and catalog.ts:
//   node --import tsx agent/metrics/docs.ts --write   (rewrite)
//   node --import tsx agent/metrics/docs.ts           (check: exit 1 when out of date)
import { readFileSync, writeFileSync } from 'node:fs'
import { replaceGenerated } from '../lib/markdown.js'
import { METRICS_DOCS_COMMAND, renderAgentMetricsReference, renderGpuMetricsReference } from './reference.js'

const file = new URL('../../docs/metrics.md', import.meta.url)
const current = readFileSync(file, 'utf8')
let next = replaceGenerated(current, 'gpu-metrics', METRICS_DOCS_COMMAND, renderGpuMetricsReference())
next = replaceGenerated(next, 'agent-metrics', METRICS_DOCS_COMMAND, renderAgentMetricsReference())
if (process.argv.includes('--write')) {
  if (next !== current) writeFileSync(file, next)
  console.log(next === current ? 'docs/metrics.md is current' : 'docs/metrics.md rewritten')
} else if (next !== current) {
  console.error(`docs/metrics.md is out of date: run ${METRICS_DOCS_COMMAND}`)
  process.exitCode = 1
}
