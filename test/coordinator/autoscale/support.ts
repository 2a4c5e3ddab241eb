// Builders for the autoscaler tests: signals with defaults, specs with defaults, a fixed epoch.
import type { PoolSignals } from '../../../coordinator/autoscale/signals.js'
import type { AutoscalerSpec, Cooldowns, ScheduleWindow } from '../../../coordinator/autoscale/spec.js'

/** Sunday 2024-01-07 00:00 UTC. */
export const SUNDAY = Date.UTC(2024, 0, 7)
export const MIN = 60_000
export const HOUR = 60 * MIN
export const DAY = 24 * HOUR

export const NO_COOLDOWN: Cooldowns = { upMs: 0, downMs: 0 }

export function sig (over: Partial<PoolSignals> = {}): PoolSignals {
  const current = over.current ?? 4
  return { now: SUNDAY, current, healthy: current, min: 0, max: 100, utilization: undefined, queueDepth: undefined, ...over }
}

export function reactive (over: Partial<Extract<AutoscalerSpec, { kind: 'reactive' }>> = {}): AutoscalerSpec {
  return { kind: 'reactive', scaleUpAt: 80, scaleDownAt: 20, step: 1, windowMs: 5 * MIN, cooldown: NO_COOLDOWN, ...over }
}

export function queue (jobsPerNode = 10, cooldown: Cooldowns = NO_COOLDOWN): AutoscalerSpec {
  return { kind: 'queue', jobsPerNode, cooldown }
}

export function win (days: number[], start: string, end: string, minNodes: number, maxNodes: number): ScheduleWindow {
  const m = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3))
  return { days, startMinute: m(start), endMinute: m(end), minNodes, maxNodes }
}

/** Sunday of the test week plus a day offset (0 = Sun … 6 = Sat) and "HH:MM". */
export function at (day: number, hhmm: string): number {
  return SUNDAY + day * DAY + Number(hhmm.slice(0, 2)) * HOUR + Number(hhmm.slice(3)) * MIN
}
