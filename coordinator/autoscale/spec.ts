// The autoscaler a pool declares, as coordinator/config.ts parses it. Formulas: docs/autoscalers.md.

export interface Cooldowns {
  /** After a scale-up, no further change for this long. */
  readonly upMs: number
  /** After any change, no scale-down for this long (scale-down is slow to undo: boot takes minutes). */
  readonly downMs: number
}

export type AutoscalerSpec =
  | { readonly kind: 'reactive', readonly scaleUpAt: number, readonly scaleDownAt: number, readonly step: number, readonly windowMs: number, readonly cooldown: Cooldowns }
  | { readonly kind: 'queue', readonly jobsPerNode: number, readonly cooldown: Cooldowns }
  | { readonly kind: 'scheduled', readonly windows: readonly ScheduleWindow[], readonly fallback: AutoscalerSpec | null, readonly cooldown: Cooldowns }
  | { readonly kind: 'predictive', readonly windowMs: number, readonly horizonMs: number, readonly target: number, readonly fallback: AutoscalerSpec | null, readonly cooldown: Cooldowns }
  | { readonly kind: 'composite', readonly mode: 'max' | 'min' | 'avg', readonly children: readonly AutoscalerSpec[], readonly cooldown: Cooldowns }

/** A time window (UTC) in which a pool's bounds are overridden. end < start wraps midnight. */
export interface ScheduleWindow {
  /** 0 = Sunday … 6 = Saturday; empty: every day. */
  readonly days: readonly number[]
  /** Minutes after UTC midnight, [start, end). */
  readonly startMinute: number
  readonly endMinute: number
  readonly minNodes: number
  readonly maxNodes: number
}
