// Regenerates the reference table in docs/config.md from schema.ts:
//   node --import tsx agent/config/docs.ts --write   (rewrite)
//   node --import tsx agent/config/docs.ts           (check: exit 1 when out of date)
import { readFileSync, writeFileSync } from 'node:fs'
import { replaceGenerated } from '../lib/markdown.js'
import { CONFIG_DOCS_COMMAND, renderConfigReference } from './reference.js'

const file = new URL('../../docs/config.md', import.meta.url)
const current = readFileSync(file, 'utf8')
const next = replaceGenerated(current, 'config-reference', CONFIG_DOCS_COMMAND, renderConfigReference())
if (process.argv.includes('--write')) {
  if (next !== current) writeFileSync(file, next)
  console.log(next === current ? 'docs/config.md is current' : 'docs/config.md rewritten')
} else if (next !== current) {
  console.error(`docs/config.md is out of date: run ${CONFIG_DOCS_COMMAND}`)
  process.exitCode = 1
}
