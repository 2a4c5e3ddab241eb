// Fault events as a scenario writes them: `at`, the `fault` kind, a `target`, and the kind's own
// fields. Every class in reference/fleet-failures.md §4 has a kind; docs/harness.md lists them
// with what each injects and what Shoal is expected to do.
import * as z from 'zod'
import { durationField, intField, stringField } from '../../../agent/config/leaves.js'
import { fractionField } from './leaves.js'

/** GPU faults: injected through the node's own health policy (the real HealthJudge). */
export const GPU_FAULTS = [
  'xid', 'gpu-lost', 'ecc-dbe', 'row-remap-pending', 'row-remap-failure', 'sram', 'nvlink',
  'thermal', 'power-brake', 'pcie-replay', 'pcie-downtrain', 'sdc',
] as const
/** Host, process and network faults. */
export const HOST_FAULTS = ['host-loss', 'agent-crash', 'agent-pause', 'clock-skew'] as const
export const NETWORK_FAULTS = ['partition', 'flap', 'loss', 'duplication', 'delay'] as const
export const CORRELATED_FAULTS = ['rack-outage', 'zone-outage'] as const
export const PROVIDER_FAULTS = ['provider-capacity', 'provider-quota', 'provider-rate-limit', 'provider-latency', 'provider-doa', 'provider-hang'] as const
export const FAULT_KINDS = [...GPU_FAULTS, ...HOST_FAULTS, ...NETWORK_FAULTS, 'coordinator-kill', ...CORRELATED_FAULTS, ...PROVIDER_FAULTS] as const
export type FaultKind = typeof FAULT_KINDS[number]
export type GpuFaultKind = typeof GPU_FAULTS[number]

/**
 * Which nodes a fault hits. `random` (count of them, drawn from the seed), `coordinator` (the
 * acting one at that instant), `node:N` (pool node N), `nodes:1,2,3`, `rack:ZONE/R`, `zone:Z`,
 * `half` (a random half of the fleet: partitions).
 */
export type Target =
  | { readonly kind: 'random' }
  | { readonly kind: 'coordinator' }
  | { readonly kind: 'half' }
  | { readonly kind: 'nodes', readonly nodes: readonly number[] }
  | { readonly kind: 'rack', readonly zone: string, readonly rack: number }
  | { readonly kind: 'zone', readonly zone: string }

const TARGET_HINT = 'random, coordinator, half, node:N, nodes:1,2,3, rack:ZONE/R or zone:Z'

export function parseTarget (text: string): Target | string {
  if (text === 'random' || text === 'coordinator' || text === 'half') return { kind: text }
  const m = /^(node|nodes|rack|zone):(.+)$/.exec(text)
  if (m === null) return `${JSON.stringify(text)} is not a target (${TARGET_HINT})`
  const [, kind, rest] = m as unknown as [string, string, string]
  if (kind === 'zone') return /^[a-z0-9-]{1,63}$/.test(rest) ? { kind: 'zone', zone: rest } : `${JSON.stringify(rest)} is not a zone name`
  if (kind === 'rack') {
    const r = /^([a-z0-9-]{1,63})\/(\d{1,5})$/.exec(rest)
    return r === null ? `${JSON.stringify(rest)} is not ZONE/RACK (rack:a/0)` : { kind: 'rack', zone: r[1]!, rack: Number(r[2]) }
  }
  const parts = rest.split(',')
  if (parts.length > 1000 || (kind === 'node' && parts.length !== 1)) return `${JSON.stringify(text)}: node:N names one node; nodes:1,2,3 several (at most 1000)`
  const nodes = parts.map((p) => /^\d{1,6}$/.test(p) ? Number(p) : NaN)
  if (nodes.some((n) => Number.isNaN(n))) return `${JSON.stringify(text)}: node numbers are whole numbers from 0`
  return { kind: 'nodes', nodes }
}

const targetField = (fallback: string) => z.string().max(8000).default(fallback).transform((v, ctx): Target => {
  const t = parseTarget(v)
  if (typeof t === 'string') {
    ctx.addIssue({ code: 'custom', message: t, input: v })
    return z.NEVER
  }
  return t
})

const at = durationField({ default: '0ms', min: '0ms', max: '48h', doc: 'When, from the start of the run.' })
const lasting = (def: string) => durationField({ default: def, min: '0ms', max: '48h', doc: 'How long it lasts (0: until the end).' })
const count = intField({ default: 1, min: 1, max: 10_000, doc: 'Nodes hit, for target random.' })
const provider = stringField({ maxChars: 63, what: 'a provider name', default: '', doc: 'Provider hit (empty: every provider).' })
const gpu = z.number().int().min(0).max(15).optional()

