// Pieces of CLI output shared by `shoal health` and the fleet commands: times, one-line text,
// titled tables, and the tables of a verdict's reasons, GPUs, incidents and the boot gate.
import { MemberState, type BootGate, type GpuSummary, type Incident, type Reason } from '../../proto/gen/shoal_pb.js'
import { actionName, stateName } from '../health/action.js'
import { renderTable, type Column } from './table.js'

/** ISO-8601 UTC; '-' for 0 (never set), and no throw on a value Date cannot hold. */
export function iso (ms: number): string {
  if (ms === 0) return '-'
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? `?(${ms})` : d.toISOString()
}

/** A table row is one line: a message with newlines (a kernel log line can have them) would break it. */
export function oneLine (text: string): string {
  return text.replace(/\s*\n\s*/g, ' / ')
}

/** "title: none", or "title (n):" and the table. */
export function section<Row> (title: string, rows: readonly Row[], columns: ReadonlyArray<Column<Row>>): string[] {
  if (rows.length === 0) return [`${title}: none`]
  return [`${title} (${rows.length}):`, renderTable(columns, rows)]
}

export function bootGateLines (g: BootGate | undefined): string[] {
  if (g === undefined) return ['boot gate: not run yet']
  const models = [...new Set(g.models)].join(', ')
  if (g.passed) return [`boot gate: passed at ${iso(g.timeMs)} (${g.gpuCount} GPU${g.gpuCount === 1 ? '' : 's'}${models === '' ? '' : `: ${models}`})`]
  const failures = g.failures.length === 0 ? ['  - (no reason given)'] : g.failures.map((f) => `  - ${f}`)
  return [`boot gate: FAILED at ${iso(g.timeMs)}`, ...failures]
}

export const REASON_COLUMNS: ReadonlyArray<Column<Reason>> = [
  { header: 'RULE', value: (r) => r.rule },
  { header: 'GPU', value: (r) => r.gpuIndex === undefined ? 'node' : String(r.gpuIndex) },
  { header: 'STATE', value: (r) => stateName(r.state) },
  { header: 'ACTION', value: (r) => actionName(r.action) },
  { header: 'SINCE', value: (r) => iso(r.sinceMs) },
  { header: 'MESSAGE', value: (r) => oneLine(r.message) },
]

export const GPU_COLUMNS: ReadonlyArray<Column<GpuSummary>> = [
  { header: 'GPU', value: (g) => String(g.index), align: 'right' },
  { header: 'NAME', value: (g) => g.name || '-' },
  { header: 'STATE', value: (g) => stateName(g.state) },
  { header: 'ACTION', value: (g) => actionName(g.action) },
  { header: 'TEMP', value: (g) => g.temperatureGpuC === undefined ? '-' : `${g.temperatureGpuC} C`, align: 'right' },
  { header: 'POWER', value: (g) => g.powerMw === undefined ? '-' : `${Math.round(g.powerMw / 1000)} W`, align: 'right' },
  { header: 'LOST', value: (g) => g.lost ? 'LOST' : '-' },
]

export const INCIDENT_COLUMNS: ReadonlyArray<Column<Incident>> = [
  { header: 'ID', value: (i) => i.id },
  { header: 'CLASS', value: (i) => i.class || '-' },
  { header: 'ACTION', value: (i) => actionName(i.action) },
  { header: 'OPEN', value: (i) => i.open ? 'open' : 'closed' },
  { header: 'FIRST', value: (i) => iso(i.firstMs) },
  { header: 'LAST', value: (i) => iso(i.lastMs) },
  // event_count counts every member; events holds only the first few.
  { header: 'EVENTS', value: (i) => String(Math.max(i.eventCount, i.events.length)), align: 'right' },
  { header: 'PRIMARY', value: (i) => oneLine(i.primary) || '-' },
]

const MEMBER_STATE_NAMES: Readonly<Record<number, string>> = {
  [MemberState.UNSPECIFIED]: 'unknown',
  [MemberState.ALIVE]: 'alive',
  [MemberState.SUSPECT]: 'suspect',
  [MemberState.DEAD]: 'dead',
  [MemberState.LEFT]: 'left',
}

/** A state from a newer agent shows as itself, never as a milder name. */
export function memberStateName (s: MemberState): string {
  return MEMBER_STATE_NAMES[s] ?? `state(${s})`
}

/**
 * Characters of a peer id the tables show: its end, since every Ed25519 peer id starts with the
 * same "12D3KooW". Any unique end of 6 or more characters names the node in commands.
 */
export const SHORT_ID_CHARS = 8

export function shortId (id: string): string {
  return id.length <= SHORT_ID_CHARS ? id : id.slice(-SHORT_ID_CHARS)
}
