// Scheduled: UTC time windows that narrow the pool's bounds; a fallback sizes the pool inside them.
import { assert } from '../../agent/lib/assert.js'
import type { Autoscaler, Bounds, PoolSignals, Recommendation } from './signals.js'
import { clamp, narrowBounds } from './signals.js'
import type { AutoscalerSpec, ScheduleWindow } from './spec.js'

type ScheduledSpec = Extract<AutoscalerSpec, { kind: 'scheduled' }>

const DAY_MS = 86_400_000
const DAY_MINUTES = 1440
const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const

/** UTC weekday (0 = Sunday) and minute of the day. 1970-01-01 was a Thursday. */
export function utcDayMinute (now: number): { day: number, minute: number } {
  assert(Number.isFinite(now) && now >= 0, `now must be epoch ms, got ${now}`)
  const days = Math.floor(now / DAY_MS)
  return { day: (days + 4) % 7, minute: Math.floor((now - days * DAY_MS) / 60_000) }
}

function onDay (w: ScheduleWindow, day: number): boolean {
  return w.days.length === 0 || w.days.includes(day)
}

/**
 * [start, end) in UTC. end < start wraps midnight and belongs to the day it starts (Fri 22:00–06:00
 * covers Saturday 03:00); start = end is the whole day.
 */
export function windowContains (w: ScheduleWindow, now: number): boolean {
  const { day, minute } = utcDayMinute(now)
  if (w.startMinute === w.endMinute) return onDay(w, day)
  if (w.startMinute < w.endMinute) return onDay(w, day) && minute >= w.startMinute && minute < w.endMinute
  return (onDay(w, day) && minute >= w.startMinute) || (onDay(w, (day + 6) % 7) && minute < w.endMinute)
}

export function formatWindow (w: ScheduleWindow): string {
  const hhmm = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`
  const days = w.days.length === 0 ? 'daily' : w.days.map((d) => DAY_NAMES[d] ?? '?').join(',')
  return `${days} ${hhmm(w.startMinute)}-${hhmm(w.endMinute)} [${w.minNodes}, ${w.maxNodes}]`
}

export class ScheduledAutoscaler implements Autoscaler {
  readonly kind = 'scheduled'

  constructor (private readonly spec: ScheduledSpec, private readonly fallback: Autoscaler | null) {
    assert((spec.fallback === null) === (fallback === null), 'scheduled: fallback spec and core disagree')
    for (const w of spec.windows) assert(w.startMinute >= 0 && w.startMinute < DAY_MINUTES && w.endMinute >= 0 && w.endMinute < DAY_MINUTES, 'scheduled: window minute out of range')
  }

  observe (s: PoolSignals): void {
    this.fallback?.observe(s)
  }

  recommend (s: PoolSignals): Recommendation | undefined {
    const w = this.spec.windows.find((w) => windowContains(w, s.now))
    const bounds: Bounds = w === undefined ? { min: s.min, max: s.max } : narrowBounds(s, { min: w.minNodes, max: w.maxNodes })
    const inner: PoolSignals = { ...s, min: bounds.min, max: bounds.max }
    const rec = this.fallback?.recommend(inner)
    const where = w === undefined ? 'no window' : `window ${formatWindow(w)}`
    const out = (desired: number, reason: string): Recommendation => w === undefined ? { desired, reason } : { desired, reason, bounds }
    if (rec !== undefined) return out(clamp(rec.desired, bounds), `${where}; ${rec.reason}`)
    // Outside windows a fallback with no opinion leaves none: the Scaler holds its last size.
    if (w === undefined && this.fallback !== null) return undefined
    // Inside a window the window is an opinion on its own (its min holds even with no data).
    const held = clamp(s.current, bounds)
    return out(held, this.fallback === null ? `${where}: ${held}` : `${where}; fallback has no opinion: ${held}`)
  }
}
