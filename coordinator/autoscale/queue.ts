// Queue depth: enough nodes for the jobs waiting, jobs_per_node each.
import type { Autoscaler, PoolSignals, Recommendation } from './signals.js'
import { ceilish } from './signals.js'
import type { AutoscalerSpec } from './spec.js'

type QueueSpec = Extract<AutoscalerSpec, { kind: 'queue' }>

export class QueueAutoscaler implements Autoscaler {
  readonly kind = 'queue'

  constructor (private readonly spec: QueueSpec) {}

  // Stateless: the depth is a level, not a rate.
  observe (_s: PoolSignals): void {}

  recommend (s: PoolSignals): Recommendation | undefined {
    if (s.queueDepth === undefined) return undefined
    const desired = ceilish(s.queueDepth / this.spec.jobsPerNode)
    return { desired, reason: `queue ${s.queueDepth} / ${this.spec.jobsPerNode} jobs per node = ${desired}` }
  }
}
