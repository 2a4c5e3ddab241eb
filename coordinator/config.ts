// The coordinator file (docs/pools.md): providers, pools, replacement defaults and webhooks, parsed
// strictly into the shapes the planner (pool.ts), the autoscalers (autoscale/spec.ts) and the
// provider factory (providers/options.ts) take. Like agent/config/: YAML 1.2 core, snake_case,
// an unknown key is an error, and every problem is reported at once, naming its field the way the
// file spells it (`pools[1].providers[0].region: required`). Two passes: each value on its own
// (zod, the agent's leaf builders), then the relations between values (references, min ≤ max).
import * as z from 'zod'
import { ConfigError, editDistance, type ConfigIssue } from '../agent/config/errors.js'
import { readBoundedText } from '../agent/config/file.js'
import { deepFreeze, parseYaml } from '../agent/config/load.js'
import {
  boolField,
  durationField,
  enumField,
  intField,
  labelsField,
  nullablePathField,
  nullableStringField,
  show,
  stringField,
} from '../agent/config/leaves.js'
import { formatDuration } from '../agent/lib/duration.js'
import { DEFAULT_AUTOSCALE_CONFIG } from './autoscale/defaults.js'
import type { AutoscalerSpec, Cooldowns, ScheduleWindow } from './autoscale/spec.js'
import type { Offer, PoolHealth, PoolSpec, ProviderStrategy } from './pool.js'
import { DEFAULT_CALL_POLICY, type CallPolicy, type ProviderOptions } from './providers/options.js'
import { WEBHOOK_EVENT_KINDS, type WebhookConfig } from './webhook.js'

export interface CoordinatorConfig {
  readonly providers: readonly ProviderOptions[]
  readonly pools: readonly PoolSpec[]
  readonly reconcile: {
    /** The planner runs at least this often, besides on every fleet change. */
    readonly intervalMs: number
    /** Providers are listed (the truth about instances) at most this often. */
    readonly listIntervalMs: number
  }
  /** YAML `replacement:`: each pool's `health:` starts from these. */
  readonly replacement: PoolHealth
  /** A tagged instance no slot owns is terminated after this long (reported at once). */
  readonly orphanGraceMs: number
  readonly webhooks: readonly WebhookConfig[]
}

const MIN = 60_000

/**
 * Every default of the coordinator file, with its reason (docs/pools.md quotes them). Provider
 * call policies default to DEFAULT_CALL_POLICY (providers/options.ts), autoscalers to
 * DEFAULT_AUTOSCALE_CONFIG (autoscale/defaults.ts, docs/autoscalers.md).
 */
export const DEFAULT_COORDINATOR_CONFIG = {
  /** 5 s: the floor under event-driven runs, so a missed event costs seconds, not a replacement.
   * A run is cheap (no cloud calls; it reads the last listing), so lower is affordable. */
  reconcileIntervalMs: 5_000,
  /** 30 s: listing is what costs API rate budget (Lambda allows about 1 call/s for everything);
   * between listings the planner trusts its own provisions' results. Lower: faster orphan and
   * vanished-instance detection, more rate-limit pressure. */
  listIntervalMs: 30_000,
  /** 10 min: long enough that an instance provisioned by a coordinator that died before recording
   * its slot is adopted by the successor's next listing rather than killed; short enough that a
   * leaked GPU instance costs minutes of billing, not days. */
  orphanGraceMs: 10 * MIN,
  /** A queue source is polled every 15 s (a scrape interval) with a 5 s timeout: queues move in minutes, boots take minutes. */
  queueSource: { intervalMs: 15_000, timeoutMs: 5_000 },
  replacement: {
    /** On: replacing in seconds is the point of Shoal. Off: verdicts are reported, nothing moves. */
    autoReplace: true,
    /** 20%: more than a fifth of a pool going bad at once is a rack, zone or image event, and
     * replacing it node by node would only churn capacity (DESIGN.md §6). */
    breakerFraction: 0.2,
    /** 2: a replacement provisions before it terminates, so capacity is never lost; two at a time
     * keeps a bad image from spreading through a pool faster than an operator can look. */
    maxInFlight: 2,
    /** 15 min: p5/a3 instances take 5–10 min to boot and pass NVML checks; beyond 15 something is wrong. */
    bootDeadlineMs: 15 * MIN,
    /** 3: the issue's bound; a fourth dead-on-arrival in one slot is a systematic fault, not luck. */
    maxAttempts: 3,
    /** 60 s: well past the mesh's detection time (a few seconds), so a reboot or a network blip
     * is not replaced, yet a lost node is back within about a minute plus boot time. */
    deadReplaceAfterMs: 60_000,
  } satisfies PoolHealth,
  pool: {
    /** Priority: the order the operator wrote is the order used, the least surprising choice. */
    strategy: 'priority' as ProviderStrategy,
    weight: 1,
  },
  gcp: { diskSizeGb: 200 },
  lambda: {
    endpoint: 'https://cloud.lambda.ai/api/v1',
    apiKeyEnv: 'LAMBDA_API_KEY',
    /** Lambda documents one launch per 12 s per account. */
    launchIntervalMs: 12_000,
    /** Lambda documents about one request per second. */
    requestIntervalMs: 1_000,
  },
  webhook: {
    secretEnv: 'SHOAL_WEBHOOK_SECRET',
    /** 5 s: a receiver only has to enqueue; a slow one must not hold its queue. */
    timeoutMs: 5_000,
  },
} as const

