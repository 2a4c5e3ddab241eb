// The Scaler: clamps, cooldowns, the operator override, no autoscaler, soft state.
import t from 'tap'
import { AssertionError } from '../../../agent/lib/assert.js'
import { Scaler } from '../../../coordinator/autoscale/scaler.js'
import type { PoolSignals } from '../../../coordinator/autoscale/signals.js'
import type { AutoscalerSpec } from '../../../coordinator/autoscale/spec.js'
import { at, MIN, queue, reactive, sig, SUNDAY, win } from './support.js'

const COOL = { upMs: 3 * MIN, downMs: 10 * MIN }

/** Run decisions in order; each step: minutes after SUNDAY and signals; returns desired values. */
function run (scaler: Scaler, steps: Array<[number, Partial<PoolSignals>]>): number[] {
  return steps.map(([m, s]) => scaler.decide(sig({ now: SUNDAY + m * MIN, ...s })).desired)
}

t.test('clamps to [min, max], one row per case', async (t) => {
  const rows: Array<[string, AutoscalerSpec | null, number, number, Partial<PoolSignals>, number]> = [
    ['no autoscaler: min_nodes', null, 2, 10, { current: 0 }, 2],
    ['no autoscaler ignores current', null, 2, 10, { current: 7 }, 2],
    ['queue below min: lifted to min (a fresh pool reaches min)', queue(10), 3, 10, { current: 0, queueDepth: 0 }, 3],
    ['queue above max: cut to max', queue(10), 0, 10, { current: 0, queueDepth: 1000 }, 10],
    ['reactive below zero: min', reactive(), 0, 10, { current: 0, utilization: 0 }, 0],
    ['no opinion: hold current, clamped', queue(10), 2, 10, { current: 12 }, 10],
    ['no opinion on a fresh pool: min', reactive(), 2, 10, { current: 0 }, 2],
    ['min = max pins the pool', queue(10), 5, 5, { current: 0, queueDepth: 900 }, 5],
  ]
  for (const [name, spec, min, max, s, want] of rows) t.equal(new Scaler(spec, min, max).decide(sig(s)).desired, want, name)
})

t.test('cooldowns, one row per rule', async (t) => {
  const spec = queue(1, COOL)
  const rows: Array<[string, Array<[number, Partial<PoolSignals>]>, number[]]> = [
    ['first decision may scale up at once', [[0, { current: 4, queueDepth: 6 }]], [6]],
    ['after a scale-up, no further scale-up within up', [[0, { current: 4, queueDepth: 6 }], [2, { current: 4, queueDepth: 9 }], [3, { current: 4, queueDepth: 9 }]], [6, 6, 9]],
    ['after a scale-up, no scale-down within up nor down', [[0, { current: 4, queueDepth: 6 }], [5, { current: 6, queueDepth: 1 }], [10, { current: 6, queueDepth: 1 }]], [6, 6, 1]],
    ['a successor waits down before shrinking', [[0, { current: 8, queueDepth: 1 }], [9, { current: 8, queueDepth: 1 }], [10, { current: 8, queueDepth: 1 }]], [8, 8, 1]],
    ['a successor may grow at once', [[0, { current: 8, queueDepth: 12 }]], [12]],
    ['after a scale-down, scale-up is not blocked', [[0, { current: 8, queueDepth: 8 }], [10, { current: 8, queueDepth: 2 }], [11, { current: 2, queueDepth: 5 }]], [8, 2, 5]],
    ['after a scale-down, a second scale-down waits down',
      [[0, { current: 8, queueDepth: 8 }], [10, { current: 8, queueDepth: 6 }], [15, { current: 6, queueDepth: 2 }], [20, { current: 6, queueDepth: 2 }]], [8, 6, 6, 2]],
    ['a hold is never blocked and resets nothing', [[0, { current: 4, queueDepth: 6 }], [1, { current: 6, queueDepth: 6 }], [3, { current: 6, queueDepth: 7 }]], [6, 6, 7]],
  ]
  for (const [name, steps, want] of rows) t.same(run(new Scaler(spec, 0, 100), steps), want, name)
})

