// Predictive: least-squares slope over the window, extrapolated horizon ahead, sized to target.
import t from 'tap'
import { createAutoscaler } from '../../../coordinator/autoscale/create.js'
import type { AutoscalerSpec } from '../../../coordinator/autoscale/spec.js'
import { extrapolate } from '../../../coordinator/autoscale/window.js'
import { MIN, NO_COOLDOWN, queue, sig, SUNDAY } from './support.js'

function predictive (fallback: AutoscalerSpec | null = null, over: { windowMs?: number, horizonMs?: number, target?: number } = {}): AutoscalerSpec {
  return { kind: 'predictive', windowMs: 15 * MIN, horizonMs: 10 * MIN, target: 70, fallback, cooldown: NO_COOLDOWN, ...over }
}

t.test('least squares: exact lines and a noisy one', async (t) => {
  const line = (slopePerMin: number, b: number, n: number) => Array.from({ length: n }, (_, i) => ({ at: i * MIN, value: b + slopePerMin * i }))
  const up = extrapolate(line(2, 40, 5), 14 * MIN)
  t.ok(up !== undefined && Math.abs(up.value - 68) < 1e-9 && Math.abs(up.slopePerMin - 2) < 1e-9, 'rising 2/min, at minute 14: 68')
  const down = extrapolate(line(-3, 90, 4), 10 * MIN)
  t.ok(down !== undefined && Math.abs(down.value - 60) < 1e-9, 'falling 3/min from 90, at minute 10: 60')
  const noisy = extrapolate([{ at: 0, value: 10 }, { at: MIN, value: 30 }, { at: 2 * MIN, value: 20 }], 2 * MIN)
  t.ok(noisy !== undefined && Math.abs(noisy.slopePerMin - 5) < 1e-9 && Math.abs(noisy.value - 25) < 1e-9, 'slope 5, fitted value at x=2: 25')
  t.equal(extrapolate([{ at: 5, value: 1 }, { at: 5, value: 9 }], 10), undefined, 'one instant: no slope')
  t.equal(extrapolate([{ at: 5, value: 1 }], 10), undefined, 'one sample')
})

t.test('recommendations, one row per case', async (t) => {
  const rows: Array<{ name: string, spec: AutoscalerSpec, utils: number[], current: number, queueDepth?: number, want: number | undefined }> = [
    // 50, 55, 60 a minute apart: +5/min; at now + 10 min: 110 → capped at 100; ceil(4 × 100 / 70) = 6.
    { name: 'rising trend, capped at 100%', spec: predictive(), utils: [50, 55, 60], current: 4, want: 6 },
    // 40, 41, 42: +1/min; predicted 52; ceil(10 × 52 / 70) = ceil(7.43) = 8.
    { name: 'gently rising', spec: predictive(), utils: [40, 41, 42], current: 10, want: 8 },
    // 70, 72, 74, 76: +2/min, at 10 min after the last: 96; ceil(7 × 96 / 70) = ceil(9.6) = 10.
    { name: 'rising above target grows the pool', spec: predictive(), utils: [70, 72, 74, 76], current: 7, want: 10 },
    // 60, 55, 50: -5/min; predicted 0; ceil(0) = 0.
    { name: 'falling trend, floored at 0%', spec: predictive(), utils: [60, 55, 50], current: 4, want: 0 },
    // 80, 78, 76: -2/min → 56; ceil(10 × 56 / 70) = 8.
    { name: 'falling trend shrinks the pool', spec: predictive(), utils: [80, 78, 76], current: 10, want: 8 },
    { name: 'flat at target: exact, no float creep', spec: predictive(), utils: [70, 70, 70], current: 3, want: 3 },
    { name: 'two samples, no fallback: no opinion', spec: predictive(), utils: [50, 90], current: 4, want: undefined },
    { name: 'no samples, no fallback: no opinion', spec: predictive(), utils: [], current: 4, want: undefined },
    { name: 'two samples: the fallback decides', spec: predictive(queue(10)), utils: [50, 90], current: 4, queueDepth: 55, want: 6 },
    { name: 'enough samples: the fallback is not asked', spec: predictive(queue(10)), utils: [70, 70, 70], current: 3, queueDepth: 500, want: 3 },
  ]
  for (const row of rows) {
    const a = createAutoscaler(row.spec)
    row.utils.forEach((u, i) => a.observe(sig({ now: SUNDAY + i * MIN, utilization: u, queueDepth: row.queueDepth })))
    const now = SUNDAY + Math.max(0, row.utils.length - 1) * MIN
    t.equal(a.recommend(sig({ now, current: row.current, queueDepth: row.queueDepth }))?.desired, row.want, row.name)
  }
})

t.test('only samples inside the window shape the trend', async (t) => {
  const a = createAutoscaler(predictive(null, { windowMs: 3 * MIN, horizonMs: MIN }))
  // An old climb, then flat at 35 for the last three minutes.
  for (const [i, u] of [10, 50, 90, 35, 35, 35].entries()) a.observe(sig({ now: SUNDAY + i * MIN, utilization: u }))
  const r = a.recommend(sig({ now: SUNDAY + 5 * MIN, current: 4 }))
  t.equal(r?.desired, 2, 'flat 35%: ceil(4 × 35 / 70) = 2')
  t.match(r?.reason, /^trend \+0\.00%\/min over 3 samples predicts 35% in 1m/)
})

t.test('too few samples says so in the reason', async (t) => {
  const a = createAutoscaler(predictive(queue(10)))
  t.match(a.recommend(sig({ queueDepth: 5 }))?.reason, /^0 samples, too few for a trend; queue 5/)
})
