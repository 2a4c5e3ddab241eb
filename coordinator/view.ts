// The mesh's picture of the nodes, reduced to what the planner decides on (coordinator/observed.ts).
import { HealthAction, HealthState } from '../proto/gen/shoal_pb.js'
import type { NodeRecord } from '../agent/mesh/node.js'
import type { ActionName, HealthName, ObservedNode } from './observed.js'

const HEALTH: Record<number, HealthName> = {
  [HealthState.HEALTHY]: 'healthy', [HealthState.DEGRADED]: 'degraded', [HealthState.UNHEALTHY]: 'unhealthy',
}
const ACTION: Record<number, ActionName> = {
  [HealthAction.NONE]: 'none', [HealthAction.WATCH]: 'watch', [HealthAction.RESET]: 'reset', [HealthAction.REBOOT]: 'reboot', [HealthAction.REPLACE]: 'replace',
}

export function healthName (state: HealthState): HealthName { return HEALTH[state] ?? 'unknown' }
export function actionNameOf (action: HealthAction): ActionName { return ACTION[action] ?? 'none' }

export function observe (records: Iterable<NodeRecord>): ObservedNode[] {
  const out: ObservedNode[] = []
  for (const r of records) {
    const meta = r.member.meta
    const h = r.health
    const utils = h?.gpus.map((g) => g.utilizationPct).filter((u): u is number => u !== undefined) ?? []
    out.push({
      id: r.id,
      name: meta?.name ?? '',
      pool: meta?.pool ?? '',
      instanceId: meta?.instanceId ?? '',
      rack: meta?.rack ?? '',
      zone: meta?.zone ?? '',
      member: r.member.state,
      memberSinceMs: r.member.changedMs,
      lookFailedMs: r.lookFailedMs,
      health: h?.verdict === undefined ? 'unknown' : healthName(h.verdict.state),
      action: h?.verdict === undefined ? 'none' : actionNameOf(h.verdict.action),
      bootGatePassed: h?.bootGate === undefined ? undefined : h.bootGate.passed,
      cordoned: h?.cordoned ?? false,
      draining: h?.draining ?? false,
      drained: h?.drained ?? false,
      utilization: utils.length === 0 ? undefined : Math.min(100, Math.max(0, utils.reduce((a, b) => a + b, 0) / utils.length)),
    })
  }
  return out
}
