// Seeded randomness for the simulated world: one independent stream per concern, so adding a node,
// a message or a fault draws from its own stream and leaves every other stream's sequence alone.
import { assert } from '../../../agent/lib/assert.js'
import { seededRng, type Rng } from '../../../agent/lib/rng.js'

/** The stream for `concern` under `seed` ("latency", "loss", "overlay", "node:17", ...). */
export function stream (seed: number | string, concern: string): Rng {
  return seededRng(`${String(seed)}/${concern}`)
}

/** z for the 99th percentile of the standard normal. */
const Z99 = 2.3263478740408408

/** One-way latency: lognormal fitted to a median and a p99, clamped to maxMs. */
export interface LatencyConfig {
  /** Median one-way delay. LAN default 0.3 ms (same-rack TCP, kernel to kernel). */
  medianMs: number
  /** 99th percentile; must be ≥ median. LAN default 2 ms (a busy host's scheduler and softirq). */
  p99Ms: number
  /** Clamp for the lognormal's long tail, so one draw cannot stall a run. Default 50 ms. */
  maxMs: number
}

export const LAN_LATENCY: LatencyConfig = { medianMs: 0.3, p99Ms: 2, maxMs: 50 }

export type Sampler = () => number

/** Quantile-table points: one uniform draw and an interpolation per sample instead of exp/log/sin. */
const TABLE_POINTS = 4096

/**
 * Draws from the lognormal with the given median and p99 (fixed when they are equal), by
 * interpolating a table of its quantiles: the far tail beyond 1/8192 is cut (a 0.3/2 ms LAN link
 * tops out near 5 ms), which matters less than the clamp and saves most of the cost per message.
 */
export function latencySampler (rng: Rng, c: LatencyConfig): Sampler {
  assert(c.medianMs >= 0 && c.p99Ms >= c.medianMs && c.maxMs >= c.p99Ms,
    `latency must satisfy 0 ≤ median ≤ p99 ≤ max (got ${c.medianMs}, ${c.p99Ms}, ${c.maxMs})`)
  if (c.p99Ms === c.medianMs || c.medianMs === 0) return () => c.medianMs
  const mu = Math.log(c.medianMs)
  const sigma = (Math.log(c.p99Ms) - mu) / Z99
  const table = new Float64Array(TABLE_POINTS + 1)
  for (let k = 0; k <= TABLE_POINTS; k++) {
    const u = (k + 0.5) / (TABLE_POINTS + 1)
    table[k] = Math.min(c.maxMs, Math.exp(mu + sigma * normalQuantile(u)))
  }
  return () => {
    const x = rng.next() * TABLE_POINTS
    const k = Math.floor(x)
    const lo = table[k]!
    return lo + (table[k + 1]! - lo) * (x - k)
  }
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile (p: number): number {
  assert(p > 0 && p < 1, `normal quantile of ${p}`)
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239]
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1]
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783]
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416]
  const low = 0.02425
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p))
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
  }
  if (p > 1 - low) return -normalQuantile(1 - p)
  const q = p - 0.5
  const r = q * q
  return (((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
}

/** Standard normal by Box–Muller; the second value of each pair is kept, so draws stay in order. */
export function gaussian (rng: Rng): Sampler {
  let spare = NaN
  return () => {
    if (!Number.isNaN(spare)) {
      const s = spare
      spare = NaN
      return s
    }
    const u = 1 - rng.next() // (0, 1]: log(0) is -Infinity
    const v = rng.next()
    const r = Math.sqrt(-2 * Math.log(u))
    spare = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }
}
