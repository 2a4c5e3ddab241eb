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

/** Draws from the lognormal with the given median and p99; fixed when p99 equals the median. */
export function latencySampler (rng: Rng, c: LatencyConfig): Sampler {
  assert(c.medianMs >= 0 && c.p99Ms >= c.medianMs && c.maxMs >= c.p99Ms,
    `latency must satisfy 0 ≤ median ≤ p99 ≤ max (got ${c.medianMs}, ${c.p99Ms}, ${c.maxMs})`)
  if (c.p99Ms === c.medianMs || c.medianMs === 0) return () => c.medianMs
  const mu = Math.log(c.medianMs)
  const sigma = (Math.log(c.p99Ms) - mu) / Z99
  const normal = gaussian(rng)
  return () => Math.min(c.maxMs, Math.exp(mu + sigma * normal()))
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