/** 1 MiB, as for agent.yaml: a real file is a few KB. */
export const COORDINATOR_FILE_MAX_BYTES = 1024 * 1024
/** Bounds on lists: far past any real fleet, small enough that a mistake cannot balloon. */
const PROVIDERS_MAX = 16
const POOLS_MAX = 64
const OFFERS_MAX = 32
const WEBHOOKS_MAX = 8
const NODES_MAX = 10_000
const REGIONS_MAX = 64
const A = DEFAULT_AUTOSCALE_CONFIG
const WINDOWS_MAX = A.maxWindows
const COMPOSITE_CHILDREN_MAX = A.maxChildren
/** Levels below the top one (docs/autoscalers.md: nesting at most maxDepth levels in all). */
const AUTOSCALER_DEPTH_MAX = A.maxDepth - 1

// ---------------------------------------------------------------------------------------------
// Leaves the agent's leaves.ts lacks, and the plumbing that keeps paths and messages ours.
// Composite values are transforms that parse their parts themselves (sub), so every issue is
// already in our words when it reaches the top. `.prefault(undefined)` lets zod run a transform
// for an absent key (its default is decided inside) and keep what it returns.

type Key = string | number
interface Problem { readonly path: readonly Key[], readonly message: string }
type Checked<T> = { ok: true, value: T } | { ok: false, problems: Problem[] }
type Ctx = z.core.$RefinementCtx

const good = <T>(value: T): Checked<T> => ({ ok: true, value })
const bad = <T>(message: string, path: readonly Key[] = []): Checked<T> => ({ ok: false, problems: [{ path, message }] })

