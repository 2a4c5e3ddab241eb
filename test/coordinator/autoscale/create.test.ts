// createAutoscaler, specProblem (the config parser's check) and describe (`shoal pools`).
import t from 'tap'
import { AssertionError } from '../../../agent/lib/assert.js'
import { createAutoscaler, describe, specProblem } from '../../../coordinator/autoscale/create.js'
import type { AutoscalerSpec } from '../../../coordinator/autoscale/spec.js'
import { MIN, NO_COOLDOWN, queue, reactive, win } from './support.js'

const predictive: AutoscalerSpec = { kind: 'predictive', windowMs: 15 * MIN, horizonMs: 10 * MIN, target: 70, fallback: queue(10), cooldown: NO_COOLDOWN }
const scheduled: AutoscalerSpec = { kind: 'scheduled', windows: [win([1, 2, 3, 4, 5], '09:00', '17:00', 4, 8), win([], '22:00', '06:00', 0, 1)], fallback: reactive(), cooldown: NO_COOLDOWN }

t.test('describe, one row per kind', async (t) => {
  const rows: Array<[AutoscalerSpec, string]> = [
    [queue(10), 'queue (10 jobs/node)'],
    [reactive(), 'reactive (up > 80%, down < 20%, step 1, over 5m)'],
    [scheduled, 'scheduled (Mon,Tue,Wed,Thu,Fri 09:00-17:00 [4, 8]; daily 22:00-06:00 [0, 1]; sized by reactive (up > 80%, down < 20%, step 1, over 5m))'],
    [predictive, 'predictive (target 70%, 10m ahead over 15m; until 3 samples queue (10 jobs/node))'],
    [{ kind: 'composite', mode: 'avg', children: [queue(5), reactive()], cooldown: NO_COOLDOWN }, 'composite avg of [queue (5 jobs/node), reactive (up > 80%, down < 20%, step 1, over 5m)]'],
  ]
  for (const [spec, want] of rows) t.equal(describe(spec), want)
})

t.test('createAutoscaler builds the right core', async (t) => {
  for (const spec of [queue(), reactive(), scheduled, predictive]) t.equal(createAutoscaler(spec).kind, spec.kind)
})

t.test('specProblem, one row per rule', async (t) => {
  const deep = (n: number): AutoscalerSpec => n === 0 ? queue() : { kind: 'composite', mode: 'max', children: [deep(n - 1)], cooldown: NO_COOLDOWN }
  const rows: Array<[string, AutoscalerSpec, RegExp | undefined]> = [
    ['a good reactive', reactive(), undefined],
    ['a good scheduled with fallback', scheduled, undefined],
    ['a good predictive', predictive, undefined],
    ['down not below up', reactive({ scaleDownAt: 80 }), /scale_down_at \(80\) must be below scale_up_at \(80\)/],
    ['up over 100', reactive({ scaleUpAt: 120 }), /scale_up_at must be 0\.\.100/],
    ['step 0', reactive({ step: 0 }), /step must be a whole number/],
    ['window 0', reactive({ windowMs: 0 }), /autoscaling\.window must be a duration > 0/],
    ['negative cooldown', reactive({ cooldown: { upMs: -1, downMs: 0 } }), /cooldown\.up must be a duration/],
    ['jobs_per_node 0', queue(0), /jobs_per_node/],
    ['no windows', { ...scheduled, windows: [] }, /windows must list at least one/],
    ['day 7', { ...scheduled, windows: [win([7], '09:00', '10:00', 1, 2)] }, /windows\[0\]\.days/],
    ['window min over max', { ...scheduled, windows: [win([], '09:00', '10:00', 3, 2)] }, /min_nodes \(3\) must not exceed max_nodes \(2\)/],
    ['minute 1440', { ...scheduled, windows: [{ days: [], startMinute: 1440, endMinute: 0, minNodes: 0, maxNodes: 1 }] }, /start must be HH:MM/],
    ['bad fallback names its path', { ...scheduled, fallback: queue(0) }, /^autoscaling\.fallback\.jobs_per_node/],
    ['target 0', { ...predictive, target: 0 }, /target must be in \(0, 100\]/],
    ['horizon 0', { ...predictive, horizonMs: 0 }, /horizon must be/],
    ['empty composite', { kind: 'composite', mode: 'max', children: [], cooldown: NO_COOLDOWN }, /autoscalers must list/],
    ['bad child names its index', { kind: 'composite', mode: 'max', children: [queue(), queue(0)], cooldown: NO_COOLDOWN }, /^autoscaling\.autoscalers\[1\]\.jobs_per_node/],
    ['depth 4 is fine', deep(3), undefined],
    ['depth 5 is not', deep(4), /nested deeper than 4/],
  ]
  for (const [name, spec, want] of rows) {
    const got = specProblem(spec)
    if (want === undefined) t.equal(got, undefined, name)
    else t.match(got, want, name)
  }
})

t.test('createAutoscaler asserts a bad spec', async (t) => {
  t.throws(() => createAutoscaler(queue(0)), AssertionError)
})
