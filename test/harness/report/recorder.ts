// Recorder: what an engine (simulate or mesh) saw, kept bounded, turned into report.json. Engines
// call it as things happen, in time order; `violate` throws ViolationStop, which the engine lets
// unwind to its caller: the run stops at the first violation with the seed, the time and a trace.
import { createHash } from 'node:crypto'
import { basename } from 'node:path'
import { assert } from '../../../agent/lib/assert.js'
import type { Scenario } from '../scenario/load.js'
import {
  REPORT_FORMAT, type Expect, type FaultRecord, type InvariantResult, type LatencyName, type LatencySummary,
  type Mode, type ProviderStats, type Report, type Series, type TermSpan, type TimelineEvent, type Violation,
} from './types.js'

/** The invariants of issue 6 / DESIGN.md §9, in the order the report lists them. */
export const INVARIANTS = {
  'one-coordinator': 'At most one acting coordinator at any instant, and no overlapping leases.',
  'unique-token': 'Never two instances for one idempotency token, in any cloud.',
  'pool-bounds': 'Live instances stay within max_nodes plus replacements in flight.',
  'no-healthy-terminated': 'No node without an injected fault is terminated by automatic repair.',
  'replacement-requested': 'Every replace-class fault leads to a replacement request within assertions.replacement_within.',
  'no-ack-lost': 'Every acknowledged command and every published fatal verdict reaches the coordinator.',
  'no-crash': 'No core throws on any injected input.',
} as const
export type InvariantName = keyof typeof INVARIANTS

export const RECORDER_LIMITS = {
  /** Fault records listed (more are counted). */
  maxFaults: 5_000,
  /** Events per node timeline. */
  maxNodeEvents: 100,
  /** Trace kept for a violation. */
  traceLength: 200,
  /** Samples of each latency kept for percentiles (reservoir beyond). */
  maxLatencySamples: 100_000,
}

/** Histogram bucket upper bounds, ms: the report's latency charts. */
export const LATENCY_BOUNDS_MS = [100, 250, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 300_000]

export class ViolationStop extends Error {
  override name = 'ViolationStop'
  constructor (readonly violation: Violation) { super(`${violation.invariant} violated at t=${violation.t_ms} ms (seed ${violation.seed}): ${violation.message}`) }
}

export interface Sample {
  healthy: number
  degraded: number
  unhealthy: number
  dead: number
  poolLive: number
  poolTarget: number
  term: number
}

export class Recorder {
  readonly faults: FaultRecord[] = []
  readonly series: Series = { t_ms: [], healthy: [], degraded: [], unhealthy: [], dead: [], pool_live: [], pool_target: [], term: [] }
  readonly #s: Scenario
  readonly #mode: Mode
  readonly #reproduce: string
  #faultCount = 0
  #replaceClass = 0
  #requested = 0
  #completed = 0
  readonly #latency = new Map<LatencyName, number[]>([['fault_to_detect', []], ['fault_to_request', []], ['fault_to_replaced', []]])
  readonly #terms: TermSpan[] = []
  readonly #providers = new Map<string, ProviderStats & { samples: number[] }>()
  readonly #invariants = new Map<InvariantName, InvariantResult>()
  readonly #nodes = new Map<string, TimelineEvent[]>()
  readonly #trace: TimelineEvent[] = []
  #minCapacity = 1
  #violation: Violation | null = null

  /** `reproduce`: the command line that reruns this scenario (the violation report quotes it). */
  constructor (s: Scenario, mode: Mode, reproduce: string) {
    this.#s = s
    this.#mode = mode
    this.#reproduce = reproduce
    for (const [name, description] of Object.entries(INVARIANTS)) {
      this.#invariants.set(name as InvariantName, { name, description, checks: 0, violations: 0, first: null })
    }
  }

