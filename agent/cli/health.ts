// `shoal health`: this node's verdict, policy, boot gate, GPUs and recent incidents, as the local
// agent sees them, asked over its admin socket.
import { create, toJson } from '@bufbuild/protobuf'
import {
  HealthAction,
  HealthReportSchema,
  HealthRequestSchema,
  HealthState,
  type HealthReport,
} from '../../proto/gen/shoal_pb.js'
import { actionName, stateName } from '../health/action.js'
import { ask, READ_TIMEOUT_MS } from './ask.js'
import { bootGateLines, GPU_COLUMNS, INCIDENT_COLUMNS, iso, REASON_COLUMNS, section } from './format.js'
import type { Output } from './gpus.js'

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
export const HEALTH_TIMEOUT_MS = READ_TIMEOUT_MS

/** More incidents than anyone reads in a terminal; the agent's journal bounds them anyway. */
const MAX_INCIDENTS = 1000

export async function healthCommand (options: HealthOptions, io: Output): Promise<number> {
  const incidents = parseIncidents(options.incidents)
  if (incidents === undefined) {
    io.err(`shoal health: --incidents takes a whole number from 0 to ${MAX_INCIDENTS}, not "${options.incidents ?? ''}"\n`)
    return HEALTH_EXIT.usage
  }
  const asked = await ask({
    socketPath: options.socketPath,
    request: { case: 'health', value: create(HealthRequestSchema, { incidents }) },
    expect: 'health',
    what: 'a health report',
    timeoutMs: options.timeoutMs ?? HEALTH_TIMEOUT_MS,
  }, io)
  if (!asked.ok) return HEALTH_EXIT.unreachable
  const report = asked.value
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
    ...bootGateLines(report.bootGate),
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
