// Shoal's own series: name, type, labels, unit and source, declared once. metrics.ts builds the
// prom-client objects from this table and reference.ts renders docs/metrics.md from it (with the
// GPU table in gpu-metrics.ts), so a metric cannot exist undocumented.
import { GPU_LABELS } from './gpu-metrics.js'

export interface MetricDef {
  readonly name: string
  readonly type: 'gauge' | 'counter' | 'histogram'
  readonly help: string
  readonly unit: string
  readonly labels: readonly string[]
  /** Where the value comes from, for docs/metrics.md. */
  readonly source: string
}

function def<const T extends MetricDef['type']> (name: string, type: T, labels: readonly string[], unit: string, source: string,
  help: string): MetricDef & { readonly type: T } {
  return { name, type, labels, unit, source, help }
}

export const CATALOG = {
  // GPUs
  gpuInfo: def('shoal_gpu_info', 'gauge', [...GPU_LABELS, 'driver_version', 'vbios_version'], '1', 'GpuInfo',
    'Always 1 for each GPU in the inventory; static facts as labels.'),
  gpuLost: def('shoal_gpu_lost', 'gauge', GPU_LABELS, '0/1', 'GpuInfo.lost or GpuSample.lost',
    'The GPU is lost (fallen off the bus, GPU_IS_LOST): 1, else 0. A lost GPU exports no other GPU series.'),
  xidLast: def('DCGM_FI_DEV_XID_ERRORS', 'gauge', [...GPU_LABELS, 'err_code'], 'XID', 'GpuEvent (XID, GPU_LOST) from NVML and the kernel log',
    'Value of the last XID error encountered.'),
  clockEventReason: def('shoal_gpu_clock_event_reason', 'gauge', [...GPU_LABELS, 'reason'], '0/1', 'GpuSample.clock_event_reasons, one series per bit',
    'One clock event reason (DCGM_CLOCKS_EVENT_REASON_*) active (1) or not (0): the bitmask decoded, since PromQL has no bitwise operators.'),
  gpuEvents: def('shoal_gpu_events_total', 'counter', ['kind', 'source'], 'events', 'GpuEvent.kind, GpuEvent.source (after dedup)',
    'GPU events by kind (xid, sxid, gpu_lost, ecc_double_bit, ...) and witness (nvml, kmsg).'),
  xidTotal: def('shoal_gpu_xid_total', 'counter', ['gpu', 'xid'], 'events', 'GpuEvent (XID, GPU_LOST) after dedup',
    'XIDs by GPU index and code; gpu="" when the event named no known GPU.'),
  sampleSeconds: def('shoal_gpu_sample_seconds', 'histogram', [], 's', 'the GPU source\'s sample cycle',
    'Time to read every signal of every GPU once.'),
  // Health
  healthState: def('shoal_health_state', 'gauge', [], 'enum', 'Verdict.state',
    'Node health: 0 unknown, 1 healthy, 2 degraded, 3 unhealthy (worse is higher).'),
  healthStatus: def('shoal_health_status', 'gauge', ['state'], '0/1', 'Verdict.state',
    'Node health one-hot: 1 on the current state, 0 on the others.'),
  healthAction: def('shoal_health_action', 'gauge', [], 'enum', 'Verdict.action',
    'What the fleet should do: 0 none, 1 watch, 2 reset, 3 reboot, 4 replace (stronger is higher).'),
  healthReasons: def('shoal_health_reasons', 'gauge', [], 'reasons', 'Verdict.reasons (count)',
    'Rules that hold in the current verdict.'),
  healthReason: def('shoal_health_reason', 'gauge', ['rule', 'gpu', 'class'], '1', 'Verdict.reasons',
    'Always 1 for each rule that holds (at most 64 series); gpu="" for a node-wide rule.'),
  verdictTime: def('shoal_health_verdict_timestamp_seconds', 'gauge', [], 's', 'Verdict.time_ms ÷ 1000',
    'When the current verdict was reached (Unix time).'),
  incidents: def('shoal_incidents_total', 'counter', ['class', 'action'], 'incidents', 'Incident (once per id)',
    'Incidents opened, by class and action as first seen.'),
  incidentsOpen: def('shoal_incidents_open', 'gauge', [], 'incidents', 'Incident.open',
    'Incidents open now.'),
  // Policy
  policyInfo: def('shoal_policy_info', 'gauge', ['name', 'digest', 'source'], '1', 'PolicyStatus',
    'Always 1; the policy in force.'),
  policyRules: def('shoal_policy_rules', 'gauge', [], 'rules', 'PolicyStatus.rules',
    'Rules in the policy in force.'),
  policyReloadErrors: def('shoal_policy_reload_errors_total', 'counter', [], 'errors', 'PolicyStatus.last_error_ms (each new value)',
    'Policy loads that failed (the previous policy stayed in force).'),
  policyLastError: def('shoal_policy_last_error_timestamp_seconds', 'gauge', [], 's', 'PolicyStatus.last_error_ms ÷ 1000',
    'When a policy load last failed (Unix time); 0: never.'),
  policyFailing: def('shoal_policy_reload_failing', 'gauge', [], '0/1', 'PolicyStatus.last_error ≠ ""',
    'The last policy load failed and no good one has loaded since: 1, else 0.'),
  ruleErrors: def('shoal_policy_rule_errors_total', 'counter', ['rule'], 'errors', 'rule evaluation faults',
    'Rule evaluations that failed (the rule counted as not holding).'),
  policyEval: def('shoal_policy_eval_seconds', 'histogram', [], 's', 'one policy evaluation',
    'Time to judge one sample cycle.'),
  // Agent
  journalSeq: def('shoal_journal_seq', 'gauge', [], 'seq', 'the store',
    'Sequence number of the last journal entry written.'),
} as const satisfies Record<string, MetricDef>

/** prom-client's process and Node.js metrics get this prefix (shoal_agent_process_cpu_seconds_total, ...). */
export const DEFAULT_METRICS_PREFIX = 'shoal_agent_'

/**
 * Sub-millisecond resolution: an 8-GPU sample targets ≤ 1 ms and a policy evaluation less
 * (DESIGN.md §10); the top buckets catch a stuck NVML call.
 */
export const FAST_SECONDS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
