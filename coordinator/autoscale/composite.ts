// Composite: several autoscalers, combined by max, min or average of those with an opinion.
import { assert } from '../../agent/lib/assert.js'
import type { Autoscaler, Bounds, PoolSignals, Recommendation } from './signals.js'
import { ceilish } from './signals.js'
import type { AutoscalerSpec } from './spec.js'

type CompositeSpec = Extract<AutoscalerSpec, { kind: 'composite' }>

export class CompositeAutoscaler implements Autoscaler {
  readonly kind = 'composite'

  constructor (private readonly spec: CompositeSpec, private readonly children: readonly Autoscaler[]) {
    assert(children.length > 0 && children.length === spec.children.length, 'composite: children spec and cores disagree')
  }

  observe (s: PoolSignals): void {
    for (const c of this.children) c.observe(s)
  }

  recommend (s: PoolSignals): Recommendation | undefined {
    const recs: Recommendation[] = []
    for (const c of this.children) {
      const r = c.recommend(s)
      if (r !== undefined) recs.push(r)
    }
    if (recs.length === 0) return undefined
    const values = recs.map((r) => r.desired)
    const desired = this.spec.mode === 'max'
      ? Math.max(...values)
      : this.spec.mode === 'min' ? Math.min(...values) : ceilish(values.reduce((a, b) => a + b, 0) / values.length)
    const reason = `${this.spec.mode} of ${recs.length}/${this.children.length} = ${desired} (${recs.map((r) => r.reason).join(' | ')})`
    const bounds = intersect(recs)
    return bounds === undefined ? { desired, reason } : { desired, reason, bounds }
  }
}

/** Every child's window must hold: the tightest bounds (a min above a max collapses onto the max). */
function intersect (recs: readonly Recommendation[]): Bounds | undefined {
  let out: Bounds | undefined
  for (const r of recs) {
    if (r.bounds === undefined) continue
    out = out === undefined ? r.bounds : { min: Math.max(out.min, r.bounds.min), max: Math.min(out.max, r.bounds.max) }
  }
  if (out !== undefined && out.min > out.max) out = { min: out.max, max: out.max }
  return out
}
