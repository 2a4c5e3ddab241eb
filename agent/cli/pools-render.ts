// What `shoal pools` prints: pure functions from the coordinator's PoolsReport to text.
import type { NodeView, PoolsReport, PoolStatus, SlotStatus } from '../../proto/gen/shoal_pb.js'
import { memberName, nameAndShortId } from './fleet-render.js'
import { iso, oneLine, section } from './format.js'
import { renderTable, type Column } from './table.js'

const count = (n: number): string => String(n)

export const POOL_COLUMNS: ReadonlyArray<Column<PoolStatus>> = [
  { header: 'POOL', value: (p) => p.name },
  { header: 'DESIRED', value: (p) => count(p.desired), align: 'right' },
  { header: 'CURRENT', value: (p) => count(p.current), align: 'right' },
  { header: 'HEALTHY', value: (p) => count(p.healthy), align: 'right' },
  { header: 'UNHEALTHY', value: (p) => count(p.unhealthy), align: 'right' },
  { header: 'REPLACING', value: (p) => count(p.replacing), align: 'right' },
  { header: 'BOUNDS', value: (p) => `${p.min}–${p.max}` },
  // An operator's `shoal scale`; '-' while the autoscaler decides.
  { header: 'SCALE', value: (p) => p.scale === undefined ? '-' : String(p.scale), align: 'right' },
  { header: 'QUEUE', value: (p) => p.queueDepth === undefined ? '-' : String(p.queueDepth), align: 'right' },
  { header: 'BREAKER', value: (p) => p.breakerOpen ? 'OPEN' : 'closed' },
  // Last: the one long cell.
  { header: 'AUTOSCALER', value: (p) => oneLine([p.autoscaler || '-', p.autoscalerReason].filter((s) => s !== '').join(': ')) },
]

/** The node on a slot by name where the node list knows it; '-' for none yet. */
function slotColumns (nodes: readonly NodeView[]): ReadonlyArray<Column<SlotStatus>> {
  return [
    { header: 'SLOT', value: (s) => String(s.index), align: 'right' },
    { header: 'GEN', value: (s) => String(s.generation), align: 'right' },
    { header: 'STATE', value: (s) => s.state || '-' },
    { header: 'NODE', value: (s) => s.node === '' ? '-' : memberName(s.node, nodes) },
    { header: 'INSTANCE', value: (s) => s.instanceId || '-' },
    { header: 'PROVIDER', value: (s) => s.provider || '-' },
    { header: 'REPLACEMENT', value: (s) => s.replacementInstanceId || '-' },
    { header: 'ATTEMPTS', value: (s) => String(s.attempts), align: 'right' },
    { header: 'DETAIL', value: (s) => oneLine(s.detail) || '-' },
  ]
}

/** Each pool's notices, its open breaker first (unless a notice already says why). */
function notices (pools: readonly PoolStatus[]): string[] {
  const lines: string[] = []
  for (const p of pools) {
    const breaker = p.breakerReason || 'no reason given'
    if (p.breakerOpen && !p.notices.some((n) => n.includes(breaker))) lines.push(`  ${p.name}: breaker open: ${oneLine(breaker)}`)
    for (const n of p.notices) lines.push(`  ${p.name}: ${oneLine(n)}`)
  }
  return lines.length === 0 ? ['notices: none'] : [`notices (${lines.length}):`, ...lines]
}

/** `nodes` names the coordinator and the slots' nodes; `slots` adds each pool's slot table. */
export function renderPools (report: PoolsReport | undefined, nodes: readonly NodeView[], slots: boolean): string {
  if (report === undefined) return 'no coordinator has reported pools yet\n'
  const from = `pools of coordinator ${nameAndShortId(report.coordinator, nodes)}, term ${report.term}, as of ${iso(report.timeMs)}`
  if (report.pools.length === 0) return `${from}\nthe coordinator manages no pools (its coordinator file declares none)\n`
  const lines = [from, '', renderTable(POOL_COLUMNS, report.pools), '', ...notices(report.pools)]
  if (slots) {
    const columns = slotColumns(nodes)
    for (const p of report.pools) lines.push('', ...section(`slots of ${p.name}`, p.slots, columns))
  }
  return lines.join('\n') + '\n'
}
