// What the fleet commands print: pure functions from the admin socket's answers to text.
import {
  type CoordinatorStatus,
  type FleetEvent,
  type FleetStatus,
  type NodeView,
} from '../../proto/gen/shoal_pb.js'
import { actionName, stateName } from '../health/action.js'
import { bootGateLines, GPU_COLUMNS, INCIDENT_COLUMNS, iso, memberStateName, oneLine, REASON_COLUMNS, section, shortId } from './format.js'
import { renderTable, type Column } from './table.js'

function nameOf (n: NodeView): string {
  return n.meta?.name ?? ''
}

/** "gpu-a (12D3KooW...)": a node in a sentence, with its whole id (what disambiguates). */
export function nodeLabel (n: NodeView): string {
  const name = nameOf(n)
  return name === '' ? n.id : `${name} (${n.id})`
}

function flags (n: NodeView): string[] {
  const h = n.health
  if (h === undefined) return []
  return [h.cordoned ? 'cordoned' : '', h.draining && !h.drained ? 'draining' : '', h.drained ? 'drained' : ''].filter((f) => f !== '')
}

function roles (n: NodeView): string[] {
  return [n.self ? 'self' : '', n.coordinator ? 'coordinator' : '', n.council ? 'council' : ''].filter((r) => r !== '')
}

export const NODE_COLUMNS: ReadonlyArray<Column<NodeView>> = [
  { header: 'NAME', value: (n) => nameOf(n) || '-' },
  { header: 'ID', value: (n) => shortId(n.id) },
  { header: 'STATE', value: (n) => memberStateName(n.state) },
  { header: 'HEALTH', value: (n) => n.health === undefined ? '-' : stateName(n.health.verdict?.state ?? 0) },
  { header: 'ACTION', value: (n) => n.health === undefined ? '-' : actionName(n.health.verdict?.action ?? 0) },
  { header: 'FLAGS', value: (n) => flags(n).join(',') || '-' },
  { header: 'POOL', value: (n) => n.meta?.pool || '-' },
  { header: 'ROLE', value: (n) => roles(n).join(',') || '-' },
  { header: 'CHANGED', value: (n) => iso(n.memberChangedMs) },
]

export function renderNodes (nodes: readonly NodeView[]): string {
  return nodes.length === 0 ? 'no nodes\n' : renderTable(NODE_COLUMNS, nodes) + '\n'
}

/** A node by name where the node list knows it, else by short id. */
export function memberName (id: string, nodes: readonly NodeView[]): string {
  const n = nodes.find((v) => v.id === id)
  return n !== undefined && nameOf(n) !== '' ? nameOf(n) : shortId(id)
}

/** "gpu-b (E5f6g7h8)" where the node list names the node, else the short id alone. */
export function nameAndShortId (id: string, nodes: readonly NodeView[]): string {
  const name = memberName(id, nodes)
  return name === shortId(id) ? name : `${name} (${shortId(id)})`
}

function coordinatorLine (c: CoordinatorStatus | undefined, nodes: readonly NodeView[]): string {
  if (c === undefined || c.coordinator === '') return `coordinator: none known (term ${c?.term ?? 0})`
  const name = c.coordinatorName || memberName(c.coordinator, nodes)
  return `coordinator: ${name} (${shortId(c.coordinator)}), term ${c.term}`
}

function councilLine (c: CoordinatorStatus | undefined, nodes: readonly NodeView[]): string {
  const members = c?.council?.members ?? []
  if (members.length === 0) return 'council: none known'
  return `council (epoch ${c?.council?.epoch ?? 0}): ${members.map((m) => memberName(m, nodes)).join(', ')}`
}

export function renderStatus (s: FleetStatus): string {
  const self = s.name === '' ? shortId(s.node) : `${s.name} (${shortId(s.node)})`
  const lines = [
    `fleet ${s.fleet || '?'}: ${s.nodes.length} node${s.nodes.length === 1 ? '' : 's'}, as seen from ${self}`,
    coordinatorLine(s.coordinator, s.nodes),
    councilLine(s.coordinator, s.nodes),
    `members: ${s.alive} alive, ${s.suspect} suspect, ${s.dead} dead, ${s.left} left; ${s.connectedPeers} peer${s.connectedPeers === 1 ? '' : 's'} connected`,
    `health: ${s.healthy} healthy, ${s.degraded} degraded, ${s.unhealthy} unhealthy, ${s.unknown} unknown; ${s.cordoned} cordoned`,
    '',
  ]
  return lines.join('\n') + '\n' + renderNodes(s.nodes)
}

