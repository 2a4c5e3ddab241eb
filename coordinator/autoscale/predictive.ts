// Predictive: the least-squares trend of utilization over a window, extrapolated a horizon ahead,
// sizes the pool so the predicted load runs at the target utilization.
import { formatDuration } from '../../agent/lib/duration.js'
import { assert } from '../../agent/lib/assert.js'
import { DEFAULT_AUTOSCALE_CONFIG } from './defaults.js'
import { pct } from './reactive.js'
import type { Autoscaler, PoolSignals, Recommendation } from './signals.js'
import { ceilish } from './signals.js'
import type { AutoscalerSpec } from './spec.js'
import { extrapolate, SampleWindow } from './window.js'

type PredictiveSpec = Extract<AutoscalerSpec, { kind: 'predictive' }>

/** Below this many samples a line through them is noise. */
export const PREDICTIVE_MIN_SAMPLES = 3

export class PredictiveAutoscaler implements Autoscaler {
  readonly kind = 'predictive'
  private readonly window: SampleWindow

  constructor (private readonly spec: PredictiveSpec, private readonly fallback: Autoscaler | null,
    maxSamples: number = DEFAULT_AUTOSCALE_CONFIG.maxSamples) {
    assert((spec.fallback === null) === (fallback === null), 'predictive: fallback spec and core disagree')
    this.window = new SampleWindow(spec.windowMs, maxSamples)
  }

  observe (s: PoolSignals): void {
    if (s.utilization !== undefined) this.window.add(s.now, s.utilization)
    this.fallback?.observe(s)
  }

  recommend (s: PoolSignals): Recommendation | undefined {
    const samples = this.window.within(s.now)
    const line = samples.length >= PREDICTIVE_MIN_SAMPLES ? extrapolate(samples, s.now + this.spec.horizonMs) : undefined
    if (line === undefined) {
      const rec = this.fallback?.recommend(s)
      return rec === undefined ? undefined : { ...rec, reason: `${samples.length} samples, too few for a trend; ${rec.reason}` }
    }
    // Utilization cannot leave 0..100 whatever the line says.
    const predicted = Math.min(100, Math.max(0, line.value))
    const desired = ceilish(s.current * predicted / this.spec.target)
    const slope = `${line.slopePerMin >= 0 ? '+' : ''}${line.slopePerMin.toFixed(2)}%/min`
    return {
      desired,
      reason: `trend ${slope} over ${samples.length} samples predicts ${pct(Number(predicted.toFixed(1)))} in ` +
        `${formatDuration(this.spec.horizonMs)}: ceil(${s.current} × ${pct(Number(predicted.toFixed(1)))} / ${pct(this.spec.target)}) = ${desired}`,
    }
  }
}
