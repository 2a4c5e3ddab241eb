// Every autoscaler knob in one place: the defaults the config parser fills in for keys a pool
// leaves out (docs/autoscalers.md quotes these), and the limits that bound the cores.

export const DEFAULT_AUTOSCALE_CONFIG = {
  /** reactive `scale_up_at`, percent. 80: headroom for a burst before jobs queue. */
  scaleUpAt: 80,
  /** reactive `scale_down_at`, percent. 20: well apart from 80 so the pool does not flap. */
  scaleDownAt: 20,
  /** reactive `step`, nodes per change. 1: GPU nodes are expensive; cooldowns pace repeats. */
  step: 1,
  /** reactive `window`. 5 min: smooths a job's start-up dip without hiding a sustained load. */
  reactiveWindowMs: 5 * 60_000,
  /** queue `jobs_per_node`. 10 (Navarch's default). */
  jobsPerNode: 10,
  /** predictive `window`: the regression's span. 15 min: enough points for a trend at 30 s ticks. */
  predictiveWindowMs: 15 * 60_000,
  /** predictive `horizon`. 10 min: about a GPU node's boot time, so capacity lands when needed. */
  horizonMs: 10 * 60_000,
  /** predictive `target`, percent utilization to size for. 70: leaves room below scale_up_at. */
  target: 70,
  /** composite `mode`. max: the safe side; a pool short of GPUs costs more than an idle node. */
  mode: 'max' as const,
  /** `cooldown.up`. 3 min: let new nodes join and take load before deciding again. */
  cooldownUpMs: 3 * 60_000,
  /** `cooldown.down`. 10 min: a scale-down is slow to undo (boot takes minutes). */
  cooldownDownMs: 10 * 60_000,
  /**
   * Samples kept per window; the oldest go first past this. 4,096 covers over an hour at one
   * decision a second, and the least-squares sum stays cheap.
   */
  maxSamples: 4096,
  /** Schedule windows per scheduled autoscaler. 64: a week of hourly rules is far fewer. */
  maxWindows: 64,
  /** Children per composite. 16: more is a config mistake, not a policy. */
  maxChildren: 16,
  /** Nesting of composite / fallback specs. 4: deep trees are unreadable in `shoal pools`. */
  maxDepth: 4,
  /** Upper bound for step, jobs_per_node and window bounds: no pool is larger. */
  maxNodes: 100_000,
} as const

export type AutoscaleConfig = typeof DEFAULT_AUTOSCALE_CONFIG
