// What an autoscaler sees of a pool at one decision, and what it answers. Plain data: the
// coordinator builds PoolSignals from the fleet view and the admin socket; the cores never read a
// clock or the mesh themselves.
import type { AutoscalerSpec } from './spec.js'

export interface PoolSignals {
  /**
   * Wall-clock time, ms since the Unix epoch (UTC). Not a monotonic clock: schedule windows are
   * times of day. A clock stepped backwards only resets the sample windows.
   */
  readonly now: number
  /** Live nodes in the pool (members not dead). */
  readonly current: number
  /** Of those, the ones whose verdict is healthy. */
  readonly healthy: number
  /** The pool's bounds; the Scaler fills these from its own (a schedule window narrows them). */
  readonly min: number
  readonly max: number
  /** Mean GPU utilization of the pool's healthy nodes, 0..100; undefined: no samples yet. */
  readonly utilization: number | undefined
  /** Jobs waiting (the last `shoal queue set` or a metrics source); undefined: never reported. */
  readonly queueDepth: number | undefined
}

export interface Bounds {
  readonly min: number
  readonly max: number
}

export interface Recommendation {
  /** Nodes wanted, before the Scaler's clamps and cooldowns (may fall outside the bounds). */
  readonly desired: number
  /** One line for `shoal pools` and the events log. */
  readonly reason: string
  /** A schedule window's bounds, already inside the pool's; the Scaler clamps to them too. */
  readonly bounds?: Bounds
}

/** A deterministic core: observe every decision, recommend when it has an opinion. */
export interface Autoscaler {
  readonly kind: AutoscalerSpec['kind']
  /** Record this decision's signals (samples older than the strategy's window are dropped). */
  observe: (s: PoolSignals) => void
  /** Undefined: no opinion (no utilization or queue depth yet); the Scaler then holds. */
  recommend: (s: PoolSignals) => Recommendation | undefined
}

export function clamp (n: number, b: Bounds): number {
  return Math.min(b.max, Math.max(b.min, n))
}

/** Ceil that forgives float noise: 3 × 70 / 70 must be 3, not 4. */
export function ceilish (x: number): number {
  return Math.ceil(x - 1e-9)
}

/** Narrower bounds (a schedule window's) inside the pool's: never past min_nodes or max_nodes. */
export function narrowBounds (pool: Bounds, inner: Bounds): Bounds {
  const min = clamp(inner.min, pool)
  return { min, max: clamp(inner.max, { min, max: pool.max }) }
}
