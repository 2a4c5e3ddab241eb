// Reactive: mean utilization over a window against two thresholds, one step at a time.
import { formatDuration } from '../../agent/lib/duration.js'
import { DEFAULT_AUTOSCALE_CONFIG } from './defaults.js'
import type { Autoscaler, PoolSignals, Recommendation } from './signals.js'
import type { AutoscalerSpec } from './spec.js'
import { mean, SampleWindow } from './window.js'

type ReactiveSpec = Extract<AutoscalerSpec, { kind: 'reactive' }>

export class ReactiveAutoscaler implements Autoscaler {
  readonly kind = 'reactive'
  private readonly window: SampleWindow

  constructor (private readonly spec: ReactiveSpec, maxSamples: number = DEFAULT_AUTOSCALE_CONFIG.maxSamples) {
    this.window = new SampleWindow(spec.windowMs, maxSamples)
  }

  observe (s: PoolSignals): void {
    if (s.utilization !== undefined) this.window.add(s.now, s.utilization)
  }

  recommend (s: PoolSignals): Recommendation | undefined {
    const samples = this.window.within(s.now)
    if (samples.length === 0) return undefined
    const util = mean(samples)
    const over = `utilization ${pct(util)} over ${formatDuration(this.spec.windowMs)}`
    if (util > this.spec.scaleUpAt) {
      return { desired: s.current + this.spec.step, reason: `${over} > ${pct(this.spec.scaleUpAt)}: +${this.spec.step}` }
    }
    if (util < this.spec.scaleDownAt) {
      return { desired: s.current - this.spec.step, reason: `${over} < ${pct(this.spec.scaleDownAt)}: -${this.spec.step}` }
    }
    return { desired: s.current, reason: `${over} within [${pct(this.spec.scaleDownAt)}, ${pct(this.spec.scaleUpAt)}]: hold` }
  }
}

export function pct (n: number): string {
  return `${Number.isInteger(n) ? n : n.toFixed(1)}%`
}
