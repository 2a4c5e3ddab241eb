// The coordinator's Prometheus series, on the agent's registry (DESIGN.md §8). They mirror what the
// runtime saw; every agent exports them, and only the acting coordinator's move.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { PoolsReport } from '../proto/gen/shoal_pb.js'
import type { Call, CallOutcome } from './reconciler.js'

/** Seconds; replacement requests land in 0.5–5 s, provider calls in 0.05–60 s. */
const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 120]

export class CoordinatorMetrics {
  readonly #calls: Counter
  readonly #callSeconds: Histogram
  readonly #provisions: Counter
  readonly #failures: Counter
  readonly #backoffs: Counter
  readonly #replacement: Histogram
  readonly #acting: Gauge
  readonly #pool: Gauge
  readonly #breaker: Gauge

  constructor (registry: Registry) {
    const reg = { registers: [registry] }
    this.#calls = new Counter({ name: 'shoal_coordinator_provider_calls_total', help: 'Provider calls by provider, call (list, provision, terminate) and result (ok or the error class).', labelNames: ['provider', 'call', 'result'], ...reg })
    this.#callSeconds = new Histogram({ name: 'shoal_coordinator_provider_call_seconds', help: 'Provider call latency, retries included.', labelNames: ['provider', 'call'], buckets: BUCKETS, ...reg })
    this.#provisions = new Counter({ name: 'shoal_coordinator_provisions_total', help: 'Instances provisioned (or found already provisioned for the same token).', labelNames: ['provider', 'pool'], ...reg })
    this.#failures = new Counter({ name: 'shoal_coordinator_provision_failures_total', help: 'Failed provisions by error class (capacity, quota, rate-limited, transient, not-found, fatal).', labelNames: ['provider', 'class'], ...reg })
    this.#backoffs = new Counter({ name: 'shoal_coordinator_backoffs_total', help: 'Offerings backed off after a capacity or quota error.', labelNames: ['provider'], ...reg })
    this.#replacement = new Histogram({ name: 'shoal_coordinator_replacement_request_seconds', help: 'From the coordinator seeing a replace-class fault to the replacement provision request.', buckets: BUCKETS, ...reg })
    this.#acting = new Gauge({ name: 'shoal_coordinator_acting', help: '1 while this agent is the acting coordinator.', ...reg })
    this.#pool = new Gauge({ name: 'shoal_coordinator_pool_nodes', help: 'Per pool: desired, current, healthy, unhealthy and replacing nodes, as the coordinator last planned.', labelNames: ['pool', 'kind'], ...reg })
    this.#breaker = new Gauge({ name: 'shoal_coordinator_breaker_open', help: '1 while a pool\'s breaker holds automatic replacement.', labelNames: ['pool'], ...reg })
  }

  call (call: Call, outcome: CallOutcome, ms: number): void {
    this.#calls.inc({ provider: call.provider, call: call.kind, result: outcome.ok ? 'ok' : outcome.errorClass })
    this.#callSeconds.observe({ provider: call.provider, call: call.kind }, ms / 1000)
    if (call.kind !== 'provision') return
    if (outcome.ok) this.#provisions.inc({ provider: call.provider, pool: call.action.pool })
    else {
      this.#failures.inc({ provider: call.provider, class: outcome.errorClass })
      if (outcome.errorClass === 'capacity' || outcome.errorClass === 'quota') this.#backoffs.inc({ provider: call.provider })
    }
  }

  replacementRequest (ms: number): void {
    this.#replacement.observe(ms / 1000)
  }

  acting (on: boolean): void {
    this.#acting.set(on ? 1 : 0)
  }

  report (r: PoolsReport): void {
    for (const p of r.pools) {
      for (const [kind, v] of [['desired', p.desired], ['current', p.current], ['healthy', p.healthy], ['unhealthy', p.unhealthy], ['replacing', p.replacing]] as const) {
        this.#pool.set({ pool: p.name, kind }, v)
      }
      this.#breaker.set({ pool: p.name }, p.breakerOpen ? 1 : 0)
    }
  }
}