export function renderNode (n: NodeView): string {
  const h = n.health
  const v = h?.verdict
  const lines = [
    `node ${nodeLabel(n)}`,
    `role: ${roles(n).join(', ') || 'member'}`,
    `member: ${memberStateName(n.state)}, incarnation ${n.incarnation}, changed ${iso(n.memberChangedMs)}`,
    `addresses: ${n.addrs.length === 0 ? 'none known' : n.addrs.join(', ')}`,
    ...metaLines(n),
    h === undefined
      ? 'health: nothing heard yet'
      : `health: ${stateName(v?.state ?? 0).toUpperCase()} (action: ${actionName(v?.action ?? 0)}) as of ${iso(h.timeMs)}, update ${h.incarnation}.${h.seq}`,
    `flags: ${flags(n).join(', ') || 'none'}`,
  ]
  if (h !== undefined) {
    lines.push(
      ...bootGateLines(h.bootGate),
      '',
      ...section('reasons', v?.reasons ?? [], REASON_COLUMNS),
      '',
      ...section('open incidents', h.incidents, INCIDENT_COLUMNS),
      '',
      ...section('GPUs', h.gpus, GPU_COLUMNS),
    )
  }
  return lines.join('\n') + '\n'
}

function metaLines (n: NodeView): string[] {
  const m = n.meta
  if (m === undefined) return ['meta: none known']
  const where = [
    ['pool', m.pool], ['provider', m.provider], ['region', m.region], ['zone', m.zone], ['rack', m.rack],
    ['instance', m.instanceId === '' ? '' : `${m.instanceId}${m.instanceType === '' ? '' : ` (${m.instanceType})`}`],
    ['agent', m.agentVersion],
  ].filter(([, value]) => value !== '').map(([key, value]) => `${key} ${value}`)
  where.push(m.coordinatorEligible ? 'coordinator-eligible' : 'not coordinator-eligible')
  const labels = Object.entries(m.labels).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([k, val]) => `${k}=${val}`)
  const expects = [
    m.expectedGpus === undefined ? '' : `${m.expectedGpus} GPU${m.expectedGpus === 1 ? '' : 's'}`,
    m.expectedModel === '' ? '' : `model ${m.expectedModel}`,
  ].filter((e) => e !== '')
  return [
    `meta: ${where.join(', ')}`,
    `labels: ${labels.length === 0 ? 'none' : labels.join(', ')}`,
    ...(expects.length === 0 ? [] : [`expects: ${expects.join(', ')}`]),
  ]
}

const EVENT_COLUMNS: ReadonlyArray<Column<FleetEvent>> = [
  { header: 'TIME', value: (e) => iso(e.timeMs) },
  { header: 'NODE', value: (e) => e.name || shortId(e.node) || '-' },
  { header: 'KIND', value: (e) => e.kind || '-' },
  { header: 'DETAIL', value: (e) => oneLine(e.detail) || '-' },
]

export function renderEvents (events: readonly FleetEvent[], sinceMs: number): string {
  if (events.length === 0) return sinceMs > 0 ? `no events since ${iso(sinceMs)}\n` : 'no events\n'
  return renderTable(EVENT_COLUMNS, events) + '\n'
}

export function renderCoordinator (c: CoordinatorStatus, nodes: readonly NodeView[]): string {
  const lines = [`term ${c.term}`]
  if (c.coordinator === '') {
    lines.push('coordinator: none known')
  } else {
    const name = c.coordinatorName || memberName(c.coordinator, nodes)
    lines.push(`coordinator: ${name === shortId(c.coordinator) ? c.coordinator : `${name} (${c.coordinator})`}, known since ${iso(c.sinceMs)}`)
  }
  lines.push(councilLine(c, nodes))
  const role = c.role || 'unknown'
  if (role === 'coordinator') {
    lines.push(c.acting
      ? `this agent: coordinator, acting, lease until ${iso(c.leaseUntilMs)}`
      : 'this agent: coordinator, NOT acting (no lease from a council majority)')
  } else {
    lines.push(`this agent: ${role}`)
  }
  return lines.join('\n') + '\n'
}
