// Capacity backoff per offering (provider, region, type): Karpenter's 3-minute unavailable-offerings
// cache, doubled on each repeat up to 30 minutes (Cluster Autoscaler's cap), forgotten after a
// success or after a quiet period. A capacity error is the cloud saying "not here, not now";
// hammering it wastes the rate budget that the next provider needs.
import { assert } from '../agent/lib/assert.js'

export interface BackoffConfig {
  /** First backoff after a capacity error. Default 3 min (Karpenter). */
  readonly initialMs: number
  /** Cap. Default 30 min (Cluster Autoscaler). */
  readonly maxMs: number
  /** A level is forgotten after this long without a new error. Default 3 h (Cluster Autoscaler's reset). */
  readonly resetMs: number
  /** Offerings remembered at once. */
  readonly maxEntries: number
}

export const DEFAULT_BACKOFF_CONFIG: BackoffConfig = {
  initialMs: 3 * 60_000,
  maxMs: 30 * 60_000,
  resetMs: 3 * 3_600_000,
  maxEntries: 1024,
}

interface Entry { until: number, level: number, lastMs: number }

export function offeringKey (o: { provider: string, region: string, zone: string, instanceType: string }): string {
  return `${o.provider}/${o.region}${o.zone === '' ? '' : `/${o.zone}`}/${o.instanceType}`
}

export class OfferingBackoff {
  readonly #c: BackoffConfig
  readonly #entries = new Map<string, Entry>()

  constructor (c: BackoffConfig = DEFAULT_BACKOFF_CONFIG) {
    assert(c.initialMs > 0 && c.maxMs >= c.initialMs, 'backoff: 0 < initial ≤ max')
    this.#c = c
  }

  /** A capacity error on this offering: returns how long it is now backed off. */
  capacityError (key: string, now: number): number {
    const e = this.#entries.get(key)
    const level = e !== undefined && now - e.lastMs < this.#c.resetMs ? e.level + 1 : 0
    const ms = Math.min(this.#c.maxMs, this.#c.initialMs * 2 ** Math.min(level, 20))
    this.#entries.delete(key)
    this.#entries.set(key, { until: now + ms, level, lastMs: now })
    if (this.#entries.size > this.#c.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string)
    return ms
  }

  /** Quota and fatal errors: this offering is hopeless for `ms`, whatever its capacity level. */
  block (key: string, now: number, ms: number): void {
    const e = this.#entries.get(key)
    this.#entries.delete(key)
    this.#entries.set(key, { until: Math.max(now + ms, e?.until ?? 0), level: e?.level ?? 0, lastMs: now })
    if (this.#entries.size > this.#c.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string)
  }

  success (key: string): void {
    this.#entries.delete(key)
  }

  blocked (key: string, now: number): boolean {
    const e = this.#entries.get(key)
    return e !== undefined && now < e.until
  }

  /** When the offering is usable again (0 if it is). */
  until (key: string, now: number): number {
    const e = this.#entries.get(key)
    return e !== undefined && now < e.until ? e.until : 0
  }

  active (now: number): Array<{ key: string, until: number }> {
    return [...this.#entries].filter(([, e]) => now < e.until).map(([key, e]) => ({ key, until: e.until }))
  }
}
