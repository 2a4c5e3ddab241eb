// A bounded time window of (time, value) samples, shared by the reactive and predictive cores.
import { assert } from '../../agent/lib/assert.js'

export interface Sample {
  readonly at: number
  readonly value: number
}

export class SampleWindow {
  private samples: Sample[] = []

  constructor (readonly windowMs: number, readonly maxSamples: number) {
    assert(Number.isFinite(windowMs) && windowMs > 0, `window must be > 0 ms, got ${windowMs}`)
    assert(Number.isSafeInteger(maxSamples) && maxSamples >= 3, `maxSamples must be ≥ 3, got ${maxSamples}`)
  }

  add (at: number, value: number): void {
    const last = this.samples[this.samples.length - 1]
    // The wall clock stepped back (NTP): old samples would skew a slope, so start over.
    if (last !== undefined && at < last.at) this.samples = []
    this.samples.push({ at, value })
    if (this.samples.length > this.maxSamples) this.samples.shift()
    assert(this.samples.length <= this.maxSamples, 'sample window over its bound')
  }

  /** Samples within (now − windowMs, now]; older ones are dropped for good. */
  within (now: number): readonly Sample[] {
    const last = this.samples[this.samples.length - 1]
    if (last !== undefined && now < last.at) this.samples = []
    const from = now - this.windowMs
    let drop = 0
    while (drop < this.samples.length && this.samples[drop]!.at <= from) drop++
    if (drop > 0) this.samples.splice(0, drop)
    return this.samples
  }
}

export function mean (samples: readonly Sample[]): number {
  assert(samples.length > 0, 'mean of no samples')
  let sum = 0
  for (const s of samples) sum += s.value
  return sum / samples.length
}

/**
 * Least-squares line through the samples, evaluated at `at`. Undefined when the times do not
 * spread (fewer than 2 distinct instants): no slope can be fitted.
 */
export function extrapolate (samples: readonly Sample[], at: number): { value: number, slopePerMin: number } | undefined {
  if (samples.length < 2) return undefined
  const t0 = samples[0]!.at
  let mx = 0
  let my = 0
  for (const s of samples) { mx += s.at - t0; my += s.value }
  mx /= samples.length
  my /= samples.length
  let sxy = 0
  let sxx = 0
  for (const s of samples) {
    const dx = s.at - t0 - mx
    sxy += dx * (s.value - my)
    sxx += dx * dx
  }
  if (sxx === 0) return undefined
  const slope = sxy / sxx
  return { value: my + slope * (at - t0 - mx), slopePerMin: slope * 60_000 }
}