t.test('the reason says which cooldown held', async (t) => {
  const s = new Scaler(queue(1, COOL), 0, 100)
  s.decide(sig({ now: SUNDAY, queueDepth: 6 }))
  const d = s.decide(sig({ now: SUNDAY + MIN, queueDepth: 9 }))
  t.same(d, { desired: 6, reason: 'queue 9 / 1 jobs per node = 9; held: scale-up cooldown for 2m', changed: false })
  const e = s.decide(sig({ now: SUNDAY + 5 * MIN, queueDepth: 1 }))
  t.equal(e.reason, 'queue 1 / 1 jobs per node = 1; held: scale-down cooldown for 5m')
})

t.test('changed compares with the previous decision (the first with current)', async (t) => {
  const s = new Scaler(queue(1), 0, 100)
  t.equal(s.decide(sig({ current: 4, queueDepth: 4 })).changed, false, 'current 4, desired 4')
  t.equal(s.decide(sig({ current: 4, queueDepth: 5 })).changed, true)
  t.equal(s.decide(sig({ current: 4, queueDepth: 5 })).changed, false, 'still booting: desired unchanged')
})

t.test('bounds beat cooldowns: a schedule window starting mid-cooldown applies at once', async (t) => {
  const spec: AutoscalerSpec = { kind: 'scheduled', windows: [win([], '09:00', '17:00', 10, 20)], fallback: queue(1), cooldown: COOL }
  const s = new Scaler(spec, 0, 50)
  t.equal(s.decide(sig({ now: at(1, '08:58'), current: 4, queueDepth: 6 })).desired, 6, 'before the window')
  t.equal(s.decide(sig({ now: at(1, '09:00'), current: 4, queueDepth: 6 })).desired, 10, 'the window min, within up')
  t.equal(s.decide(sig({ now: at(1, '17:00'), current: 10, queueDepth: 6 })).desired, 6, 'after: the fallback, cooldowns long over')
  const capped = s.decide(sig({ now: at(2, '10:00'), current: 6, queueDepth: 40 }))
  t.equal(capped.desired, 20, 'inside the next window the fallback is capped at its max')
})

t.test('the override wins, clamped to the pool bounds, and ignores cooldowns', async (t) => {
  const s = new Scaler(queue(1, COOL), 2, 10)
  t.equal(s.decide(sig({ now: SUNDAY, queueDepth: 5 })).desired, 5)
  s.setOverride(8, SUNDAY + MIN)
  t.same(s.decide(sig({ now: SUNDAY + MIN, queueDepth: 5 })), { desired: 8, reason: 'operator override 8', changed: true })
  s.setOverride(50, SUNDAY + 2 * MIN)
  t.same(s.decide(sig({ now: SUNDAY + 2 * MIN, queueDepth: 5 })), { desired: 10, reason: 'operator override 50 clamped to 10', changed: true })
  s.setOverride(0, SUNDAY + 3 * MIN)
  t.equal(s.decide(sig({ now: SUNDAY + 3 * MIN, queueDepth: 5 })).desired, 2, 'clamped to min')
  t.equal(s.snapshot().override, 0)
  s.setOverride(undefined, SUNDAY + 4 * MIN)
  t.equal(s.decide(sig({ now: SUNDAY + 4 * MIN, queueDepth: 5 })).desired, 2, 'released: the override\'s own changes count for the up cooldown')
  t.equal(s.decide(sig({ now: SUNDAY + 5 * MIN, queueDepth: 5 })).desired, 5, 'up cooldown over: the autoscaler grows the pool back')
  t.equal(s.decide(sig({ now: SUNDAY + 9 * MIN, queueDepth: 3 })).desired, 5, 'changed recently: no scale-down yet')
  t.equal(s.decide(sig({ now: SUNDAY + 15 * MIN, queueDepth: 3 })).desired, 3, 'down cooldown over')
})

