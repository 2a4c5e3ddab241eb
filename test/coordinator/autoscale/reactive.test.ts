// Reactive: mean utilization over the window against scale_up_at / scale_down_at, ± step.
import t from 'tap'
import { createAutoscaler } from '../../../coordinator/autoscale/create.js'
import { MIN, reactive, sig, SUNDAY } from './support.js'

t.test('the formula, one row per rule', async (t) => {
  const rows: Array<{ name: string, utils: number[], current: number, step?: number, want: number | undefined }> = [
    { name: 'no utilization yet: no opinion', utils: [], current: 4, want: undefined },
    { name: 'mean above scale_up_at: current + step', utils: [90, 85, 95], current: 4, want: 5 },
    { name: 'step 3', utils: [90], current: 4, step: 3, want: 7 },
    { name: 'exactly scale_up_at holds (strictly above)', utils: [80], current: 4, want: 4 },
    { name: 'mean below scale_down_at: current - step', utils: [10, 15, 5], current: 4, want: 3 },
    { name: 'exactly scale_down_at holds (strictly below)', utils: [20], current: 4, want: 4 },
    { name: 'between: hold at current', utils: [50, 60], current: 4, want: 4 },
    { name: 'the mean decides, not the last sample', utils: [100, 100, 10], current: 4, want: 4 },
    { name: 'a spike in a low window still averages low', utils: [0, 0, 0, 70], current: 4, want: 3 },
    { name: 'below may go under zero; the Scaler clamps', utils: [0], current: 0, want: -1 },
  ]
  for (const row of rows) {
    const a = createAutoscaler(reactive({ step: row.step ?? 1 }))
    row.utils.forEach((u, i) => a.observe(sig({ now: SUNDAY + i * 30_000, utilization: u })))
    const s = sig({ now: SUNDAY + Math.max(0, row.utils.length - 1) * 30_000, current: row.current })
    t.equal(a.recommend(s)?.desired, row.want, row.name)
  }
})

t.test('samples older than the window are forgotten', async (t) => {
  const a = createAutoscaler(reactive({ windowMs: 5 * MIN }))
  a.observe(sig({ now: SUNDAY, utilization: 100 }))
  a.observe(sig({ now: SUNDAY + 4 * MIN, utilization: 10 }))
  t.equal(a.recommend(sig({ now: SUNDAY + 4 * MIN }))?.desired, 4, 'mean 55: hold')
  t.equal(a.recommend(sig({ now: SUNDAY + 5 * MIN }))?.desired, 3, 'the 100 is 5 min old: out; mean 10')
  t.equal(a.recommend(sig({ now: SUNDAY + 9 * MIN + 1 })), undefined, 'all samples out: no opinion')
})

t.test('a clock stepped backwards starts the window over', async (t) => {
  const a = createAutoscaler(reactive())
  a.observe(sig({ now: SUNDAY + MIN, utilization: 100 }))
  a.observe(sig({ now: SUNDAY, utilization: 10 }))
  t.equal(a.recommend(sig({ now: SUNDAY }))?.desired, 3, 'only the sample after the step counts')
})

t.test('the reason names the mean, the window and the threshold', async (t) => {
  const a = createAutoscaler(reactive())
  a.observe(sig({ utilization: 90 }))
  t.equal(a.recommend(sig())?.reason, 'utilization 90% over 5m > 80%: +1')
})

t.test('the window is bounded: the oldest samples go first', async (t) => {
  const a = createAutoscaler(reactive({ windowMs: 10 * 24 * 60 * MIN }))
  // 4,096 samples at 90, then 4,096 at 10: only the last 4,096 remain, mean 10.
  for (let i = 0; i < 8192; i++) a.observe(sig({ now: SUNDAY + i * 1000, utilization: i < 4096 ? 90 : 10 }))
  t.equal(a.recommend(sig({ now: SUNDAY + 8191 * 1000 }))?.desired, 3)
})