const gpuFault = <K extends GpuFaultKind>(fault: K) => z.strictObject({ at, fault: z.literal(fault), target: targetField('random'), count, gpu })

export const faultEventSchema = z.discriminatedUnion('fault', [
  z.strictObject({ at, fault: z.literal('xid'), target: targetField('random'), count, gpu, code: z.number().int().min(1).max(999) }),
  gpuFault('gpu-lost'),
  gpuFault('ecc-dbe'),
  gpuFault('row-remap-pending'),
  gpuFault('row-remap-failure'),
  gpuFault('sram'),
  z.strictObject({ at, fault: z.literal('nvlink'), target: targetField('random'), count, gpu, cascade: z.boolean().default(false) }),
  z.strictObject({ at, fault: z.literal('thermal'), target: targetField('random'), count, gpu, for: lasting('5m') }),
  z.strictObject({ at, fault: z.literal('power-brake'), target: targetField('random'), count, gpu, for: lasting('2m') }),
  z.strictObject({ at, fault: z.literal('pcie-replay'), target: targetField('random'), count, gpu, for: lasting('10m') }),
  gpuFault('pcie-downtrain'),
  gpuFault('sdc'),
  z.strictObject({ at, fault: z.literal('host-loss'), target: targetField('random'), count }),
  z.strictObject({ at, fault: z.literal('agent-crash'), target: targetField('random'), count, down: lasting('10s') }),
  z.strictObject({ at, fault: z.literal('agent-pause'), target: targetField('random'), count, for: lasting('10s') }),
  z.strictObject({ at, fault: z.literal('clock-skew'), target: targetField('random'), count, offset_ms: z.number().int().min(-600_000).max(600_000) }),
  z.strictObject({ at, fault: z.literal('partition'), target: targetField('half'), count, for: lasting('30s') }),
  z.strictObject({ at, fault: z.literal('flap'), target: targetField('half'), count, period: durationField({ default: '10s', min: '100ms', max: '1h', doc: 'Cut for half a period, healed for the other half.' }), times: intField({ default: 5, min: 1, max: 1000, doc: 'Cuts.' }) }),
  z.strictObject({ at, fault: z.literal('loss'), rate: fractionField({ default: 0.05, doc: 'Share of direct messages lost.' }), for: lasting('1m') }),
  z.strictObject({ at, fault: z.literal('duplication'), rate: fractionField({ default: 0.05, doc: 'Share duplicated.' }), for: lasting('1m') }),
  z.strictObject({ at, fault: z.literal('delay'), median: durationField({ default: '20ms', min: '0ms', max: '10s', doc: '' }), p99: durationField({ default: '200ms', min: '0ms', max: '60s', doc: '' }), for: lasting('1m') }),
  z.strictObject({ at, fault: z.literal('coordinator-kill'), down: lasting('30s') }),
  z.strictObject({ at, fault: z.literal('rack-outage'), target: targetField('random'), cause: z.enum(['network', 'power']).default('network'), for: lasting('10m') }),
  z.strictObject({ at, fault: z.literal('zone-outage'), target: targetField('random'), for: lasting('1h') }),
  z.strictObject({ at, fault: z.literal('provider-capacity'), provider, for: lasting('10m') }),
  z.strictObject({ at, fault: z.literal('provider-quota'), provider, for: lasting('10m') }),
  z.strictObject({ at, fault: z.literal('provider-rate-limit'), provider, for: lasting('1m') }),
  z.strictObject({ at, fault: z.literal('provider-latency'), provider, min: durationField({ default: '2s', min: '0ms', max: '5m', doc: '' }), max: durationField({ default: '20s', min: '0ms', max: '5m', doc: '' }), for: lasting('10m') }),
  z.strictObject({ at, fault: z.literal('provider-doa'), provider, rate: fractionField({ default: 0.3, doc: 'Dead-on-arrival share while it lasts.' }), for: lasting('30m') }),
  z.strictObject({ at, fault: z.literal('provider-hang'), provider, times: intField({ default: 1, min: 1, max: 1000, doc: 'Calls that never answer.' }) }),
], { error: (issue) => issue.code === 'invalid_union' ? `unknown fault (one of ${FAULT_KINDS.join(', ')})` : undefined })

export type FaultEvent = z.output<typeof faultEventSchema>
