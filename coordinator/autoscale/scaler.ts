// One pool's size decision: the autoscaler's recommendation (or the operator's override), clamped
// to the pool's bounds and paced by cooldowns. A deterministic core; its state is soft: a successor
// coordinator builds a fresh Scaler, which starts from the pool's current size.
import { assert } from '../../agent/lib/assert.js'
import { formatDuration } from '../../agent/lib/duration.js'
import { createAutoscaler, describe } from './create.js'
import type { Autoscaler, Bounds, PoolSignals } from './signals.js'
import { clamp, narrowBounds } from './signals.js'
import type { AutoscalerSpec } from './spec.js'

export interface Decision {
  /** Nodes the planner should converge the pool to; always within [min, max]. */
  readonly desired: number
  readonly reason: string
  /** desired differs from the previous decision's (the first decision compares with current). */
  readonly changed: boolean
}

export interface ScalerSnapshot {
  readonly autoscaler: string
  readonly desired: number | undefined
  readonly override: number | undefined
  readonly lastUpAt: number | undefined
  readonly lastChangeAt: number | undefined
}

export class Scaler {
  private readonly core: Autoscaler | null
  private readonly bounds: Bounds
  private desired: number | undefined
  private override: number | undefined
  private lastUpAt: number | undefined
  private lastChangeAt: number | undefined

  constructor (private readonly spec: AutoscalerSpec | null, min: number, max: number) {
    assert(Number.isSafeInteger(min) && Number.isSafeInteger(max) && min >= 0 && min <= max, `pool bounds must satisfy 0 ≤ min ≤ max, got [${min}, ${max}]`)
    this.bounds = { min, max }
    this.core = spec === null ? null : createAutoscaler(spec)
  }

  /** False: the pool's size is min_nodes or the operator's override, whatever the time or the signals. */
  get autoscaling (): boolean { return this.spec !== null }

  /** `shoal scale POOL N` (undefined clears it). Wins over the autoscaler, within [min, max]. */
  setOverride (n: number | undefined, now: number): void {
    assert(n === undefined || (Number.isSafeInteger(n) && n >= 0), `override must be a whole number ≥ 0, got ${n}`)
    assert(Number.isFinite(now), 'now must be finite')
    // Releasing the override counts as a change: the autoscaler may not shrink the pool at once.
    if (n === undefined && this.override !== undefined) this.lastChangeAt = now
    this.override = n
  }

  decide (signals: PoolSignals): Decision {
    checkSignals(signals)
    const s: PoolSignals = { ...signals, min: this.bounds.min, max: this.bounds.max }
    const first = this.desired === undefined
    const prev = this.desired ?? clamp(s.current, this.bounds)
    // A successor does not know when the pool last changed: assume just now, so it cannot shrink
    // the pool within cooldown.down of taking over.
    if (first && this.core !== null) this.lastChangeAt ??= s.now
    this.core?.observe(s)
    const rec = this.core?.recommend(s)
    const next = this.choose(s, prev, rec)
    assert(next.desired >= this.bounds.min && next.desired <= this.bounds.max && Number.isSafeInteger(next.desired),
      `desired ${next.desired} outside [${this.bounds.min}, ${this.bounds.max}]`)
    const changed = next.desired !== prev
    if (changed) {
      this.lastChangeAt = s.now
      if (next.desired > prev) this.lastUpAt = s.now
    }
    this.desired = next.desired
    return { desired: next.desired, reason: next.reason, changed }
  }

  private choose (s: PoolSignals, prev: number, rec: ReturnType<Autoscaler['recommend']>): { desired: number, reason: string } {
    if (this.override !== undefined) {
      const desired = clamp(this.override, this.bounds)
      return { desired, reason: `operator override ${this.override}${desired === this.override ? '' : ` clamped to ${desired}`}` }
    }
    if (this.spec === null) return { desired: this.bounds.min, reason: `no autoscaler: min_nodes ${this.bounds.min}` }
    const bounds = rec?.bounds === undefined ? this.bounds : narrowBounds(this.bounds, rec.bounds)
    if (rec === undefined) return bounded(prev, bounds, 'no opinion yet: hold')
    const wanted = clamp(rec.desired, bounds)
    const blocked = this.cooldown(s.now, prev, wanted)
    // Bounds beat cooldowns: min ≤ desired ≤ max is an invariant, a cooldown only paces.
    return blocked === undefined ? bounded(wanted, bounds, rec.reason) : bounded(prev, bounds, `${rec.reason}; ${blocked}`)
  }

  /** Why a move from prev to wanted must wait, or undefined. */
  private cooldown (now: number, prev: number, wanted: number): string | undefined {
    if (wanted === prev || this.spec === null) return undefined
    const { upMs, downMs } = this.spec.cooldown
    const upUntil = this.lastUpAt === undefined ? -Infinity : this.lastUpAt + upMs
    if (now < upUntil) return `held: scale-up cooldown for ${formatDuration(upUntil - now)}`
    const downUntil = this.lastChangeAt === undefined ? -Infinity : this.lastChangeAt + downMs
    if (wanted < prev && now < downUntil) return `held: scale-down cooldown for ${formatDuration(downUntil - now)}`
    return undefined
  }

  snapshot (): ScalerSnapshot {
    return {
      autoscaler: this.spec === null ? 'none' : describe(this.spec),
      desired: this.desired,
      override: this.override,
      lastUpAt: this.lastUpAt,
      lastChangeAt: this.lastChangeAt,
    }
  }
}

function bounded (n: number, b: Bounds, reason: string): { desired: number, reason: string } {
  const desired = clamp(n, b)
  return { desired, reason: desired === n ? reason : `${reason}; clamped to [${b.min}, ${b.max}]` }
}

/** The coordinator builds signals from checked inputs; anything else here is a bug upstream. */
function checkSignals (s: PoolSignals): void {
  assert(Number.isSafeInteger(s.now) && s.now >= 0, `signals.now must be epoch ms, got ${s.now}`)
  assert(Number.isSafeInteger(s.current) && s.current >= 0, `signals.current must be a count, got ${s.current}`)
  assert(Number.isSafeInteger(s.healthy) && s.healthy >= 0 && s.healthy <= s.current, `signals.healthy must be 0..current, got ${s.healthy}`)
  assert(s.utilization === undefined || (Number.isFinite(s.utilization) && s.utilization >= 0 && s.utilization <= 100),
    `signals.utilization must be 0..100, got ${s.utilization}`)
  assert(s.queueDepth === undefined || (Number.isFinite(s.queueDepth) && s.queueDepth >= 0), `signals.queueDepth must be ≥ 0, got ${s.queueDepth}`)
}
