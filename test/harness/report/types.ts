// report.json (docs/harness.md § The report). Both modes write this shape; report.html renders it
// offline. Times are milliseconds from the start of the run (virtual in simulate, wall in mesh).
// `digest` covers everything but itself and `wall_s`: the same seed and scenario give the same
// digest, byte for byte, in simulate mode.

export const REPORT_FORMAT = 'shoal-report/1'

export type Mode = 'simulate' | 'mesh'

export interface LatencySummary {
  readonly count: number
  readonly p50_ms: number | null
  readonly p90_ms: number | null
  readonly p99_ms: number | null
  readonly max_ms: number | null
  /** Counts per bucket; bucket k holds values in (bounds_ms[k-1], bounds_ms[k]], the last one everything above. */
  readonly histogram: { readonly bounds_ms: readonly number[], readonly counts: readonly number[] }
}

export type LatencyName = 'fault_to_detect' | 'fault_to_request' | 'fault_to_replaced'

export interface Series {
  readonly t_ms: number[]
  /** Pool nodes by their agreed health (the acting coordinator's view; the first live agent's without one). */
  readonly healthy: number[]
  readonly degraded: number[]
  readonly unhealthy: number[]
  readonly dead: number[]
  /** Live instances of the pool in the clouds, and the target (min_nodes or the scaler's). */
  readonly pool_live: number[]
  readonly pool_target: number[]
  /** The acting coordinator's term (0: none acting). */
  readonly term: number[]
}

export interface TermSpan {
  readonly term: number
  readonly coordinator: string
  readonly from_ms: number
  /** null: still acting when the run ended. */
  to_ms: number | null
}

export interface ProviderStats {
  readonly provider: string
  readonly op: string
  calls: number
  ok: number
  readonly errors: Record<string, number>
  p50_ms: number | null
  p99_ms: number | null
}

export interface InvariantResult {
  readonly name: string
  readonly description: string
  checks: number
  violations: number
  first: { readonly t_ms: number, readonly message: string } | null
}

/** What the policy was expected to do about a fault: the class of the action it should take. */
export type Expect = 'replace' | 'reset' | 'reboot' | 'watch' | 'none' | 'network' | 'host'

export interface FaultRecord {
  readonly id: number
  readonly t_ms: number
  readonly fault: string
  /** The pool node it hit, if one. */
  readonly node: number | null
  readonly detail: string
  readonly expect: Expect
  detected_ms: number | null
  requested_ms: number | null
  replaced_ms: number | null
}

export interface TimelineEvent { readonly t_ms: number, readonly kind: string, readonly detail: string }

export interface Violation {
  readonly invariant: string
  readonly t_ms: number
  readonly seed: string
  readonly message: string
  /** The command that reruns the scenario to this point. */
  readonly reproduce: string
  /** The last things that happened, oldest first. */
  readonly trace: readonly TimelineEvent[]
}

export interface Report {
  readonly format: typeof REPORT_FORMAT
  readonly scenario: {
    readonly name: string
    readonly description: string
    readonly file: string
    /** The scenario file as written. */
    readonly source: string
    readonly seed: string
    readonly mode: Mode
    readonly fidelity: string
    readonly duration_ms: number
    readonly profile: string
    readonly accel: number
    readonly nodes: number
    readonly council: number
    readonly zones: readonly string[]
    readonly rack_size: number
  }
  readonly outcome: 'pass' | 'fail'
  readonly digest: string
  readonly wall_s: number
  readonly summary: {
    /** Simulator events processed (simulate) or agent log lines read (mesh). */
    readonly events: number
    readonly faults: number
    readonly replace_class_faults: number
    readonly replacements_requested: number
    readonly replacements_completed: number
    readonly terms: number
    readonly provider_calls: number
    readonly provider_errors: number
    readonly violations: number
    readonly min_capacity_fraction: number
    readonly end_capacity_fraction: number
    /** Fault records beyond the report's bound (counted, not listed). */
    readonly faults_not_listed: number
  }
  readonly series: Series
  readonly latency: Readonly<Record<LatencyName, LatencySummary>>
  readonly terms: readonly TermSpan[]
  readonly providers: readonly ProviderStats[]
  readonly invariants: readonly InvariantResult[]
  readonly faults: readonly FaultRecord[]
  readonly nodes: ReadonlyArray<{ readonly node: string, readonly events: readonly TimelineEvent[] }>
  readonly violation: Violation | null
}