t.test('releasing an override blocks an immediate scale-down', async (t) => {
  const s = new Scaler(queue(1, COOL), 0, 10)
  s.decide(sig({ now: SUNDAY, current: 6, queueDepth: 6 }))
  s.setOverride(6, SUNDAY + 20 * MIN)
  s.decide(sig({ now: SUNDAY + 20 * MIN, current: 6, queueDepth: 1 }))
  s.setOverride(undefined, SUNDAY + 25 * MIN)
  t.equal(s.decide(sig({ now: SUNDAY + 26 * MIN, current: 6, queueDepth: 1 })).desired, 6, 'within down of the release')
  t.equal(s.decide(sig({ now: SUNDAY + 35 * MIN, current: 6, queueDepth: 1 })).desired, 1, 'down after the release')
})

t.test('the override with no autoscaler; releasing returns to min', async (t) => {
  const s = new Scaler(null, 1, 6)
  t.equal(s.decide(sig({ current: 0 })).desired, 1)
  s.setOverride(4, SUNDAY)
  t.equal(s.decide(sig({ current: 1 })).desired, 4)
  s.setOverride(undefined, SUNDAY)
  t.equal(s.decide(sig({ current: 4 })).desired, 1)
  t.equal(s.snapshot().autoscaler, 'none')
})

t.test('the autoscaler keeps observing under an override', async (t) => {
  const s = new Scaler(reactive(), 0, 100)
  s.setOverride(3, SUNDAY)
  s.decide(sig({ now: SUNDAY, current: 3, utilization: 95 }))
  t.equal(s.snapshot().desired, 3)
  s.setOverride(undefined, SUNDAY + MIN)
  t.equal(s.decide(sig({ now: SUNDAY + MIN, current: 3 })).desired, 4, 'the sample taken under the override counts')
})

t.test('invariants are asserted', async (t) => {
  t.throws(() => new Scaler(null, 5, 4), AssertionError, 'min > max')
  t.throws(() => new Scaler(null, -1, 4), AssertionError, 'negative min')
  t.throws(() => new Scaler(queue(0), 0, 4), AssertionError, 'a bad spec')
  const s = new Scaler(queue(1), 0, 4)
  t.throws(() => s.setOverride(-2, SUNDAY), AssertionError, 'negative override')
  t.throws(() => s.setOverride(1.5, SUNDAY), AssertionError, 'fractional override')
  t.throws(() => s.decide(sig({ healthy: 5, current: 4 })), AssertionError, 'healthy > current')
  t.throws(() => s.decide(sig({ utilization: 101 })), AssertionError, 'utilization > 100')
  t.throws(() => s.decide(sig({ queueDepth: -1 })), AssertionError, 'negative queue')
  t.throws(() => s.decide(sig({ current: 1.5 })), AssertionError, 'fractional current')
})

t.test('seeded random signals never break min ≤ desired ≤ max', async (t) => {
  let x = 0x5eed
  const rand = (n: number): number => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x % n }
  const spec: AutoscalerSpec = {
    kind: 'composite', mode: 'avg', cooldown: COOL,
    children: [reactive({ cooldown: COOL }), queue(3), { kind: 'scheduled', windows: [win([1, 3], '20:00', '04:00', 2, 7)], fallback: null, cooldown: COOL }],
  }
  const s = new Scaler(spec, 1, 12)
  let now = SUNDAY
  let bad = 0
  for (let i = 0; i < 5000; i++) {
    now += rand(20 * MIN)
    if (rand(50) === 0) s.setOverride(rand(3) === 0 ? undefined : rand(30), now)
    const current = rand(15)
    const d = s.decide(sig({ now, current, healthy: rand(current + 1), utilization: rand(4) === 0 ? undefined : rand(101), queueDepth: rand(3) === 0 ? undefined : rand(60) }))
    if (!(d.desired >= 1 && d.desired <= 12)) bad++
  }
  t.equal(bad, 0, 'seed 0x5eed, 5,000 decisions')
})