function isMapping (v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function field<T> (check: (v: unknown) => Checked<T>) {
  return z.unknown().transform((v, ctx): T => {
    const r = check(v)
    if (r.ok) return r.value
    for (const p of r.problems) ctx.addIssue({ code: 'custom', message: p.message, path: [...p.path], input: v })
    return z.NEVER
  }).prefault(undefined)
}

/** A field that must be present (the wrapped leaf's default is never used). */
function required<T extends z.ZodType> (schema: T) {
  return z.unknown().superRefine((v, ctx) => {
    if (v === undefined) ctx.addIssue({ code: 'custom', message: 'required', input: v })
  }).pipe(schema)
}

/** A leaf without its default: absent stays undefined (a pool's health overrides). */
function optional<T extends z.ZodType> (leaf: z.ZodDefault<T>) {
  return leaf.unwrap().optional()
}

/** Runs `schema` on `value`, re-reporting its issues in our words under the current path. */
function sub<T extends z.ZodType> (schema: T, value: unknown, ctx: Ctx): z.output<T> {
  const r = schema.safeParse(value, { reportInput: true })
  if (r.success) return r.data
  for (const issue of r.error.issues) {
    for (const p of ourWords(issue, schema)) ctx.addIssue({ code: 'custom', message: p.message, path: [...p.path], input: value })
  }
  return z.NEVER
}

function ourWords (issue: z.core.$ZodIssue, schema: z.ZodType): Problem[] {
  const path = issue.path.map((k) => typeof k === 'number' ? k : String(k))
  if (issue.code === 'unrecognized_keys') {
    const known = schema instanceof z.ZodObject ? Object.keys(schema.shape) : []
    return issue.keys.map((key) => {
      const near = known.map((k) => [k, editDistance(key.toLowerCase(), k, 2)] as const).filter(([, d]) => d <= 2).sort((a, b) => a[1] - b[1])[0]
      return { path: [...path, key], message: `unknown field${near === undefined ? '' : ` (did you mean ${near[0]}?)`}` }
    })
  }
  if (issue.code === 'invalid_type' && issue.expected === 'object') return [{ path, message: `expected a mapping of fields, got ${show(issue.input)}` }]
  return [{ path, message: issue.message }]
}

/** A list entry: a strict mapping. */
function entry<S extends z.core.$ZodLooseShape> (shape: S) {
  const schema = z.strictObject(shape)
  return z.unknown().transform((v, ctx): z.output<typeof schema> => {
    if (!isMapping(v)) {
      ctx.addIssue({ code: 'custom', message: `expected a mapping of fields, got ${show(v)}`, input: v })
      return z.NEVER
    }
    return sub(schema, v, ctx)
  })
}

/** A section: absent or empty (`reconcile:` with nothing under it) means all its defaults. */
function section<S extends z.core.$ZodLooseShape> (shape: S) {
  const inner = entry(shape)
  return z.unknown().transform((v, ctx) => sub(inner, v ?? {}, ctx)).prefault(undefined)
}

/** A list whose items are checked by `item`; absent: `fallback`, or required when none. */
function list<T extends z.ZodType> (item: T, spec: { min: number, max: number, what: string, fallback?: Array<z.output<T>> }) {
  return z.unknown().transform((v, ctx): Array<z.output<T>> => {
    if (v === undefined && spec.fallback !== undefined) return spec.fallback
    if (v === undefined) {
      ctx.addIssue({ code: 'custom', message: 'required', input: v })
      return z.NEVER
    }
    if (!Array.isArray(v)) {
      ctx.addIssue({ code: 'custom', message: `expected a list of ${spec.what}, got ${show(v)}`, input: v })
      return z.NEVER
    }
    if (v.length < spec.min || v.length > spec.max) {
      ctx.addIssue({ code: 'custom', message: `must have ${spec.min}..${spec.max} ${spec.what}, got ${v.length}`, input: v })
      return z.NEVER
    }
    const out: Array<z.output<T>> = []
    let failed = false
    v.forEach((x: unknown, i) => {
      const r = item.safeParse(x, { reportInput: true })
      if (r.success) out.push(r.data)
      else {
        failed = true
        for (const issue of r.error.issues) {
          for (const p of ourWords(issue, item)) ctx.addIssue({ code: 'custom', message: p.message, path: [i, ...p.path], input: x })
        }
      }
    })
    return failed ? z.NEVER : out
  }).prefault(undefined)
}

function checkText (v: unknown, spec: { pattern: RegExp, maxChars: number, what: string }): Checked<string> {
  if (typeof v !== 'string') return bad(`expected ${spec.what}, got ${show(v)}`)
  if (v.length > spec.maxChars) return bad(`must be at most ${spec.maxChars} characters, got ${v.length}`)
  if (!spec.pattern.test(v)) return bad(`${show(v)} is not ${spec.what}`)
  return good(v)
}

const NAME = { pattern: /^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$/, maxChars: 63, what: 'a name (lower-case letters, digits, "_", "-"; up to 63)' }
const REGION = { pattern: /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, maxChars: 63, what: 'a region (lower-case letters, digits, "-")' }
const ZONE = { ...REGION, what: 'a zone (lower-case letters, digits, "-")' }
const INSTANCE_TYPE = { pattern: /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$/, maxChars: 128, what: 'an instance type (p5.48xlarge, a3-highgpu-8g, gpu_8x_h100_sxm5)' }
const ENV_NAME = { pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, maxChars: 128, what: 'an environment variable name' }
const URL_MAX_CHARS = 2048

function checkUrl (v: unknown): Checked<string> {
  if (typeof v !== 'string') return bad(`expected an http(s) URL, got ${show(v)}`)
  if (v.length > URL_MAX_CHARS) return bad(`a URL is at most ${URL_MAX_CHARS} characters`)
  let url: URL
  try {
    url = new URL(v)
  } catch {
    return bad(`${show(v)} is not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return bad(`${show(v)}: only http and https URLs`)
  return good(v)
}

const nameField = (what: string) => field((v) => checkText(v, { ...NAME, what: `${what} (lower-case letters, digits, "_", "-"; up to 63)` }))
const textField = (spec: typeof REGION) => field((v) => checkText(v, spec))
const urlField = () => field(checkUrl)
const nullableUrlField = () => field((v) => v === null || v === undefined ? good(null) : checkUrl(v))

/** A fraction as 0.2 or "20%". `openLow`: 0 is refused. */
function fractionField (spec: { default?: number, openLow: boolean, openHigh: boolean }) {
  return field((v): Checked<number | undefined> => {
    if (v === undefined) return good(spec.default)
    let x: number
    if (typeof v === 'number') x = v
    else if (typeof v === 'string' && /^\d+(?:\.\d+)?%$/.test(v)) x = Number(v.slice(0, -1)) / 100
    else return bad(`expected a fraction (0.2) or a percentage ("20%"), got ${show(v)}`)
    const lowOk = spec.openLow ? x > 0 : x >= 0
    const highOk = spec.openHigh ? x < 1 : x <= 1
    if (!Number.isFinite(x) || !lowOk || !highOk) return bad(`must be ${spec.openLow ? 'above' : 'at least'} 0 and ${spec.openHigh ? 'below' : 'at most'} 1 (100%), got ${show(v)}`)
    return good(x)
  })
}

/** Utilization in percent, as 80 or "80%" (docs/autoscalers.md). */
function percentField (fallback: number, spec: { openHigh: boolean }) {
  return field((v): Checked<number> => {
    if (v === undefined) return good(fallback)
    const x = typeof v === 'number' ? v : typeof v === 'string' && /^\d+(?:\.\d+)?%$/.test(v) ? Number(v.slice(0, -1)) : NaN
    if (typeof v !== 'number' && Number.isNaN(x)) return bad(`expected a utilization percentage (80 or "80%"), got ${show(v)}`)
    if (!Number.isFinite(x) || x < 0 || (spec.openHigh ? x >= 100 : x > 100)) return bad(`must be 0..100 (percent)${spec.openHigh ? ', below 100' : ''}, got ${show(v)}`)
    return good(x)
  })
}

function stringList (spec: typeof REGION, max: number) {
  return field((v): Checked<string[]> => {
    if (v === undefined) return bad('required')
    if (!Array.isArray(v)) return bad(`expected a list of ${spec.what.replace(/^an? /, '')}s, got ${show(v)}`)
    if (v.length < 1 || v.length > max) return bad(`must have 1..${max} items, got ${v.length}`)
    const problems: Problem[] = []
    v.forEach((x: unknown, i) => {
      const r = checkText(x, spec)
      if (!r.ok) problems.push({ path: [i], message: r.problems[0]?.message ?? '' })
      else if (v.indexOf(x) !== i) problems.push({ path: [i], message: `${show(x)} is listed twice` })
    })
    return problems.length > 0 ? { ok: false, problems } : good([...v] as string[])
  })
}

/** region → AMI, zone → subnet: keys and values checked, bounded. */
function stringMap (key: typeof REGION, valueWhat: string) {
  return field((v): Checked<Record<string, string>> => {
    if (v === undefined || v === null) return good({})
    if (!isMapping(v)) return bad(`expected a mapping of ${key.what.replace(/^an? /, '')}s to ${valueWhat}s, got ${show(v)}`)
    const entries = Object.entries(v)
    if (entries.length > REGIONS_MAX) return bad(`at most ${REGIONS_MAX} entries, got ${entries.length}`)
    const problems: Problem[] = []
    for (const [k, x] of entries) {
      if (!key.pattern.test(k)) problems.push({ path: [k], message: `${show(k)} is not ${key.what}` })
      else if (typeof x !== 'string' || x.length === 0 || x.length > 256) problems.push({ path: [k], message: `expected ${valueWhat} (1..256 characters), got ${show(x)}` })
    }
    return problems.length > 0 ? { ok: false, problems } : good(Object.fromEntries(entries) as Record<string, string>)
  })
}

// ---------------------------------------------------------------------------------------------
// Providers.

const fmt = formatDuration

const callFields = {
  timeout: durationField({ default: fmt(DEFAULT_CALL_POLICY.timeoutMs), min: '100ms', max: '10m', doc: 'Every call is abandoned after this long.' }),
  max_attempts: intField({ default: DEFAULT_CALL_POLICY.maxAttempts, min: 1, max: 10, doc: 'Attempts per call for transient and rate-limited errors.' }),
  backoff: durationField({ default: fmt(DEFAULT_CALL_POLICY.baseBackoffMs), min: '0', max: '1m', doc: 'First retry backoff; doubles, full jitter.' }),
  max_backoff: durationField({ default: fmt(DEFAULT_CALL_POLICY.maxBackoffMs), min: '0', max: '10m', doc: 'Backoff cap.' }),
}

const userData = (maxChars: number) => nullableStringField({ maxChars, what: 'a script', pattern: /^[\s\S]*$/, doc: 'Boot script.' })
/** EC2's user-data limit (16 KB); GCP's metadata value limit (256 KB). */
const AWS_USER_DATA_MAX = 16 * 1024
const GCP_STARTUP_SCRIPT_MAX = 256 * 1024

const providerKinds = {
  aws: entry({
    name: required(nameField('a provider name')),
    kind: enumField({ values: ['aws'], default: 'aws', doc: '' }),
    regions: stringList(REGION, REGIONS_MAX),
    endpoint: nullableUrlField(),
    profile: nullableStringField({ maxChars: 128, what: 'a profile name', doc: '' }),
    image_ids: stringMap(REGION, 'an AMI id'),
    subnet_ids: stringMap(ZONE, 'a subnet id'),
    key_name: nullableStringField({ maxChars: 255, what: 'a key pair name', doc: '' }),
    user_data: userData(AWS_USER_DATA_MAX),
    ...callFields,
  }),
  gcp: entry({
    name: required(nameField('a provider name')),
    kind: enumField({ values: ['gcp'], default: 'gcp', doc: '' }),
    project: required(textField({ pattern: /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, maxChars: 30, what: 'a GCP project id' })),
    zones: stringList(ZONE, REGIONS_MAX),
    endpoint: nullableUrlField(),
    credentials_file: nullablePathField({ doc: '' }),
    image: required(stringField({ default: '-', maxChars: 1024, what: 'an image (projects/P/global/images/I or a family URL)', doc: '' })),
    disk_size_gb: intField({ default: DEFAULT_COORDINATOR_CONFIG.gcp.diskSizeGb, min: 10, max: 65_536, doc: '' }),
    startup_script: userData(GCP_STARTUP_SCRIPT_MAX),
    ...callFields,
  }),
  lambda: entry({
    name: required(nameField('a provider name')),
    kind: enumField({ values: ['lambda'], default: 'lambda', doc: '' }),
    endpoint: field((v) => v === undefined ? good(DEFAULT_COORDINATOR_CONFIG.lambda.endpoint as string) : checkUrl(v)),
    api_key_env: field((v) => v === undefined ? good(DEFAULT_COORDINATOR_CONFIG.lambda.apiKeyEnv as string) : checkText(v, ENV_NAME)),
    api_key_file: nullablePathField({ doc: '' }),
    ssh_key_name: required(stringField({ default: '-', maxChars: 64, what: 'an SSH key name', doc: '' })),
    user_data: userData(AWS_USER_DATA_MAX),
    launch_interval: durationField({ default: fmt(DEFAULT_COORDINATOR_CONFIG.lambda.launchIntervalMs), min: '0', max: '10m', doc: '' }),
    request_interval: durationField({ default: fmt(DEFAULT_COORDINATOR_CONFIG.lambda.requestIntervalMs), min: '0', max: '1m', doc: '' }),
    ...callFields,
  }),
}
type ProviderKind = keyof typeof providerKinds
const PROVIDER_KINDS = Object.keys(providerKinds) as ProviderKind[]
type ParsedProvider = { [K in ProviderKind]: z.output<typeof providerKinds[K]> }[ProviderKind]

/** `kind` may be left out when the name is the kind (`name: aws`). */
const providerEntry = field((v): Checked<{ kind: ProviderKind, value: unknown }> => {
  if (!isMapping(v)) return bad(`expected a mapping of fields, got ${show(v)}`)
  const kind = v.kind ?? (PROVIDER_KINDS.includes(v.name as ProviderKind) ? v.name : undefined)
  if (kind === undefined) return bad(`required (${PROVIDER_KINDS.join(', ')}; only a provider named after its kind may leave it out)`, ['kind'])
  if (!PROVIDER_KINDS.includes(kind as ProviderKind)) return bad(`must be one of ${PROVIDER_KINDS.join(', ')}, got ${show(kind)}`, ['kind'])
  return good({ kind: kind as ProviderKind, value: { ...v, kind } })
}).transform((p, ctx): ParsedProvider => sub(providerKinds[p.kind], p.value, ctx) as ParsedProvider)

// ---------------------------------------------------------------------------------------------
// Pools and autoscalers.

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const

function checkClock (v: unknown): Checked<number> {
  const m = typeof v === 'string' ? /^([01]\d|2[0-3]):([0-5]\d)$/.exec(v) : null
  if (m === null) return bad(`expected a UTC time "HH:MM" (quoted), got ${show(v)}`)
  return good(Number(m[1]) * 60 + Number(m[2]))
}

const cooldownSection = section({
  up: durationField({ default: fmt(A.cooldownUpMs), min: '0', max: '24h', doc: '' }),
  down: durationField({ default: fmt(A.cooldownDownMs), min: '0', max: '24h', doc: '' }),
})

const nodeCount = (d = 0) => intField({ default: d, min: 0, max: NODES_MAX, doc: '' })

const windowEntry = entry({
  days: field((v): Checked<number[]> => {
    if (v === undefined) return good([])
    if (v === null) return good([])
    if (!Array.isArray(v) || v.length > 7) return bad(`expected a list of days (${DAYS.join(', ')} or 0..6), got ${show(v)}`)
    const problems: Problem[] = []
    const days = v.map((d: unknown) => typeof d === 'number' && Number.isInteger(d) && d >= 0 && d <= 6 ? d : DAYS.indexOf(d as typeof DAYS[number]))
    days.forEach((d, i) => {
      if (d < 0) problems.push({ path: [i], message: `must be one of ${DAYS.join(', ')} (or 0..6, 0 = Sunday), got ${show(v[i])}` })
      else if (days.indexOf(d) !== i) problems.push({ path: [i], message: `${show(v[i])} is listed twice` })
    })
    return problems.length > 0 ? { ok: false, problems } : good(days)
  }),
  start: required(field(checkClock)),
  end: required(field(checkClock)),
  min_nodes: required(nodeCount()),
  max_nodes: required(nodeCount()),
})

type ParsedAutoscaler = { type: string, cooldown: z.output<typeof cooldownSection> } & Record<string, unknown>

function autoscalerKinds (depth: number) {
  const nested = depth < AUTOSCALER_DEPTH_MAX
    ? autoscalerField(depth + 1)
    : field((v) => v === null || v === undefined ? good(null) : bad(`autoscalers nest at most ${A.maxDepth} levels`))
  const kind = (k: string) => enumField({ values: [k], default: k, doc: '' })
  return {
    reactive: entry({
      type: kind('reactive'),
      scale_up_at: percentField(A.scaleUpAt, { openHigh: false }),
      scale_down_at: percentField(A.scaleDownAt, { openHigh: true }),
      step: intField({ default: A.step, min: 1, max: 1000, doc: '' }),
      window: durationField({ default: fmt(A.reactiveWindowMs), min: '10s', max: '24h', doc: '' }),
      cooldown: cooldownSection,
    }),
    queue: entry({
      type: kind('queue'),
      jobs_per_node: intField({ default: A.jobsPerNode, min: 1, max: 100_000, doc: '' }),
      cooldown: cooldownSection,
    }),
    scheduled: entry({
      type: kind('scheduled'),
      windows: list(windowEntry, { min: 1, max: WINDOWS_MAX, what: 'windows' }),
      fallback: nested,
      cooldown: cooldownSection,
    }),
    predictive: entry({
      type: kind('predictive'),
      window: durationField({ default: fmt(A.predictiveWindowMs), min: '1m', max: '7d', doc: '' }),
      horizon: durationField({ default: fmt(A.horizonMs), min: '0', max: '24h', doc: '' }),
      target: percentField(A.target, { openHigh: false }),
      fallback: nested,
      cooldown: cooldownSection,
    }),
    composite: entry({
      type: kind('composite'),
      mode: enumField({ values: ['max', 'min', 'avg'], default: A.mode, doc: '' }),
      autoscalers: depth < AUTOSCALER_DEPTH_MAX
        ? list(autoscalerField(depth + 1), { min: 1, max: COMPOSITE_CHILDREN_MAX, what: 'autoscalers' })
        : field(() => bad<unknown[]>(`autoscalers nest at most ${A.maxDepth} levels`)),
      cooldown: cooldownSection,
    }),
  }
}

/** YAML `autoscaling:` (docs/autoscalers.md). null or absent: none; the pool stays at min_nodes (`shoal scale` moves it). */
function autoscalerField (depth: number): z.ZodType<ParsedAutoscaler | null> {
  const kinds = autoscalerKinds(depth) as unknown as Record<string, z.ZodType>
  const names = Object.keys(kinds)
  return field((v): Checked<{ schema: z.ZodType, value: unknown } | null> => {
    if (v === null || v === undefined) return good(null)
    if (!isMapping(v)) return bad(`expected an autoscaler mapping (type: ${names.join(' | ')}) or null, got ${show(v)}`)
    const schema = typeof v.type === 'string' ? kinds[v.type] : undefined
    if (v.type === undefined) return bad(`required (${names.join(', ')})`, ['type'])
    if (schema === undefined) return bad(`must be one of ${names.join(', ')}, got ${show(v.type)}`, ['type'])
    return good({ schema, value: v })
  }).transform((p, ctx) => p === null ? null : sub(p.schema, p.value, ctx) as ParsedAutoscaler) as z.ZodType<ParsedAutoscaler | null>
}

const r = DEFAULT_COORDINATOR_CONFIG.replacement
const healthFields = {
  auto_replace: boolField({ default: r.autoReplace, doc: '' }),
  breaker: fractionField({ default: r.breakerFraction, openLow: true, openHigh: false }),
  max_in_flight: intField({ default: r.maxInFlight, min: 1, max: 1000, doc: '' }),
  boot_deadline: durationField({ default: fmt(r.bootDeadlineMs), min: '10s', max: '6h', doc: '' }),
  max_attempts: intField({ default: r.maxAttempts, min: 1, max: 10, doc: '' }),
  dead_replace_after: durationField({ default: fmt(r.deadReplaceAfterMs), min: '0', max: '24h', doc: '' }),
}
const healthOverrides = section({
  auto_replace: optional(healthFields.auto_replace),
  breaker: fractionField({ openLow: true, openHigh: false }),
  max_in_flight: optional(healthFields.max_in_flight),
  boot_deadline: optional(healthFields.boot_deadline),
  max_attempts: optional(healthFields.max_attempts),
  dead_replace_after: optional(healthFields.dead_replace_after),
})

const offerEntry = entry({
  provider: required(nameField('a provider name')),
  region: required(textField(REGION)),
  zone: field((v) => v === undefined || v === '' ? good('') : checkText(v, ZONE)),
  instance_type: required(textField(INSTANCE_TYPE)),
  /** Absent: the entry's position in the list. */
  priority: optional(intField({ default: 0, min: 0, max: 1000, doc: '' })),
  cost_per_hour: field((v): Checked<number | undefined> => {
    if (v === undefined || v === null) return good(undefined)
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1_000_000) return bad(`expected USD per hour (a number, 0 or more), got ${show(v)}`)
    return good(v)
  }),
  weight: intField({ default: DEFAULT_COORDINATOR_CONFIG.pool.weight, min: 1, max: 1000, doc: '' }),
})

/** YAML `queue_source:`: where the queue autoscaler reads its queue depth besides `shoal queue set`. */
const queueSourceEntry = entry({
  url: required(urlField()),
  query: field((v) => v === undefined || v === null ? good(null) : checkText(v, { pattern: /^[^\p{Cc}]+$/u, maxChars: 4096, what: 'a PromQL expression' })),
  interval: durationField({ default: fmt(DEFAULT_COORDINATOR_CONFIG.queueSource.intervalMs), min: '1s', max: '1h', doc: '' }),
  timeout: durationField({ default: fmt(DEFAULT_COORDINATOR_CONFIG.queueSource.timeoutMs), min: '100ms', max: '1m', doc: '' }),
})

const poolEntry = entry({
  name: required(nameField('a pool name')),
  min_nodes: required(nodeCount()),
  /** Absent: min_nodes (a fixed-size pool). */
  max_nodes: optional(nodeCount()),
  strategy: enumField({ values: ['priority', 'cost', 'round-robin', 'availability'], default: DEFAULT_COORDINATOR_CONFIG.pool.strategy, doc: '' }),
  providers: list(offerEntry, { min: 1, max: OFFERS_MAX, what: 'provider entries' }),
  labels: labelsField({ doc: '' }),
  gpus_per_node: field((v): Checked<number | undefined> => {
    if (v === undefined || v === null) return good(undefined)
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 256) return bad(`expected an integer 1..256 or null, got ${show(v)}`)
    return good(v)
  }),
  gpu_model: field((v) => v === undefined || v === '' ? good('') : checkText(v, { pattern: /^[^\p{Cc}]+$/u, maxChars: 96, what: 'part of a GPU model name (e.g. "H100")' })),
  health: healthOverrides,
  autoscaling: autoscalerField(0),
  queue_source: z.unknown().transform((v, ctx) => v === undefined || v === null ? null : sub(queueSourceEntry, v, ctx)).prefault(undefined),
})

const webhookEntry = entry({
  url: required(urlField()),
  secret_env: field((v) => v === undefined ? good(DEFAULT_COORDINATOR_CONFIG.webhook.secretEnv as string) : checkText(v, ENV_NAME)),
  secret_file: nullablePathField({ doc: '' }),
  events: field((v): Checked<WebhookConfig['events']> => {
    if (v === undefined) return good(WEBHOOK_EVENT_KINDS)
    if (!Array.isArray(v) || v.length === 0) return bad(`expected a non-empty list of event kinds (omit it for all), got ${show(v)}`)
    const problems: Problem[] = []
    v.forEach((e: unknown, i) => {
      if (!(WEBHOOK_EVENT_KINDS as readonly unknown[]).includes(e)) problems.push({ path: [i], message: `must be one of ${WEBHOOK_EVENT_KINDS.join(', ')}, got ${show(e)}` })
      else if (v.indexOf(e) !== i) problems.push({ path: [i], message: `${show(e)} is listed twice` })
    })
    return problems.length > 0 ? { ok: false, problems } : good([...v] as WebhookConfig['events'])
  }),
  timeout: durationField({ default: fmt(DEFAULT_COORDINATOR_CONFIG.webhook.timeoutMs), min: '100ms', max: '1m', doc: '' }),
})

const fileSchema = z.strictObject({
  providers: list(providerEntry, { min: 1, max: PROVIDERS_MAX, what: 'providers' }),
  pools: list(poolEntry, { min: 1, max: POOLS_MAX, what: 'pools' }),
  reconcile: section({
    interval: durationField({ default: fmt(DEFAULT_COORDINATOR_CONFIG.reconcileIntervalMs), min: '100ms', max: '5m', doc: '' }),
    list_interval: durationField({ default: fmt(DEFAULT_COORDINATOR_CONFIG.listIntervalMs), min: '1s', max: '1h', doc: '' }),
  }),
  replacement: section(healthFields),
  orphan_grace: durationField({ default: fmt(DEFAULT_COORDINATOR_CONFIG.orphanGraceMs), min: '0', max: '7d', doc: '' }),
  webhooks: list(webhookEntry, { min: 0, max: WEBHOOKS_MAX, what: 'webhooks', fallback: [] }),
})
type ParsedFile = z.output<typeof fileSchema>
type ParsedPool = ParsedFile['pools'][number]

// ---------------------------------------------------------------------------------------------
// Relations between values: checked once every value is valid on its own.

function relations (f: ParsedFile): Problem[] {
  const out: Problem[] = []
  const providers = new Map<string, ParsedProvider>()
  f.providers.forEach((p, i) => {
    const first = [...providers.keys()].indexOf(p.name)
    if (first >= 0) out.push({ path: ['providers', i, 'name'], message: `${show(p.name)} is declared twice (first at providers[${first}])` })
    else providers.set(p.name, p)
    if (p.backoff > p.max_backoff) out.push({ path: ['providers', i, 'backoff'], message: `must not exceed max_backoff (${fmt(p.max_backoff)}), got ${fmt(p.backoff)}` })
    if (p.kind === 'aws') {
      for (const region of Object.keys(p.image_ids)) {
        if (!p.regions.includes(region)) out.push({ path: ['providers', i, 'image_ids', region], message: `not one of this provider's regions (${p.regions.join(', ')})` })
      }
      for (const zone of Object.keys(p.subnet_ids)) {
        if (!p.regions.some((r) => zone.startsWith(r))) out.push({ path: ['providers', i, 'subnet_ids', zone], message: `not a zone of this provider's regions (${p.regions.join(', ')})` })
      }
    }
  })
  const pools = new Set<string>()
  f.pools.forEach((pool, i) => {
    const at = (...rest: Key[]): Key[] => ['pools', i, ...rest]
    if (pools.has(pool.name)) out.push({ path: at('name'), message: `${show(pool.name)} is declared twice` })
    pools.add(pool.name)
    if (pool.max_nodes !== undefined && pool.max_nodes < pool.min_nodes) {
      out.push({ path: at('max_nodes'), message: `must be at least min_nodes (${pool.min_nodes}), got ${pool.max_nodes}` })
    }
    out.push(...offerRelations(pool, providers, at))
    if (pool.autoscaling !== null) out.push(...autoscalerRelations(pool.autoscaling, at('autoscaling')))
  })
  return out
}

