// Health a scenario gives a simulated agent: the shapes agent/health would produce, small and
// fixed, so what the mesh carries is realistic in size without running the policy.
import { create } from '@bufbuild/protobuf'
import {
  GpuSummarySchema, HealthAction, HealthState, IncidentSchema, ReasonSchema, VerdictSchema,
  type GpuSummary,
} from '../../../proto/gen/shoal_pb.js'
import type { OwnHealth } from '../../../agent/mesh/node.js'

const GPUS = 8

function gpus (lost: number | undefined): GpuSummary[] {
  return Array.from({ length: GPUS }, (_, index) => create(GpuSummarySchema, {
    index,
    uuid: `GPU-sim-${index}`,
    name: 'NVIDIA H100 80GB HBM3',
    state: index === lost ? HealthState.UNHEALTHY : HealthState.HEALTHY,
    action: index === lost ? HealthAction.REPLACE : HealthAction.NONE,
    lost: index === lost,
  }))
}

export function healthyHealth (timeMs: number): OwnHealth {
  return {
    verdict: create(VerdictSchema, { state: HealthState.HEALTHY, action: HealthAction.NONE, timeMs, policy: 'default@sim' }),
    incidents: [],
    gpus: gpus(undefined),
  }
}

/** GPU `gpu` fell off the bus (XID 79): unhealthy, replace. `tag` makes each event distinct. */
export function fatalHealth (timeMs: number, gpu = 3, tag = 'xid-79'): OwnHealth {
  const reason = create(ReasonSchema, {
    rule: 'xid-79', message: 'GPU has fallen off the bus', gpuIndex: gpu, gpuUuid: `GPU-sim-${gpu}`,
    state: HealthState.UNHEALTHY, action: HealthAction.REPLACE, incidentClass: 'gpu-lost', sinceMs: timeMs,
  })
  return {
    verdict: create(VerdictSchema, { state: HealthState.UNHEALTHY, action: HealthAction.REPLACE, reasons: [reason], timeMs, policy: 'default@sim' }),
    incidents: [create(IncidentSchema, {
      id: `inc-${tag}-${timeMs}`, class: 'gpu-lost', action: HealthAction.REPLACE, state: HealthState.UNHEALTHY,
      firstMs: timeMs, lastMs: timeMs, findings: [reason], eventCount: 1, open: true, primary: 'xid-79',
    })],
    gpus: gpus(gpu),
  }
}

export function isFatal (h: { verdict?: { state: HealthState, action: HealthAction } | undefined } | undefined): boolean {
  return h?.verdict?.state === HealthState.UNHEALTHY && h.verdict.action === HealthAction.REPLACE
}
