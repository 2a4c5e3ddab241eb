// Builds an autoscaler core from its spec, checks a spec, and names it for `shoal pools`.
import { assert } from '../../agent/lib/assert.js'
import { formatDuration } from '../../agent/lib/duration.js'
import { CompositeAutoscaler } from './composite.js'
import { DEFAULT_AUTOSCALE_CONFIG } from './defaults.js'
import { PredictiveAutoscaler } from './predictive.js'
import { QueueAutoscaler } from './queue.js'
import { pct, ReactiveAutoscaler } from './reactive.js'
import { formatWindow, ScheduledAutoscaler } from './scheduled.js'
import type { Autoscaler } from './signals.js'
import type { AutoscalerSpec, Cooldowns } from './spec.js'

const LIMITS = DEFAULT_AUTOSCALE_CONFIG

export function createAutoscaler (spec: AutoscalerSpec): Autoscaler {
  const problem = specProblem(spec)
  assert(problem === undefined, `autoscaler spec: ${problem ?? ''}`)
  return build(spec)
}

function build (spec: AutoscalerSpec): Autoscaler {
  switch (spec.kind) {
    case 'reactive': return new ReactiveAutoscaler(spec)
    case 'queue': return new QueueAutoscaler(spec)
    case 'scheduled': return new ScheduledAutoscaler(spec, spec.fallback === null ? null : build(spec.fallback))
    case 'predictive': return new PredictiveAutoscaler(spec, spec.fallback === null ? null : build(spec.fallback))
    case 'composite': return new CompositeAutoscaler(spec, spec.children.map(build))
  }
}

/**
 * The first thing wrong with a spec, as a sentence naming the YAML key, or undefined. The config
 * parser should call this to reject a file; createAutoscaler asserts it (a parsed spec is trusted).
 */
export function specProblem (spec: AutoscalerSpec, path = 'autoscaling', depth = 1): string | undefined {
  if (depth > LIMITS.maxDepth) return `${path}: nested deeper than ${LIMITS.maxDepth} levels`
  const bad = cooldownProblem(spec.cooldown, `${path}.cooldown`)
  if (bad !== undefined) return bad
  switch (spec.kind) {
    case 'reactive':
      if (!isPercent(spec.scaleUpAt)) return `${path}.scale_up_at must be 0..100, got ${spec.scaleUpAt}`
      if (!isPercent(spec.scaleDownAt)) return `${path}.scale_down_at must be 0..100, got ${spec.scaleDownAt}`
      if (!(spec.scaleDownAt < spec.scaleUpAt)) return `${path}.scale_down_at (${spec.scaleDownAt}) must be below scale_up_at (${spec.scaleUpAt})`
      if (!isCount(spec.step, 1)) return `${path}.step must be a whole number 1..${LIMITS.maxNodes}, got ${spec.step}`
      return positiveMs(spec.windowMs, `${path}.window`)
    case 'queue':
      if (!isCount(spec.jobsPerNode, 1)) return `${path}.jobs_per_node must be a whole number 1..${LIMITS.maxNodes}, got ${spec.jobsPerNode}`
      return undefined
    case 'scheduled':
      if (spec.windows.length === 0) return `${path}.windows must list at least one window`
      if (spec.windows.length > LIMITS.maxWindows) return `${path}.windows: at most ${LIMITS.maxWindows}, got ${spec.windows.length}`
      for (const [i, w] of spec.windows.entries()) {
        const at = `${path}.windows[${i}]`
        if (w.days.length > 7 || w.days.some((d) => !Number.isInteger(d) || d < 0 || d > 6)) return `${at}.days must be 0 (Sunday)..6 (Saturday)`
        if (!isMinute(w.startMinute)) return `${at}.start must be HH:MM, 00:00..23:59`
        if (!isMinute(w.endMinute)) return `${at}.end must be HH:MM, 00:00..23:59`
        if (!isCount(w.minNodes, 0) || !isCount(w.maxNodes, 0)) return `${at}: min_nodes and max_nodes must be whole numbers 0..${LIMITS.maxNodes}`
        if (w.minNodes > w.maxNodes) return `${at}.min_nodes (${w.minNodes}) must not exceed max_nodes (${w.maxNodes})`
      }
      return spec.fallback === null ? undefined : specProblem(spec.fallback, `${path}.fallback`, depth + 1)
    case 'predictive':
      if (!(Number.isFinite(spec.target) && spec.target > 0 && spec.target <= 100)) return `${path}.target must be in (0, 100], got ${spec.target}`
      return positiveMs(spec.windowMs, `${path}.window`) ?? positiveMs(spec.horizonMs, `${path}.horizon`) ??
        (spec.fallback === null ? undefined : specProblem(spec.fallback, `${path}.fallback`, depth + 1))
    case 'composite':
      if (spec.children.length === 0) return `${path}.autoscalers must list at least one autoscaler`
      if (spec.children.length > LIMITS.maxChildren) return `${path}.autoscalers: at most ${LIMITS.maxChildren}, got ${spec.children.length}`
      for (const [i, c] of spec.children.entries()) {
        const p = specProblem(c, `${path}.autoscalers[${i}]`, depth + 1)
        if (p !== undefined) return p
      }
      return undefined
  }
}

function cooldownProblem (c: Cooldowns, path: string): string | undefined {
  for (const [key, ms] of [['up', c.upMs], ['down', c.downMs]] as const) {
    if (!(Number.isSafeInteger(ms) && ms >= 0)) return `${path}.${key} must be a duration ≥ 0, got ${ms}`
  }
  return undefined
}

function positiveMs (ms: number, path: string): string | undefined {
  return Number.isSafeInteger(ms) && ms > 0 ? undefined : `${path} must be a duration > 0, got ${ms}`
}

function isPercent (n: number): boolean { return Number.isFinite(n) && n >= 0 && n <= 100 }
function isMinute (n: number): boolean { return Number.isInteger(n) && n >= 0 && n < 1440 }
function isCount (n: number, low: number): boolean { return Number.isInteger(n) && n >= low && n <= LIMITS.maxNodes }

/** One line: "queue (10 jobs/node)". */
export function describe (spec: AutoscalerSpec): string {
  switch (spec.kind) {
    case 'reactive':
      return `reactive (up > ${pct(spec.scaleUpAt)}, down < ${pct(spec.scaleDownAt)}, step ${spec.step}, over ${formatDuration(spec.windowMs)})`
    case 'queue':
      return `queue (${spec.jobsPerNode} jobs/node)`
    case 'scheduled': {
      const ws = spec.windows.map(formatWindow).join('; ')
      return `scheduled (${ws}${spec.fallback === null ? '' : `; sized by ${describe(spec.fallback)}`})`
    }
    case 'predictive':
      return `predictive (target ${pct(spec.target)}, ${formatDuration(spec.horizonMs)} ahead over ${formatDuration(spec.windowMs)}` +
        `${spec.fallback === null ? '' : `; until 3 samples ${describe(spec.fallback)}`})`
    case 'composite':
      return `composite ${spec.mode} of [${spec.children.map(describe).join(', ')}]`
  }
}
