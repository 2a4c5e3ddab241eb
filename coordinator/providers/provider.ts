// What the coordinator asks of a cloud, and what it gets back. Every provider (AWS, GCP, Lambda,
// the fake) implements this; the planner never sees an SDK. Errors are typed by what the planner
// should do about them, not by where they came from (DESIGN.md §6).

/** The tags (EC2), labels (GCP) or name and tags (Lambda) that make an instance ours. */
export interface InstanceTags {
  readonly fleet: string
  readonly pool: string
  readonly slot: number
  readonly generation: number
  /** The idempotency token of the provision that created it (coordinator/token.ts). */
  readonly token: string
}

/** Tag keys, identical in every cloud (GCP label keys allow lower-case, digits, "-" and "_"). */
export const TAG_KEYS = {
  fleet: 'shoal-fleet',
  pool: 'shoal-pool',
  slot: 'shoal-slot',
  generation: 'shoal-generation',
  token: 'shoal-token',
} as const

export type InstanceState = 'pending' | 'running' | 'terminating' | 'terminated'

export interface Instance {
  readonly provider: string
  readonly region: string
  /** Empty where the cloud has no zones (Lambda). */
  readonly zone: string
  readonly id: string
  readonly name: string
  readonly instanceType: string
  readonly state: InstanceState
  /** Null: not one of ours, or tags we cannot parse (reported, never terminated). */
  readonly tags: InstanceTags | null
  /** Wall-clock ms; 0 where the cloud does not say. */
  readonly launchedMs: number
  readonly addresses: readonly string[]
}

export interface ProvisionRequest {
  /** ≤ 64 chars of [a-z0-9-]: EC2 ClientToken; GCP requestId is derived from it (a UUID). */
  readonly token: string
  /** Deterministic from the token, ≤ 63 chars, `[a-z]([-a-z0-9]*[a-z0-9])?`: GCP 409 and Lambda's name check rely on it. */
  readonly name: string
  readonly region: string
  /** Empty: the provider's default zone for the region. */
  readonly zone: string
  readonly instanceType: string
  readonly tags: InstanceTags
  /** Extra labels from the pool (copied to tags/labels where the cloud allows). */
  readonly labels: Readonly<Record<string, string>>
}

export interface InstanceRef {
  readonly region: string
  readonly zone: string
  readonly id: string
  readonly name: string
}

/**
 * What to do about a failed call:
 * - capacity: the cloud has none of this (type, region/zone) now; back off that offering, try the next.
 * - quota: the account may not have more; do not retry blindly, report.
 * - rate-limited: slow down and retry later (same token).
 * - transient: 5xx, timeout, connection reset; retry with the same token (the call may have succeeded).
 * - not-found: the instance is gone (or not visible yet).
 * - fatal: a bug or bad credentials; retrying will not help.
 */
export type ProviderErrorClass = 'capacity' | 'quota' | 'rate-limited' | 'transient' | 'not-found' | 'fatal'

export class ProviderError extends Error {
  override name = 'ProviderError'
  constructor (
    readonly errorClass: ProviderErrorClass,
    /** The cloud's own code (InsufficientInstanceCapacity, ZONE_RESOURCE_POOL_EXHAUSTED, ...). */
    readonly code: string,
    message: string,
    /** A server hint (Retry-After), when there is one. */
    readonly retryAfterMs?: number,
  ) {
    super(message)
  }
}

/** An instance type a provider offers in a region, and whether it says it has capacity now. */
export interface Offering {
  readonly region: string
  readonly instanceType: string
  readonly available: boolean
  /** USD per hour, where the cloud publishes it. */
  readonly pricePerHour?: number
}

export interface Provider {
  /** The name pools refer to it by ('aws', 'gcp', 'lambda', 'fake', or a configured alias). */
  readonly name: string
  /**
   * Create one instance, or return the one this token already created. Resolves when the cloud
   * accepted it (GCP: when the operation is DONE without error); rejects with ProviderError.
   */
  provision (req: ProvisionRequest): Promise<Instance>
  /** Every instance tagged with this fleet, in every region the provider is configured for, terminated ones included while the cloud still lists them. */
  list (fleet: string): Promise<Instance[]>
  /** Idempotent: terminating a gone instance resolves. */
  terminate (ref: InstanceRef): Promise<void>
  /** Instance types and advisory capacity, for the availability and cost strategies. Optional. */
  offerings?(): Promise<Offering[]>
}
