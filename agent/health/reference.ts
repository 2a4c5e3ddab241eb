// Tables for docs/health-policy.md, rendered from the code that decides, so the doc cannot drift:
// the signals a rule can read, the default policy's rules, and the XID table with Shoal's actions.
import { actionName, stateName } from './action.js'
import { DEFAULT_POLICY_SOURCE, DEFAULT_POLICY_YAML } from './default-policy.js'
import { compilePolicy } from './policy.js'
import { SIGNALS } from './signals.js'
import { xidCatalog } from './xid.js'
import { formatDuration } from '../lib/duration.js'

export const HEALTH_DOCS_COMMAND = 'node --import tsx test/tools/health-docs.ts --write'

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ')

export function renderSignalReference (): string {
  const rows = SIGNALS.map((s) => `| \`gpu.${s.path}\` | ${s.type} | ${cell(s.doc)} |`)
  return ['| signal | type | meaning |', '|---|---|---|', ...rows].join('\n')
}

export function renderDefaultPolicyReference (): string {
  const p = compilePolicy(DEFAULT_POLICY_YAML, DEFAULT_POLICY_SOURCE)
  const rows = p.rules.map((r) => {
    const hold = r.holdMs === Infinity ? 'forever' : r.holdMs === 0 ? 'while it holds' : formatDuration(r.holdMs)
    return `| \`${r.name}\` | ${r.on} | ${stateName(r.state)} | ${actionName(r.action)} | ${r.forMs === 0 ? '-' : formatDuration(r.forMs)} | ${hold} | ${cell(r.description)} |`
  })
  return ['| rule | on | state | action | for | hold | why |', '|---|---|---|---|---|---|---|', ...rows].join('\n')
}

export function renderXidReference (): string {
  const rows = xidCatalog().map((x) => {
    const flags = [x.app ? 'app-level' : '', x.escalate ? 'replace on repeat' : '', x.decoded ? 'decoded from the line' : '', x.unused ? 'unused' : '']
      .filter((f) => f !== '').join(', ')
    return `| ${x.code} | ${x.name} | ${x.immediate || '-'} | ${actionName(x.action)} | ${x.class} | ${flags} |`
  })
  return ['| XID | name | NVIDIA | Shoal action | class | notes |', '|---|---|---|---|---|---|', ...rows].join('\n')
}