function offerRelations (pool: ParsedPool, providers: ReadonlyMap<string, ParsedProvider>, at: (...rest: Key[]) => Key[]): Problem[] {
  const out: Problem[] = []
  const seen = new Map<string, number>()
  pool.providers.forEach((o, j) => {
    const here = (k: string): Key[] => at('providers', j, k)
    const key = `${o.provider}/${o.region}/${o.zone}/${o.instance_type}`
    const dup = seen.get(key)
    if (dup !== undefined) out.push({ path: at('providers', j), message: `the same offer as providers[${dup}]` })
    seen.set(key, j)
    const p = providers.get(o.provider)
    if (p === undefined) {
      out.push({ path: here('provider'), message: `${show(o.provider)} is not a declared provider (declared: ${[...providers.keys()].join(', ')})` })
      return
    }
    if (p.kind === 'aws') {
      if (!p.regions.includes(o.region)) out.push({ path: here('region'), message: `${show(o.region)} is not one of ${p.name}'s regions (${p.regions.join(', ')})` })
      else if (p.image_ids[o.region] === undefined) out.push({ path: here('region'), message: `${p.name} has no image_ids entry for ${o.region}` })
      if (o.zone !== '' && !o.zone.startsWith(o.region)) out.push({ path: here('zone'), message: `${show(o.zone)} is not in region ${o.region}` })
    } else if (p.kind === 'gcp') {
      const zone = o.zone === '' ? `${o.region}-a` : o.zone
      if (!zone.startsWith(`${o.region}-`)) out.push({ path: here('zone'), message: `${show(o.zone)} is not in region ${o.region}` })
      else if (!p.zones.includes(zone)) {
        out.push({ path: here(o.zone === '' ? 'region' : 'zone'), message: `${p.name} does not list zone ${zone} (zones: ${p.zones.join(', ')})${o.zone === '' ? '; name a zone, or add it' : ''}` })
      }
    } else if (o.zone !== '') {
      out.push({ path: here('zone'), message: 'Lambda has no zones: leave zone out' })
    }
  })
  return out
}

