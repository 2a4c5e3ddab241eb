// A health policy: rules in CEL over a GPU's signals, the event at hand and the GPU's history,
// loaded from YAML and checked completely before it may judge anything. Compiling is pure: text
// in, a CompiledPolicy or a PolicyError that names each bad rule, its expression and the reason.
// The language is documented in docs/health-policy.md.
import { createHash } from 'node:crypto'
import { Environment } from '@marcbachmann/cel-js'
import { parseDocument } from 'yaml'
import { z } from 'zod'
import { HealthAction, HealthState } from '../../proto/gen/shoal_pb.js'
import { formatDuration, parseDuration as parseDurationOrThrow } from '../lib/duration.js'
import { ACTION_NAMES, actionOf, stateOf } from './action.js'
import { isEventSelector } from './selectors.js'
import { gpuSchema, isNumericSignal } from './signals.js'

export type RuleOn = 'event' | 'sample'

function parseDuration (text: string): number | undefined {
  try {
    return parseDurationOrThrow(text)
  } catch {
    return undefined
  }
}

/** The functions a rule may call, bound to the GPU being judged at evaluation time. */
export interface RuleScope {
  count(selector: string, windowMs: number): number
  bursts(selector: string, windowMs: number): number
  increase(signal: string, windowMs: number): number
  rate(signal: string, windowMs: number): number
  /** This event's own key (kind and code) on this GPU: "has this XID come back?" */
  eventCount(windowMs: number): number
  eventBursts(windowMs: number): number
}

export type Activation = Record<string, unknown>

export interface CompiledRule {
  readonly name: string
  readonly description: string
  readonly on: RuleOn
  readonly when: string
  readonly state: HealthState
  readonly action: HealthAction
  /** Incident class; undefined: the event's class (event rules) or "gpu" (sample rules). */
  readonly class: string | undefined
  /** Sample rules: how long the condition must hold before the rule fires. */
  readonly forMs: number
  /** How long the finding stands after the condition last held; Infinity: until cleared. */
  readonly holdMs: number
  test(activation: Activation): unknown
  message(activation: Activation): string
}

export interface CompiledPolicy {
  readonly name: string
  readonly description: string
  readonly source: string
  readonly digest: string
  readonly rules: readonly CompiledRule[]
  /** Counters some rule reads with increase()/rate(), each with the longest window it is read over. */
  readonly tracked: ReadonlyMap<string, number>
  /** The longest window any count()/bursts() reads: how long events are remembered. */
  readonly eventWindowMs: number
  /** Evaluation-time binding of the rule functions; the judge sets it before each test. */
  bind(scope: RuleScope): void
}

export interface PolicyProblem {
  readonly rule?: string
  readonly field?: string
  readonly expression?: string
  readonly reason: string
}

export class PolicyError extends Error {
  override name = 'PolicyError'
  readonly problems: readonly PolicyProblem[]
  constructor (source: string, problems: readonly PolicyProblem[]) {
    super(`${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the health policy:\n` +
      problems.map((p) => '  ' + describe(p)).join('\n'))
    this.problems = problems
  }
}

function describe (p: PolicyProblem): string {
  const where = [p.rule === undefined ? undefined : `rule "${p.rule}"`, p.field].filter((x) => x !== undefined).join(': ')
  const expr = p.expression === undefined ? '' : ` \`${p.expression}\``
  return `${where === '' ? '' : where + ':'}${expr} ${p.reason}`.trim()
}

/** Limits on what a policy file may ask for: bounded input, bounded work per sample. */
export const POLICY_LIMITS = {
  maxBytes: 256 * 1024,
  maxRules: 256,
  maxExpressionChars: 4096,
  /** Longest history window: a week of events is plenty to call a fault "repeated". */
  maxWindowMs: 7 * 86_400_000,
  /** count()/bursts() with a computed selector remember events this long. */
  defaultEventWindowMs: 86_400_000,
} as const

const HISTORY_FUNCTIONS = new Set(['count', 'bursts', 'increase', 'rate', 'event_count', 'event_bursts'])

