// Scheduled: UTC windows [start, end) with day filters and midnight wrap narrow the bounds.
import t from 'tap'
import { createAutoscaler } from '../../../coordinator/autoscale/create.js'
import { utcDayMinute, windowContains } from '../../../coordinator/autoscale/scheduled.js'
import type { AutoscalerSpec, ScheduleWindow } from '../../../coordinator/autoscale/spec.js'
import { at, NO_COOLDOWN, queue, sig, SUNDAY, win } from './support.js'

t.test('UTC weekday and minute from epoch ms', async (t) => {
  t.same(utcDayMinute(0), { day: 4, minute: 0 }, '1970-01-01 was a Thursday')
  t.same(utcDayMinute(SUNDAY), { day: 0, minute: 0 })
  t.same(utcDayMinute(at(6, '23:59') + 59_999), { day: 6, minute: 1439 })
  t.same(utcDayMinute(at(7, '00:00')), { day: 0, minute: 0 }, 'next Sunday')
  t.same(utcDayMinute(Date.UTC(2024, 1, 29, 13, 45)), { day: 4, minute: 825 }, 'a leap day, Thursday')
})

t.test('windowContains, one row per rule', async (t) => {
  const weekday = [1, 2, 3, 4, 5]
  const rows: Array<[string, ScheduleWindow, number, boolean]> = [
    ['inside a day window', win([], '09:00', '17:00', 1, 1), at(2, '12:00'), true],
    ['start is inclusive', win([], '09:00', '17:00', 1, 1), at(2, '09:00'), true],
    ['end is exclusive', win([], '09:00', '17:00', 1, 1), at(2, '17:00'), false],
    ['last minute before end', win([], '09:00', '17:00', 1, 1), at(2, '16:59'), true],
    ['before start', win([], '09:00', '17:00', 1, 1), at(2, '08:59'), false],
    ['day filter: Saturday is not a weekday', win(weekday, '09:00', '17:00', 1, 1), at(6, '12:00'), false],
    ['day filter: Monday is', win(weekday, '09:00', '17:00', 1, 1), at(1, '12:00'), true],
    ['wrap: 22:00-06:00 at 23:00', win([], '22:00', '06:00', 1, 1), at(3, '23:00'), true],
    ['wrap: 22:00-06:00 at 03:00', win([], '22:00', '06:00', 1, 1), at(3, '03:00'), true],
    ['wrap: midnight itself', win([], '22:00', '06:00', 1, 1), at(3, '00:00'), true],
    ['wrap: end exclusive at 06:00', win([], '22:00', '06:00', 1, 1), at(3, '06:00'), false],
    ['wrap: noon is outside', win([], '22:00', '06:00', 1, 1), at(3, '12:00'), false],
    ['wrap + days: Fri 22:00 starts it', win([5], '22:00', '06:00', 1, 1), at(5, '22:00'), true],
    ['wrap + days: Sat 03:00 belongs to Friday', win([5], '22:00', '06:00', 1, 1), at(6, '03:00'), true],
    ['wrap + days: Fri 03:00 belongs to Thursday', win([5], '22:00', '06:00', 1, 1), at(5, '03:00'), false],
    ['wrap + days: Sat 23:00 is not Friday', win([5], '22:00', '06:00', 1, 1), at(6, '23:00'), false],
    ['wrap + days: Saturday-night window reaches Sunday 01:00', win([6], '23:00', '02:00', 1, 1), at(7, '01:00'), true],
    ['start = end: the whole day', win([0], '00:00', '00:00', 1, 1), at(0, '23:59'), true],
    ['start = end on another day', win([0], '00:00', '00:00', 1, 1), at(1, '00:00'), false],
  ]
  for (const [name, w, now, want] of rows) t.equal(windowContains(w, now), want, name)
})

function scheduled (windows: ScheduleWindow[], fallback: AutoscalerSpec | null = null): AutoscalerSpec {
  return { kind: 'scheduled', windows, fallback, cooldown: NO_COOLDOWN }
}

t.test('recommendations, one row per case', async (t) => {
  const business = win([1, 2, 3, 4, 5], '09:00', '17:00', 10, 20)
  const night = win([], '22:00', '06:00', 0, 2)
  const rows: Array<{ name: string, spec: AutoscalerSpec, now: number, current: number, queueDepth?: number,
    want: number, bounds: { min: number, max: number } | undefined }> = [
    { name: 'no fallback, in a window: current lifted to the window min', spec: scheduled([business]), now: at(1, '10:00'), current: 4, want: 10, bounds: { min: 10, max: 20 } },
    { name: 'no fallback, in a window: current cut to the window max', spec: scheduled([night]), now: at(1, '23:00'), current: 4, want: 2, bounds: { min: 0, max: 2 } },
    { name: 'no fallback, no window: hold current', spec: scheduled([business]), now: at(6, '10:00'), current: 4, want: 4, bounds: undefined },
    { name: 'first matching window wins', spec: scheduled([night, win([], '00:00', '00:00', 5, 5)]), now: at(2, '01:00'), current: 4, want: 2, bounds: { min: 0, max: 2 } },
    { name: 'fallback sized inside the window', spec: scheduled([business], queue(10)), now: at(2, '10:00'), current: 4, queueDepth: 150, want: 15, bounds: { min: 10, max: 20 } },
    { name: 'fallback capped by the window max', spec: scheduled([business], queue(10)), now: at(2, '10:00'), current: 4, queueDepth: 900, want: 20, bounds: { min: 10, max: 20 } },
    { name: 'fallback lifted to the window min', spec: scheduled([business], queue(10)), now: at(2, '10:00'), current: 4, queueDepth: 0, want: 10, bounds: { min: 10, max: 20 } },
    { name: 'fallback alone outside windows', spec: scheduled([business], queue(10)), now: at(0, '10:00'), current: 4, queueDepth: 0, want: 0, bounds: undefined },
    { name: 'fallback with no opinion, in a window: the window holds', spec: scheduled([business], queue(10)), now: at(2, '10:00'), current: 25, want: 20, bounds: { min: 10, max: 20 } },
    { name: 'window past the pool max is cut to it', spec: scheduled([win([], '00:00', '00:00', 200, 300)]), now: at(2, '10:00'), current: 4, want: 100, bounds: { min: 100, max: 100 } },
  ]
  for (const row of rows) {
    const a = createAutoscaler(row.spec)
    const s = sig({ now: row.now, current: row.current, queueDepth: row.queueDepth })
    a.observe(s)
    const r = a.recommend(s)
    t.equal(r?.desired, row.want, row.name)
    t.same(r?.bounds, row.bounds, `${row.name}: bounds`)
  }
})

t.test('fallback with no opinion outside any window: no opinion', async (t) => {
  const a = createAutoscaler(scheduled([win([1], '09:00', '17:00', 10, 20)], queue(10)))
  t.equal(a.recommend(sig({ now: at(0, '10:00') })), undefined)
})

t.test('the fallback sees the window bounds as min and max', async (t) => {
  const a = createAutoscaler(scheduled([win([], '09:00', '17:00', 3, 6)], queue(1)))
  const r = a.recommend(sig({ now: at(2, '10:00'), queueDepth: 9 }))
  t.equal(r?.desired, 6)
  t.match(r?.reason, /^window daily 09:00-17:00 \[3, 6\]; queue 9/)
})