  get violation (): Violation | null { return this.#violation }

  /** A fault injected; returns its id for detected/requested/replaced. */
  fault (t: number, fault: string, node: number | null, detail: string, expect: Expect): number {
    const id = this.#faultCount++
    if (expect === 'replace') this.#replaceClass++
    const rec: FaultRecord = { id, t_ms: t, fault, node, detail, expect, detected_ms: null, requested_ms: null, replaced_ms: null }
    if (this.faults.length < RECORDER_LIMITS.maxFaults) this.faults.push(rec)
    this.#byId.set(id, rec)
    this.trace(t, `fault ${fault}`, `${node === null ? '' : `node ${node}: `}${detail}`)
    if (node !== null) this.nodeEvent(t, nodeLabel(node), `fault ${fault}`, detail)
    return id
  }

  readonly #byId = new Map<number, FaultRecord>()

  detected (id: number, t: number): void { this.#mark(id, t, 'detected_ms', 'fault_to_detect') }
  requested (id: number, t: number): void {
    if (this.#mark(id, t, 'requested_ms', 'fault_to_request')) this.#requested++
  }

  replaced (id: number, t: number): void {
    if (this.#mark(id, t, 'replaced_ms', 'fault_to_replaced')) this.#completed++
  }

  /** A replacement requested or completed for no recorded fault (a dead node, a scaler). */
  replacementRequested (): void { this.#requested++ }
  replacementCompleted (): void { this.#completed++ }

  fault$ (id: number): FaultRecord | undefined { return this.#byId.get(id) }

  #mark (id: number, t: number, field: 'detected_ms' | 'requested_ms' | 'replaced_ms', latency: LatencyName): boolean {
    const rec = this.#byId.get(id)
    assert(rec !== undefined, `no fault ${id}`)
    if (rec[field] !== null) return false
    rec[field] = t
    const xs = this.#latency.get(latency)!
    if (xs.length < RECORDER_LIMITS.maxLatencySamples) xs.push(t - rec.t_ms)
    return true
  }

  nodeEvent (t: number, node: string, kind: string, detail: string): void {
    let xs = this.#nodes.get(node)
    if (xs === undefined) this.#nodes.set(node, xs = [])
    if (xs.length < RECORDER_LIMITS.maxNodeEvents) xs.push({ t_ms: t, kind, detail })
  }

  /** Anything worth seeing in a violation's trace. Bounded ring. */
  trace (t: number, kind: string, detail: string): void {
    this.#trace.push({ t_ms: t, kind, detail })
    if (this.#trace.length > RECORDER_LIMITS.traceLength) this.#trace.shift()
  }

  /** A coordinator began acting in `term` (the previous span ends). */
  term (t: number, term: number, coordinator: string): void {
    const last = this.#terms.at(-1)
    if (last !== undefined && last.term === term && last.coordinator === coordinator && last.to_ms === null) return
    this.noCoordinator(t)
    this.#terms.push({ term, coordinator, from_ms: t, to_ms: null })
    this.trace(t, 'term', `${coordinator} acting in term ${term}`)
  }

  /** Nobody acting from t. */
  noCoordinator (t: number): void {
    const last = this.#terms.at(-1)
    if (last !== undefined && last.to_ms === null) last.to_ms = t
  }

  providerCall (t: number, provider: string, op: string, errorClass: string | null, latencyMs: number): void {
    const key = `${provider}\0${op}`
    let p = this.#providers.get(key)
    if (p === undefined) this.#providers.set(key, p = { provider, op, calls: 0, ok: 0, errors: {}, p50_ms: null, p99_ms: null, samples: [] })
    p.calls++
    if (errorClass === null) p.ok++
    else p.errors[errorClass] = (p.errors[errorClass] ?? 0) + 1
    if (p.samples.length < RECORDER_LIMITS.maxLatencySamples) p.samples.push(latencyMs)
    if (errorClass !== null) this.trace(t, `provider ${op}`, `${provider}: ${errorClass}`)
  }

  sample (t: number, s: Sample): void {
    const x = this.series
    x.t_ms.push(t); x.healthy.push(s.healthy); x.degraded.push(s.degraded); x.unhealthy.push(s.unhealthy)
    x.dead.push(s.dead); x.pool_live.push(s.poolLive); x.pool_target.push(s.poolTarget); x.term.push(s.term)
    if (s.poolTarget > 0) this.#minCapacity = Math.min(this.#minCapacity, Math.min(s.poolLive, s.poolTarget) / s.poolTarget)
  }

  /** One evaluation of an invariant that held. */
  check (name: InvariantName, n = 1): void { this.#invariants.get(name)!.checks += n }

  /** An invariant broken: recorded, then the run stops (ViolationStop). */
  violate (name: InvariantName, t: number, message: string): never {
    const inv = this.#invariants.get(name)!
    inv.checks++
    inv.violations++
    inv.first ??= { t_ms: t, message }
    this.trace(t, `violation ${name}`, message)
    this.#violation = { invariant: name, t_ms: t, seed: String(this.#s.seed), message, reproduce: this.#reproduce, trace: [...this.#trace] }
    throw new ViolationStop(this.#violation)
  }

  build (o: { events: number, wallS: number, endMs: number }): Report {
    this.noCoordinator(o.endMs)
    const s = this.#s
    const lastLive = this.series.pool_live.at(-1) ?? 0
    const lastTarget = this.series.pool_target.at(-1) ?? 0
    const providers = [...this.#providers.values()]
      .sort((a, b) => a.provider.localeCompare(b.provider) || a.op.localeCompare(b.op))
      .map(({ samples, ...p }) => ({ ...p, p50_ms: quantile(samples, 0.5), p99_ms: quantile(samples, 0.99) }))
    const nodes = [...this.#nodes].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))
      .slice(0, s.report.node_timelines).map(([node, events]) => ({ node, events }))
    const invariants = [...this.#invariants.values()]
    const violations = invariants.reduce((n, i) => n + i.violations, 0)
    const body: Omit<Report, 'digest' | 'wall_s'> = {
      format: REPORT_FORMAT,
      scenario: {
        name: s.name, description: s.description, file: basename(s.file), source: s.source, seed: String(s.seed), mode: this.#mode,
        fidelity: this.#mode === 'mesh' ? 'real agents' : s.fidelity, duration_ms: s.duration, profile: s.failures.profile,
        accel: s.failures.accel, nodes: s.fleet.pool.nodes, council: s.fleet.council, zones: s.fleet.topology.zones, rack_size: s.fleet.topology.rack_size,
      },
      outcome: violations === 0 ? 'pass' : 'fail',
      summary: {
        events: o.events, faults: this.#faultCount, replace_class_faults: this.#replaceClass,
        replacements_requested: this.#requested, replacements_completed: this.#completed, terms: this.#terms.length,
        provider_calls: providers.reduce((n, p) => n + p.calls, 0),
        provider_errors: providers.reduce((n, p) => n + (p.calls - p.ok), 0),
        violations, min_capacity_fraction: round3(this.#minCapacity),
        end_capacity_fraction: lastTarget === 0 ? 1 : round3(Math.min(lastLive, lastTarget) / lastTarget),
        faults_not_listed: this.#faultCount - this.faults.length,
      },
      series: this.series,
      latency: {
        fault_to_detect: summarize(this.#latency.get('fault_to_detect')!),
        fault_to_request: summarize(this.#latency.get('fault_to_request')!),
        fault_to_replaced: summarize(this.#latency.get('fault_to_replaced')!),
      },
      terms: this.#terms,
      providers,
      invariants,
      faults: this.faults,
      nodes,
      violation: this.#violation,
    }
    return { ...body, digest: digestOf(body), wall_s: Math.round(o.wallS * 10) / 10 }
  }
}

export function nodeLabel (n: number): string { return `node-${n}` }

/** sha256 over the canonical JSON of everything but digest and wall_s. */
export function digestOf (body: object): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex')
}

function round3 (x: number): number { return Math.round(x * 1000) / 1000 }

/** Nearest-rank quantile; null for no samples. */
export function quantile (xs: readonly number[], q: number): number | null {
  if (xs.length === 0) return null
  const sorted = [...xs].sort((a, b) => a - b)
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!)
}

export function summarize (xs: readonly number[]): LatencySummary {
  const counts = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0)
  for (const x of xs) {
    const k = LATENCY_BOUNDS_MS.findIndex((b) => x <= b)
    counts[k === -1 ? LATENCY_BOUNDS_MS.length : k]!++
  }
  return {
    count: xs.length, p50_ms: quantile(xs, 0.5), p90_ms: quantile(xs, 0.9), p99_ms: quantile(xs, 0.99),
    max_ms: xs.length === 0 ? null : Math.round(xs.reduce((m, x) => Math.max(m, x), -Infinity)),
    histogram: { bounds_ms: LATENCY_BOUNDS_MS, counts },
  }
}
