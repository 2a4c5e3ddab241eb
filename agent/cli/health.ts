// `shoal health`: this node's verdict, policy, boot gate, GPUs and recent incidents, as the local
// agent sees them, asked over its admin socket.
import { create, toJson } from '@bufbuild/protobuf'
import {
  AdminRequestSchema,
  HealthAction,
  HealthReportSchema,
  HealthRequestSchema,
  HealthState,
  type GpuSummary,
  type HealthReport,
  type Incident,
  type Reason,
} from '../../proto/gen/shoal_pb.js'
import { adminRequest, AdminClientError } from '../admin/client.js'
import { ADMIN_PROTOCOL_VERSION } from '../admin/protocol.js'
import { actionName, stateName } from '../health/action.js'
import type { Output } from './gpus.js'
import { renderTable, type Column } from './table.js'

export interface HealthOptions {
  socketPath: string
  /** --incidents as typed; undefined asks for the agent's default (10). */
  incidents: string | undefined
  json: boolean
  timeoutMs?: number
}

/** Scripts branch on these; docs/cli.md lists them. */
export const HEALTH_EXIT = {
  healthy: 0,
  unreachable: 1, // no agent, or it answered an error
  usage: 2,
  degraded: 10,
  unhealthy: 11,
  unknown: 12,
} as const

/** The agent answers from memory; five seconds without an answer means it is wedged, not slow. */
export const HEALTH_TIMEOUT_MS = 5_000

/** More incidents than anyone reads in a terminal; the agent's journal bounds them anyway. */
const MAX_INCIDENTS = 1000

export async function healthCommand (options: HealthOptions, io: Output): Promise<number> {
  const incidents = parseIncidents(options.incidents)
  if (incidents === undefined) {
    io.err(`shoal health: --incidents takes a whole number from 0 to ${MAX_INCIDENTS}, not "${options.incidents ?? ''}"\n`)
    return HEALTH_EXIT.usage
  }
  const request = create(AdminRequestSchema, {
    version: ADMIN_PROTOCOL_VERSION,
    request: { case: 'health', value: create(HealthRequestSchema, { incidents }) },
  })
  let response
  try {
    response = await adminRequest(options.socketPath, request, { timeoutMs: options.timeoutMs ?? HEALTH_TIMEOUT_MS })
  } catch (err) {
    if (!(err instanceof AdminClientError)) throw err
    io.err(`shoal: ${err.message}\n`)
    return HEALTH_EXIT.unreachable
  }
  const answer = response.response
  if (answer.case === 'error') {
    io.err(`shoal: the agent on ${options.socketPath} answered ${answer.value.code}: ${answer.value.message}\n`)
    return HEALTH_EXIT.unreachable
  }
  if (answer.case !== 'health') {
    io.err(`shoal: the agent on ${options.socketPath} answered without a health report\n`)
    return HEALTH_EXIT.unreachable
  }
  const report = answer.value
  io.out(options.json ? JSON.stringify(toJson(HealthReportSchema, report), null, 2) + '\n' : renderReport(report))
  return exitCode(report.verdict?.state ?? HealthState.UNKNOWN)
}

function parseIncidents (text: string | undefined): number | undefined {
  if (text === undefined) return 0
  if (!/^\d{1,4}$/.test(text)) return undefined
  const n = Number(text)
  return n <= MAX_INCIDENTS ? n : undefined
}

function exitCode (state: HealthState): number {
  switch (state) {
    case HealthState.HEALTHY: return HEALTH_EXIT.healthy
    case HealthState.DEGRADED: return HEALTH_EXIT.degraded
    case HealthState.UNHEALTHY: return HEALTH_EXIT.unhealthy
    default: return HEALTH_EXIT.unknown // UNKNOWN, or a state newer than this CLI
  }
}