function autoscalerRelations (a: ParsedAutoscaler, path: Key[]): Problem[] {
  const out: Problem[] = []
  if (a.type === 'reactive' && (a.scale_down_at as number) >= (a.scale_up_at as number)) {
    out.push({ path: [...path, 'scale_down_at'], message: `must be below scale_up_at (${String(a.scale_up_at)}), got ${String(a.scale_down_at)}` })
  }
  if (a.type === 'scheduled') {
    (a.windows as Array<z.output<typeof windowEntry>>).forEach((w, i) => {
      if (w.max_nodes < w.min_nodes) out.push({ path: [...path, 'windows', i, 'max_nodes'], message: `must be at least min_nodes (${w.min_nodes}), got ${w.max_nodes}` })
      if (w.start === w.end) out.push({ path: [...path, 'windows', i, 'end'], message: 'must differ from start (an empty window; for all day, leave the pool\'s own bounds)' })
    })
  }
  if (a.fallback !== null && a.fallback !== undefined) out.push(...autoscalerRelations(a.fallback as ParsedAutoscaler, [...path, 'fallback']))
  if (a.type === 'composite') (a.autoscalers as ParsedAutoscaler[]).forEach((c, i) => out.push(...autoscalerRelations(c, [...path, 'autoscalers', i])))
  return out
}