const durationText = z.string().refine((s) => parseDuration(s) !== undefined, { message: 'is not a duration (use 500ms, 30s, 5m, 1h, 7d)' })

const RuleSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes, at most 63'),
  description: z.string().max(500).optional(),
  on: z.enum(['event', 'sample']),
  when: z.string().min(1).max(POLICY_LIMITS.maxExpressionChars),
  state: z.enum(['degraded', 'unhealthy']),
  action: z.enum(ACTION_NAMES).default('none'),
  class: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/).optional(),
  message: z.string().max(500).optional(),
  for: durationText.optional(),
  hold: z.union([z.literal('forever'), durationText]).optional(),
}).strict()

const PolicySchema = z.object({
  version: z.literal(1),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/),
  description: z.string().max(2000).optional(),
  rules: z.array(RuleSchema).min(1).max(POLICY_LIMITS.maxRules),
}).strict()

type RuleDoc = z.infer<typeof RuleSchema>

/** Holds when a finding's hold is not given: events are moments, samples are states. */
const DEFAULT_HOLD_MS: Record<RuleOn, number> = { event: 3_600_000, sample: 0 }

const EVENT_SCHEMA = {
  kind: 'string', xid: 'int', source: 'string', detail: 'string', fatal: 'bool', link: 'int',
  action: 'string', class: 'string', app: 'bool', escalate: 'bool', cause: 'int',
  xid_name: 'string', bucket: 'string', unused: 'bool',
} as const

const NODE_SCHEMA = { gpus: 'int', lost_gpus: 'int', expected_gpus: 'int' } as const

/**
 * Typed, the environment checks every expression at load against the signal table. Untyped, it
 * evaluates the same expressions over plain maps: cel-js wraps a schema-typed value in a fresh
 * Map per evaluation, and 30 rules x 8 GPUs a second of that is garbage the agent need not make.
 */
function environment (on: RuleOn, scope: () => RuleScope, typed: boolean): Environment {
  const ms = (d: { seconds: bigint | number, nanos: number }): number => Number(d.seconds) * 1000 + Math.round(d.nanos / 1e6)
  const env = new Environment({ limits: { maxAstNodes: 2000, maxDepth: 64, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 8 } })
  if (typed) {
    env.registerVariable({ name: 'gpu', schema: gpuSchema() }).registerVariable({ name: 'node', schema: NODE_SCHEMA })
  } else {
    env.registerVariable('gpu', 'map').registerVariable('node', 'map')
  }
  env
    .registerFunction('count(string, google.protobuf.Duration): int', (s: string, d: never) => BigInt(scope().count(s, ms(d))))
    .registerFunction('bursts(string, google.protobuf.Duration): int', (s: string, d: never) => BigInt(scope().bursts(s, ms(d))))
    .registerFunction('increase(string, google.protobuf.Duration): double', (s: string, d: never) => scope().increase(s, ms(d)))
    .registerFunction('rate(string, google.protobuf.Duration): double', (s: string, d: never) => scope().rate(s, ms(d)))
  if (on === 'event') {
    if (typed) env.registerVariable({ name: 'event', schema: EVENT_SCHEMA })
    else env.registerVariable('event', 'map')
    env
      .registerFunction('event_count(google.protobuf.Duration): int', (d: never) => BigInt(scope().eventCount(ms(d))))
      .registerFunction('event_bursts(google.protobuf.Duration): int', (d: never) => BigInt(scope().eventBursts(ms(d))))
  }
  return env
}

interface AstNode { op: string, args: unknown }

function isNode (x: unknown): x is AstNode {
  return typeof x === 'object' && x !== null && 'op' in x && 'args' in x
}

interface HistoryUse { fn: string, arg: string | undefined, windowMs: number | undefined }