export function renderReport (report: HealthReport): string {
  const verdict = report.verdict
  const lines = [
    `node ${report.node || '?'}: ${stateName(verdict?.state ?? HealthState.UNKNOWN).toUpperCase()} (action: ${actionName(verdict?.action ?? HealthAction.NONE)})`,
    `as of ${iso(report.timeMs)}, journal seq ${report.journalSeq}`,
    ...policyLines(report),
    ...bootGateLines(report),
    '',
    ...section('reasons', verdict?.reasons ?? [], REASON_COLUMNS),
    '',
    ...section('GPUs', report.gpus, GPU_COLUMNS),
    '',
    ...section('incidents, most recent first', report.incidents, INCIDENT_COLUMNS),
  ]
  return lines.join('\n') + '\n'
}

function policyLines (report: HealthReport): string[] {
  const p = report.policy
  if (p === undefined) return ['policy: none reported']
  const lines = [`policy: ${p.name || '?'} (digest ${p.digest || '?'}, source ${p.source || '?'}, ${p.rules} rules, loaded ${iso(p.loadedMs)})`]
  if (p.lastError !== '') {
    // Loud on purpose: an operator who just edited the policy believes it is in force.
    lines.push(
      `WARNING: the last policy reload FAILED at ${iso(p.lastErrorMs)}: ${p.lastError}`,
      `WARNING: the previous policy (${p.name || '?'}, digest ${p.digest || '?'}) is still in force`,
    )
  }
  return lines
}

function bootGateLines (report: HealthReport): string[] {
  const g = report.bootGate
  if (g === undefined) return ['boot gate: not run yet']
  const models = [...new Set(g.models)].join(', ')
  if (g.passed) return [`boot gate: passed at ${iso(g.timeMs)} (${g.gpuCount} GPU${g.gpuCount === 1 ? '' : 's'}${models === '' ? '' : `: ${models}`})`]
  const failures = g.failures.length === 0 ? ['  - (no reason given)'] : g.failures.map((f) => `  - ${f}`)
  return [`boot gate: FAILED at ${iso(g.timeMs)}`, ...failures]
}

function section<Row> (title: string, rows: readonly Row[], columns: ReadonlyArray<Column<Row>>): string[] {
  if (rows.length === 0) return [`${title}: none`]
  return [`${title} (${rows.length}):`, renderTable(columns, rows)]
}

const REASON_COLUMNS: ReadonlyArray<Column<Reason>> = [
  { header: 'RULE', value: (r) => r.rule },
  { header: 'GPU', value: (r) => r.gpuIndex === undefined ? 'node' : String(r.gpuIndex) },
  { header: 'STATE', value: (r) => stateName(r.state) },
  { header: 'ACTION', value: (r) => actionName(r.action) },
  { header: 'SINCE', value: (r) => iso(r.sinceMs) },
  { header: 'MESSAGE', value: (r) => oneLine(r.message) },
]

const GPU_COLUMNS: ReadonlyArray<Column<GpuSummary>> = [
  { header: 'GPU', value: (g) => String(g.index), align: 'right' },
  { header: 'NAME', value: (g) => g.name || '-' },
  { header: 'STATE', value: (g) => stateName(g.state) },
  { header: 'ACTION', value: (g) => actionName(g.action) },
  { header: 'TEMP', value: (g) => g.temperatureGpuC === undefined ? '-' : `${g.temperatureGpuC} C`, align: 'right' },
  { header: 'POWER', value: (g) => g.powerMw === undefined ? '-' : `${Math.round(g.powerMw / 1000)} W`, align: 'right' },
  { header: 'LOST', value: (g) => g.lost ? 'LOST' : '-' },
]

const INCIDENT_COLUMNS: ReadonlyArray<Column<Incident>> = [
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

/** ISO-8601 UTC; '-' for 0 (never set), and no throw on a value Date cannot hold. */
function iso (ms: number): string {
  if (ms === 0) return '-'
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? `?(${ms})` : d.toISOString()
}

/** A table row is one line: a message with newlines (a kernel log line can have them) would break it. */
function oneLine (text: string): string {
  return text.replace(/\s*\n\s*/g, ' / ')
}