// ---------------------------------------------------------------------------------------------
// Parsed YAML → the planner's types.

function toCall (p: { timeout: number, max_attempts: number, backoff: number, max_backoff: number }): CallPolicy {
  return { timeoutMs: p.timeout, maxAttempts: p.max_attempts, baseBackoffMs: p.backoff, maxBackoffMs: p.max_backoff }
}

function toProvider (p: ParsedProvider): ProviderOptions {
  switch (p.kind) {
    case 'aws': return {
      kind: 'aws', name: p.name, regions: p.regions, endpoint: p.endpoint, profile: p.profile, imageIds: p.image_ids,
      subnetIds: p.subnet_ids, keyName: p.key_name, userData: p.user_data, call: toCall(p),
    }
    case 'gcp': return {
      kind: 'gcp', name: p.name, project: p.project, zones: p.zones, endpoint: p.endpoint, credentialsFile: p.credentials_file,
      image: p.image, diskSizeGb: p.disk_size_gb, startupScript: p.startup_script, call: toCall(p),
    }
    case 'lambda': return {
      kind: 'lambda', name: p.name, endpoint: p.endpoint, apiKeyEnv: p.api_key_env, apiKeyFile: p.api_key_file, sshKeyName: p.ssh_key_name,
      userData: p.user_data, launchIntervalMs: p.launch_interval, requestIntervalMs: p.request_interval, call: toCall(p),
    }
  }
}