/** The history calls in an expression, with their literal arguments where literal. */
function historyUses (ast: unknown, out: HistoryUse[] = []): HistoryUse[] {
  if (Array.isArray(ast)) {
    for (const a of ast) historyUses(a, out)
    return out
  }
  if (!isNode(ast)) return out
  if (ast.op === 'call' && Array.isArray(ast.args)) {
    const [fn, params] = ast.args as [string, unknown[]]
    if (HISTORY_FUNCTIONS.has(fn) && Array.isArray(params)) {
      const lit = (n: unknown): string | undefined => isNode(n) && n.op === 'value' && typeof n.args === 'string' ? n.args : undefined
      const dur = (n: unknown): number | undefined => {
        if (!isNode(n) || n.op !== 'call' || !Array.isArray(n.args) || n.args[0] !== 'duration') return undefined
        const inner = (n.args[1] as unknown[])[0]
        const text = lit(inner)
        return text === undefined ? undefined : parseDuration(text)
      }
      const windowArg = fn.startsWith('event_') ? params[0] : params[1]
      out.push({ fn, arg: fn.startsWith('event_') ? undefined : lit(params[0]), windowMs: dur(windowArg) })
    }
  }
  historyUses(ast.args, out)
  return out
}

const TEMPLATE_PART = /\{([^{}]{1,200})\}/g

function render (v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(2)
  if (typeof v === 'bigint' || typeof v === 'boolean' || typeof v === 'string') return String(v)
  return JSON.stringify(v, (_k, x: unknown) => typeof x === 'bigint' ? x.toString() : x) ?? 'null'
}

export function compilePolicy (text: string, source: string): CompiledPolicy {
  if (Buffer.byteLength(text) > POLICY_LIMITS.maxBytes) {
    throw new PolicyError(source, [{ reason: `file is ${Buffer.byteLength(text)} bytes, over the ${POLICY_LIMITS.maxBytes} a policy may be` }])
  }
  const doc = parseDocument(text, { prettyErrors: true })
  if (doc.errors.length > 0) {
    throw new PolicyError(source, doc.errors.map((e) => ({ reason: `YAML: ${e.message.split('\n')[0]}` })))
  }
  let raw: unknown
  try {
    raw = doc.toJS({ maxAliasCount: 16 })
  } catch (err) {
    throw new PolicyError(source, [{ reason: `YAML: ${firstLine(err)}` }])
  }
  const parsed = PolicySchema.safeParse(raw)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i): PolicyProblem => {
      const [top, index, ...rest] = i.path
      const rule = top === 'rules' && typeof index === 'number'
        ? (raw as { rules: { name?: unknown }[] }).rules[index]?.name
        : undefined
      const field = (top === 'rules' && typeof index === 'number' ? rest : i.path).join('.')
      return { rule: typeof rule === 'string' ? rule : (top === 'rules' && typeof index === 'number' ? `#${index + 1}` : undefined), field: field === '' ? undefined : field, reason: i.message }
    })
    throw new PolicyError(source, problems)
  }
  const policy = parsed.data
  let scope: RuleScope | undefined
  const current = (): RuleScope => {
    if (scope === undefined) throw new Error('history functions called outside an evaluation')
    return scope
  }
  const envs: Record<RuleOn, Envs> = {
    event: { check: environment('event', current, true), run: environment('event', current, false) },
    sample: { check: environment('sample', current, true), run: environment('sample', current, false) },
  }
  const problems: PolicyProblem[] = []
  const tracked = new Map<string, number>()
  let eventWindowMs = 0
  const seen = new Set<string>()
  const rules: CompiledRule[] = []
  for (const r of policy.rules) {
    if (seen.has(r.name)) problems.push({ rule: r.name, field: 'name', reason: 'is used by an earlier rule' })
    seen.add(r.name)
    const compiled = compileRule(r, envs[r.on], problems)
    if (compiled === undefined) continue
    for (const use of compiled.uses) {
      const where = { rule: r.name, field: 'when', expression: r.when }
      if (use.windowMs === undefined) {
        problems.push({ ...where, reason: `${use.fn}() needs a literal window such as duration("10m")` })
        continue
      }
      if (use.windowMs <= 0 || use.windowMs > POLICY_LIMITS.maxWindowMs) {
        problems.push({ ...where, reason: `${use.fn}() window ${formatDuration(use.windowMs)} is outside 1ms..${formatDuration(POLICY_LIMITS.maxWindowMs)}` })
        continue
      }
      if (use.fn === 'increase' || use.fn === 'rate') {
        if (use.arg === undefined) problems.push({ ...where, reason: `${use.fn}() needs a literal signal name, e.g. "ecc.volatile_uncorrected"` })
        else if (!isNumericSignal(use.arg)) problems.push({ ...where, reason: `${use.fn}(): "${use.arg}" is not a numeric GPU signal (docs/health-policy.md lists them)` })
        else tracked.set(use.arg, Math.max(tracked.get(use.arg) ?? 0, use.windowMs))
      } else {
        if (use.arg !== undefined && !isEventSelector(use.arg)) {
          problems.push({ ...where, reason: `${use.fn}(): "${use.arg}" is not an event selector (an event kind such as "ecc_double_bit", "xid", "xid:48", "sxid", "class:hbm")` })
        }
        eventWindowMs = Math.max(eventWindowMs, use.arg === undefined && !use.fn.startsWith('event_') ? POLICY_LIMITS.defaultEventWindowMs : use.windowMs)
      }
    }
    rules.push(compiled.rule)
  }
  if (problems.length > 0) throw new PolicyError(source, problems)
  return {
    name: policy.name,
    description: policy.description ?? '',
    source,
    digest: createHash('sha256').update(text).digest('hex').slice(0, 12),
    rules,
    tracked,
    eventWindowMs,
    bind: (s) => { scope = s },
  }
}

