// Regenerates the tables in docs/health-policy.md from the health code:
//   node --import tsx test/tools/health-docs.ts --write   (rewrite)
//   node --import tsx test/tools/health-docs.ts           (check: exit 1 when out of date)
// It lives out of agent/health because it writes files; the renderers it uses are pure.
import { readFileSync, writeFileSync } from 'node:fs'
import { replaceGenerated } from '../../agent/lib/markdown.js'
import { HEALTH_DOCS_COMMAND, renderDefaultPolicyReference, renderSignalReference, renderXidReference } from '../../agent/health/reference.js'

export function renderHealthDocs (current: string): string {
  let next = replaceGenerated(current, 'signals', HEALTH_DOCS_COMMAND, renderSignalReference())
  next = replaceGenerated(next, 'default-policy', HEALTH_DOCS_COMMAND, renderDefaultPolicyReference())
  return replaceGenerated(next, 'xid-table', HEALTH_DOCS_COMMAND, renderXidReference())
}

const file = new URL('../../docs/health-policy.md', import.meta.url)
if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const current = readFileSync(file, 'utf8')
  const next = renderHealthDocs(current)
  if (process.argv.includes('--write')) {
    if (next !== current) writeFileSync(file, next)
    console.log(next === current ? 'docs/health-policy.md is current' : 'docs/health-policy.md rewritten')
  } else if (next !== current) {
    console.error(`docs/health-policy.md is out of date: run ${HEALTH_DOCS_COMMAND}`)
    process.exitCode = 1
  }
}