function toAutoscaler (a: ParsedAutoscaler): AutoscalerSpec {
  const cooldown: Cooldowns = { upMs: a.cooldown.up, downMs: a.cooldown.down }
  const fallback = (): AutoscalerSpec | null => a.fallback === null || a.fallback === undefined ? null : toAutoscaler(a.fallback as ParsedAutoscaler)
  const n = (k: string): number => a[k] as number
  switch (a.type) {
    case 'reactive': return { kind: 'reactive', scaleUpAt: n('scale_up_at'), scaleDownAt: n('scale_down_at'), step: n('step'), windowMs: n('window'), cooldown }
    case 'queue': return { kind: 'queue', jobsPerNode: n('jobs_per_node'), cooldown }
    case 'scheduled': return {
      kind: 'scheduled',
      windows: (a.windows as Array<z.output<typeof windowEntry>>).map((w): ScheduleWindow => ({
        days: w.days, startMinute: w.start, endMinute: w.end, minNodes: w.min_nodes, maxNodes: w.max_nodes,
      })),
      fallback: fallback(),
      cooldown,
    }
    case 'predictive': return { kind: 'predictive', windowMs: n('window'), horizonMs: n('horizon'), target: n('target'), fallback: fallback(), cooldown }
    default: return {
      kind: 'composite', mode: a.mode as 'max' | 'min' | 'avg', children: (a.autoscalers as ParsedAutoscaler[]).map(toAutoscaler), cooldown,
    }
  }
}