interface Envs { readonly check: Environment, readonly run: Environment }

function compileRule (r: RuleDoc, env: Envs, problems: PolicyProblem[]): { rule: CompiledRule, uses: HistoryUse[] } | undefined {
  const before = problems.length
  if (r.on === 'event' && r.for !== undefined) {
    problems.push({ rule: r.name, field: 'for', reason: 'applies to sample rules only: an event has no duration' })
  }
  let test: ((a: Activation) => unknown) | undefined
  let uses: HistoryUse[] = []
  try {
    const parsed = env.check.parse(r.when)
    const checked = parsed.check()
    if (!checked.valid) {
      problems.push({ rule: r.name, field: 'when', expression: r.when, reason: firstLine(checked.error) })
    } else if (checked.type !== 'bool' && checked.type !== 'dyn') {
      problems.push({ rule: r.name, field: 'when', expression: r.when, reason: `must be a bool, this is ${checked.type}` })
    } else {
      test = env.run.parse(r.when)
      uses = historyUses(parsed.ast)
    }
  } catch (err) {
    problems.push({ rule: r.name, field: 'when', expression: r.when, reason: firstLine(err) })
  }
  const parts: ((a: Activation) => string)[] = []
  if (r.message !== undefined) {
    let at = 0
    for (const m of r.message.matchAll(TEMPLATE_PART)) {
      const lit = r.message.slice(at, m.index)
      parts.push(() => lit)
      try {
        const checked = env.check.parse(m[1]!).check()
        if (!checked.valid) throw checked.error
        const e = env.run.parse(m[1]!)
        parts.push((a) => render(e(a)))
      } catch (err) {
        problems.push({ rule: r.name, field: 'message', expression: m[1], reason: firstLine(err) })
      }
      at = m.index + m[0].length
    }
    const tail = r.message.slice(at)
    parts.push(() => tail)
  }
  if (problems.length > before || test === undefined) return undefined
  const fallback = r.description ?? r.name
  const holdMs = r.hold === 'forever' ? Infinity : r.hold === undefined ? DEFAULT_HOLD_MS[r.on] : parseDuration(r.hold)!
  const run = test
  return {
    uses,
    rule: {
      name: r.name,
      description: r.description ?? '',
      on: r.on,
      when: r.when,
      state: stateOf(r.state),
      action: actionOf(r.action),
      class: r.class,
      forMs: r.for === undefined ? 0 : parseDuration(r.for)!,
      holdMs,
      test: run,
      message: parts.length === 0
        ? () => fallback
        : (a) => parts.map((p) => {
          try { return p(a) } catch { return '?' }
        }).join(''),
    },
  }
}

function firstLine (err: unknown): string {
  const text = err instanceof Error ? err.message : String(err)
  return text.split('\n')[0] ?? text
}
