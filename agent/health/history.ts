// What a GPU did recently, for rules that need more than the current sample: counts of events and
// bursts in a window, and the increase or rate of a counter over a window ("3 DBE in 10 minutes",
// "PCIe replays per second over 5 minutes"). Bounded in points and age; pure, driven by `now`.
import { assert } from '../lib/assert.js'

export interface HistoryLimits {
  /** Points kept per counter. 600 keeps 1 Hz for a 10-minute window; longer windows thin to fit. */
  maxPoints: number
  /** Events kept per GPU. A GPU logging more than this within the longest window is judged on the last ones. */
  maxEvents: number
  /** Events further apart than this are separate bursts (NVIDIA: 3 minutes). */
  burstGapMs: number
}

export const DEFAULT_HISTORY_LIMITS: HistoryLimits = { maxPoints: 600, maxEvents: 1000, burstGapMs: 180_000 }

interface Point { readonly t: number, readonly acc: number }

/**
 * A counter as the running sum of its increases: a drop is a reset (driver reload, GPU reset) and
 * counts as growth from zero, so thinning old points or a reset between them loses nothing.
 */
class Series {
  readonly #points: Point[] = []
  readonly #windowMs: number
  readonly #spacingMs: number
  #last: number | undefined
  #acc = 0

  constructor (windowMs: number, maxPoints: number) {
    this.#windowMs = windowMs
    this.#spacingMs = windowMs / maxPoints
  }

  push (t: number, v: number): void {
    if (this.#last !== undefined) this.#acc += v >= this.#last ? v - this.#last : v
    this.#last = v
    const pts = this.#points
    const tail = pts[pts.length - 1]
    if (tail !== undefined) assert(t >= tail.t, `history: time went back from ${tail.t} to ${t}`)
    // Keep the newest value always; thin older ones to the spacing the window needs.
    const prev = pts[pts.length - 2]
    if (tail !== undefined && prev !== undefined && tail.t - prev.t < this.#spacingMs) pts.pop()
    pts.push({ t, acc: this.#acc })
    // One point older than the window stays as the baseline for increase().
    while (pts.length > 2 && pts[1]!.t <= t - this.#windowMs) pts.shift()
  }

  /** Growth over the window ending now; over what is known if the history is shorter. */
  increase (now: number, windowMs: number): { growth: number, spanMs: number } {
    const pts = this.#points
    const tail = pts[pts.length - 1]
    if (tail === undefined) return { growth: 0, spanMs: 0 }
    const from = now - windowMs
    let base = pts[0]!
    for (const p of pts) {
      if (p.t > from) break
      base = p
    }
    return { growth: tail.acc - base.acc, spanMs: tail.t - base.t }
  }
}

interface Recorded { readonly t: number, readonly selectors: readonly string[] }

export class GpuHistory {
  readonly #series = new Map<string, Series>()
  readonly #events: Recorded[] = []
  readonly #limits: HistoryLimits
  readonly #eventWindowMs: number

  /** `tracked`: each counter a rule reads, with the longest window any rule reads it over. */
  constructor (tracked: ReadonlyMap<string, number>, eventWindowMs: number, limits: HistoryLimits) {
    this.#limits = limits
    this.#eventWindowMs = eventWindowMs
    for (const [path, windowMs] of tracked) this.#series.set(path, new Series(windowMs, limits.maxPoints))
  }

  recordNumbers (numbers: ReadonlyMap<string, number>, now: number): void {
    for (const [path, v] of numbers) this.#series.get(path)?.push(now, v)
  }

  recordEvent (selectors: readonly string[], now: number): void {
    const ev = this.#events
    ev.push({ t: now, selectors })
    while (ev.length > this.#limits.maxEvents || (ev.length > 0 && ev[0]!.t <= now - this.#eventWindowMs)) ev.shift()
  }

  count (selector: string, windowMs: number, now: number): number {
    let n = 0
    for (const e of this.#events) if (e.t > now - windowMs && e.selectors.includes(selector)) n++
    return n
  }

  /** Distinct bursts with a matching event in the window: repeats after a quiet spell, not echoes. */
  bursts (selector: string, windowMs: number, now: number): number {
    let n = 0
    let last = -Infinity
    for (const e of this.#events) {
      if (e.t <= now - windowMs || !e.selectors.includes(selector)) continue
      if (e.t - last > this.#limits.burstGapMs) n++
      last = e.t
    }
    return n
  }

  increase (path: string, windowMs: number, now: number): number {
    return this.#series.get(path)?.increase(now, windowMs).growth ?? 0
  }

  /** Per second, over the part of the window that history covers. */
  rate (path: string, windowMs: number, now: number): number {
    const r = this.#series.get(path)?.increase(now, windowMs)
    return r === undefined || r.spanMs <= 0 ? 0 : r.growth / (r.spanMs / 1000)
  }
}