function toHealth (p: ParsedFile['replacement']): PoolHealth {
  return {
    autoReplace: p.auto_replace,
    breakerFraction: p.breaker ?? DEFAULT_COORDINATOR_CONFIG.replacement.breakerFraction,
    maxInFlight: p.max_in_flight,
    bootDeadlineMs: p.boot_deadline,
    maxAttempts: p.max_attempts,
    deadReplaceAfterMs: p.dead_replace_after,
  }
}

function toPool (p: ParsedPool, defaults: PoolHealth): PoolSpec {
  const h = p.health
  return {
    name: p.name,
    minNodes: p.min_nodes,
    maxNodes: p.max_nodes ?? p.min_nodes,
    strategy: p.strategy,
    offers: p.providers.map((o, j): Offer => ({
      provider: o.provider,
      region: o.region,
      zone: o.zone,
      instanceType: o.instance_type,
      priority: o.priority ?? j,
      costPerHour: o.cost_per_hour,
      weight: o.weight,
    })),
    labels: p.labels,
    gpusPerNode: p.gpus_per_node,
    gpuModel: p.gpu_model,
    health: {
      autoReplace: h.auto_replace ?? defaults.autoReplace,
      breakerFraction: h.breaker ?? defaults.breakerFraction,
      maxInFlight: h.max_in_flight ?? defaults.maxInFlight,
      bootDeadlineMs: h.boot_deadline ?? defaults.bootDeadlineMs,
      maxAttempts: h.max_attempts ?? defaults.maxAttempts,
      deadReplaceAfterMs: h.dead_replace_after ?? defaults.deadReplaceAfterMs,
    },
    autoscaler: p.autoscaling === null ? null : toAutoscaler(p.autoscaling),
    queueSource: p.queue_source === null ? null : { url: p.queue_source.url, query: p.queue_source.query, intervalMs: p.queue_source.interval, timeoutMs: p.queue_source.timeout },
  }
}

function toConfig (f: ParsedFile): CoordinatorConfig {
  const replacement = toHealth(f.replacement)
  return {
    providers: f.providers.map(toProvider),
    pools: f.pools.map((p) => toPool(p, replacement)),
    reconcile: { intervalMs: f.reconcile.interval, listIntervalMs: f.reconcile.list_interval },
    replacement,
    orphanGraceMs: f.orphan_grace,
    webhooks: f.webhooks.map((w): WebhookConfig => ({
      url: w.url, secretEnv: w.secret_env, secretFile: w.secret_file, events: w.events, timeoutMs: w.timeout,
    })),
  }
}

// ---------------------------------------------------------------------------------------------
// Entry points.

/** `pools[1].providers[0].region` */
export function formatPath (path: readonly Key[]): string {
  return path.map((k, i) => typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`).join('')
}

/** The coordinator file's text → CoordinatorConfig (deep-frozen), or a ConfigError naming every problem. */
export function parseCoordinatorFile (text: string, source: string): CoordinatorConfig {
  const bytes = Buffer.byteLength(text)
  if (bytes > COORDINATOR_FILE_MAX_BYTES) {
    throw new ConfigError(source, [{ path: '', message: `is ${bytes} bytes; a coordinator file is at most ${COORDINATOR_FILE_MAX_BYTES} (1 MiB)` }])
  }
  const data = parseYaml(text, source) ?? {}
  if (!isMapping(data)) {
    throw new ConfigError(source, [{ path: '', message: `the file must be a mapping (providers:, pools:, ...), got ${show(data)}` }])
  }
  const parsed = fileSchema.safeParse(data, { reportInput: true })
  const issue = (p: Problem): ConfigIssue => ({ path: formatPath(p.path), message: p.message })
  if (!parsed.success) {
    throw new ConfigError(source, parsed.error.issues.flatMap((i) => ourWords(i, fileSchema)).map(issue))
  }
  const problems = relations(parsed.data)
  if (problems.length > 0) throw new ConfigError(source, problems.map(issue))
  return deepFreeze(toConfig(parsed.data))
}

export async function loadCoordinatorFile (path: string): Promise<CoordinatorConfig> {
  return parseCoordinatorFile(await readBoundedText(path, COORDINATOR_FILE_MAX_BYTES, 'a coordinator file'), path)
}

