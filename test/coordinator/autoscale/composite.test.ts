// Composite: max, min or average (rounded up) of the children that have an opinion.
import t from 'tap'
import { createAutoscaler } from '../../../coordinator/autoscale/create.js'
import type { AutoscalerSpec } from '../../../coordinator/autoscale/spec.js'
import { NO_COOLDOWN, queue, reactive, sig, win } from './support.js'

function composite (mode: 'max' | 'min' | 'avg', children: AutoscalerSpec[]): AutoscalerSpec {
  return { kind: 'composite', mode, children, cooldown: NO_COOLDOWN }
}

t.test('modes, one row per case', async (t) => {
  // With current 4: reactive at 90% says 5; queue(10) at depth 75 says 8; queue(1) at 75 says 75.
  const rows: Array<{ name: string, mode: 'max' | 'min' | 'avg', children: AutoscalerSpec[], utilization?: number, queueDepth?: number, want: number | undefined }> = [
    { name: 'max', mode: 'max', children: [reactive(), queue(10)], utilization: 90, queueDepth: 75, want: 8 },
    { name: 'min', mode: 'min', children: [reactive(), queue(10)], utilization: 90, queueDepth: 75, want: 5 },
    { name: 'avg rounds up: (5 + 8) / 2 = 6.5 → 7', mode: 'avg', children: [reactive(), queue(10)], utilization: 90, queueDepth: 75, want: 7 },
    { name: 'avg exact: (5 + 8 + 75) / 3 = 29.33 → 30', mode: 'avg', children: [reactive(), queue(10), queue(1)], utilization: 90, queueDepth: 75, want: 30 },
    { name: 'max skips a child with no opinion (no utilization)', mode: 'max', children: [reactive(), queue(10)], queueDepth: 15, want: 2 },
    { name: 'min skips a child with no opinion: no pull to 0', mode: 'min', children: [reactive(), queue(10)], utilization: 90, want: 5 },
    { name: 'avg over the opinionated only', mode: 'avg', children: [reactive(), queue(10), queue(1)], queueDepth: 30, want: 17 },
    { name: 'no child has an opinion: none', mode: 'max', children: [reactive(), queue(10)], want: undefined },
    { name: 'nested composite', mode: 'min', children: [composite('max', [queue(10), queue(5)]), queue(1)], queueDepth: 50, want: 10 },
  ]
  for (const row of rows) {
    const a = createAutoscaler(composite(row.mode, row.children))
    const s = sig({ current: 4, utilization: row.utilization, queueDepth: row.queueDepth })
    a.observe(s)
    t.equal(a.recommend(s)?.desired, row.want, row.name)
  }
})

t.test('children observe through the composite (reactive keeps its window)', async (t) => {
  const a = createAutoscaler(composite('max', [reactive()]))
  a.observe(sig({ utilization: 95 }))
  t.equal(a.recommend(sig({ utilization: undefined }))?.desired, 5, 'the sample observed earlier still counts')
})

t.test('a scheduled child passes its window bounds up', async (t) => {
  const sched: AutoscalerSpec = { kind: 'scheduled', windows: [win([], '00:00', '00:00', 6, 9)], fallback: null, cooldown: NO_COOLDOWN }
  const a = createAutoscaler(composite('max', [sched, queue(10)]))
  const r = a.recommend(sig({ current: 4, queueDepth: 500 }))
  t.equal(r?.desired, 50, 'the composite combines; the Scaler clamps')
  t.same(r?.bounds, { min: 6, max: 9 })
  t.match(r?.reason, /^max of 2\/2 = 50 \(window daily 00:00-00:00 \[6, 9\]: 6 \| queue 500/)
})
