// Queue depth: ceil(queue_depth / jobs_per_node).
import t from 'tap'
import { createAutoscaler } from '../../../coordinator/autoscale/create.js'
import { queue, sig } from './support.js'

t.test('the formula, one row per case', async (t) => {
  const rows: Array<[string, number, number | undefined, number | undefined]> = [
    ['never reported: no opinion', 10, undefined, undefined],
    ['empty queue: 0 (the Scaler lifts it to min)', 10, 0, 0],
    ['one job needs one node', 10, 1, 1],
    ['exact multiple', 10, 30, 3],
    ['one over a multiple rounds up', 10, 31, 4],
    ['one job per node', 1, 7, 7],
    ['fractional depth from a metrics source rounds up', 4, 8.5, 3],
    ['a large queue', 10, 100_000, 10_000],
  ]
  for (const [name, perNode, depth, want] of rows) {
    const a = createAutoscaler(queue(perNode))
    a.observe(sig({ queueDepth: depth }))
    t.equal(a.recommend(sig({ queueDepth: depth }))?.desired, want, name)
  }
})

t.test('the queue ignores current size and utilization', async (t) => {
  const a = createAutoscaler(queue(10))
  t.equal(a.recommend(sig({ current: 50, utilization: 99, queueDepth: 25 }))?.desired, 3)
  t.equal(a.recommend(sig({ queueDepth: 25 }))?.reason, 'queue 25 / 10 jobs per node = 3')
})
