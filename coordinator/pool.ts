// A pool as the coordinator file declares it (coordinator/config.ts parses and checks it; the
// planner and the autoscalers only ever see this shape).
import type { AutoscalerSpec } from './autoscale/spec.js'

export type ProviderStrategy = 'priority' | 'cost' | 'round-robin' | 'availability'

/** One place a pool's nodes can come from: a provider, a region (and zone) and an instance type. */
export interface Offer {
  readonly provider: string
  readonly region: string
  /** Empty: the provider's choice (GCP: `<region>-a`). */
  readonly zone: string
  readonly instanceType: string
  /** Lower first (strategy priority, and the order availability walks). */
  readonly priority: number
  /** USD per hour; undefined sorts last under strategy cost. */
  readonly costPerHour: number | undefined
  /** Share under strategy round-robin (≥ 1). */
  readonly weight: number
}

export interface PoolHealth {
  /** Replace a node whose verdict says replace (or that is dead too long). Off: report only. */
  readonly autoReplace: boolean
  /** Halt automatic replacement while more than this fraction of the pool is unhealthy. Default 0.2. */
  readonly breakerFraction: number
  /** Replacements in flight at once in this pool. */
  readonly maxInFlight: number
  /** A new instance whose agent has not joined and passed its boot gate by then is dead on arrival. */
  readonly bootDeadlineMs: number
  /** Dead-on-arrival retries per slot before the slot is reported failed. Default 3. */
  readonly maxAttempts: number
  /** A member dead this long (and not part of a correlated rack/zone silence) is replaced. */
  readonly deadReplaceAfterMs: number
}

export interface PoolSpec {
  readonly name: string
  readonly minNodes: number
  readonly maxNodes: number
  readonly strategy: ProviderStrategy
  readonly offers: readonly Offer[]
  readonly labels: Readonly<Record<string, string>>
  /** The boot gate's expectation, passed to new instances' agents. */
  readonly gpusPerNode: number | undefined
  readonly gpuModel: string
  readonly health: PoolHealth
  readonly autoscaler: AutoscalerSpec | null
  /** Where the queue depth comes from besides `shoal queue set` (coordinator/queue-source.ts). */
  readonly queueSource?: QueueSource | null
}

/** An HTTP endpoint answering a number, or a Prometheus server and an instant query. */
export interface QueueSource {
  readonly url: string
  /** Null: GET url answers the depth as a plain number or {"depth": N}. Else a PromQL expression for url's /api/v1/query. */
  readonly query: string | null
  readonly intervalMs: number
  readonly timeoutMs: number
}
