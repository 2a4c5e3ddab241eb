// Lambda Cloud over its REST API (fetch). Lambda has no idempotency token, so the name is the
// token: launch first lists the account's instances and returns the one already carrying this
// name, and only then launches. A lost launch answer is retried the same way (list, then launch),
// so a retry adopts what the lost call created. Requests are paced to the documented limits
// (one launch per 12 s, about one request per second); 429 honours Retry-After.
import { readFileSync } from 'node:fs'
import { systemRng } from '../../agent/lib/rng.js'
import type { CallPolicy, LambdaOptions } from './options.js'
import { ProviderError, type Instance, type InstanceRef, type InstanceState, type InstanceTags, type Offering, type Provider, type ProvisionRequest } from './provider.js'
import { call, callDepsOf, realSleep, type CallDeps, type ProviderCallDeps } from './retry.js'
import { allTags, parseTags } from './tags.js'

export interface LambdaDeps extends ProviderCallDeps {
  now?: () => number
  fetch?: typeof fetch
  /** Where apiKeyEnv is looked up; default process.env. */
  env?: Readonly<Record<string, string | undefined>>
  /** Share one pacer between providers that use the same account (limits are per account). */
  pacer?: Pacer
  /** Reads ownership back from a name when an instance has no tags (the coordinator's name scheme). */
  parseName?: (name: string) => InstanceTags | null
}

/** Spaces requests: every request ≥ requestIntervalMs apart, launches also ≥ launchIntervalMs apart. */
export class Pacer {
  private nextRequestAt = -Infinity
  private nextLaunchAt = -Infinity

  constructor (private readonly now: () => number, private readonly sleep: (ms: number) => Promise<void>,
    private readonly requestIntervalMs: number, private readonly launchIntervalMs: number) {}

  /** Reserves the next slot synchronously (so concurrent callers queue in order), then waits for it. */
  async take (kind: 'request' | 'launch'): Promise<void> {
    const now = this.now()
    const at = Math.max(now, this.nextRequestAt, kind === 'launch' ? this.nextLaunchAt : -Infinity)
    this.nextRequestAt = at + this.requestIntervalMs
    if (kind === 'launch') this.nextLaunchAt = at + this.launchIntervalMs
    if (at > now) await this.sleep(at - now)
  }
}

/** Error envelope code (or HTTP status) → what the planner does (clouds.md §2). */
export function classifyLambdaError (status: number, code: string, message: string, retryAfterMs?: number): ProviderError {
  const m = `Lambda: ${code}: ${message}`
  if (status === 429) return new ProviderError('rate-limited', code || 'HTTP_429', m, retryAfterMs)
  if (code === 'instance-operations/launch/insufficient-capacity') return new ProviderError('capacity', code, m)
  if (code === 'global/quota-exceeded' || code === 'provider/quota-exceeded') return new ProviderError('quota', code, m)
  if (code === 'global/object-does-not-exist' || status === 404) return new ProviderError('not-found', code || 'HTTP_404', m)
  if (code.startsWith('provider/') || status >= 500) return new ProviderError('transient', code || `HTTP_${status}`, m)
  // invalid-api-key, account-inactive, invalid-parameters, duplicate, file-system-in-wrong-region, ...
  return new ProviderError('fatal', code || `HTTP_${status}`, m)
}

interface WireInstance {
  id: string
  name?: string | null
  ip?: string | null
  private_ip?: string | null
  status?: string
  region?: { name?: string }
  instance_type?: { name?: string }
  tags?: Array<{ key: string, value: string }>
}

const STATES: Record<string, InstanceState> = {
  booting: 'pending',
  active: 'running',
  // Exists and bills; whether it is usable is the boot gate's call, not the cloud's.
  unhealthy: 'running',
  terminating: 'terminating',
  terminated: 'terminated',
  preempted: 'terminated',
}

/** Instances per GET /instances we accept: bounds memory against a runaway account listing. */
const MAX_INSTANCES = 10_000
/** A backstop over a whole launch (list + launch, retried); the inner requests time out on their own. */
const LAUNCH_BACKSTOP_MS = 60 * 60_000

export class LambdaProvider implements Provider {
  readonly name: string
  private readonly pacer: Pacer
  private readonly callDeps: CallDeps
  private readonly fetch: typeof fetch
  private key: string | null = null

  constructor (readonly options: LambdaOptions, private readonly deps: LambdaDeps = {}) {
    this.name = options.name
    const sleep = deps.sleep ?? realSleep
    this.pacer = deps.pacer ?? new Pacer(deps.now ?? Date.now, sleep, options.requestIntervalMs, options.launchIntervalMs)
    this.callDeps = callDepsOf({ ...deps, sleep }, systemRng)
    this.fetch = deps.fetch ?? fetch
  }

  provision (req: ProvisionRequest): Promise<Instance> {
    const outer: CallPolicy = { ...this.options.call, timeoutMs: LAUNCH_BACKSTOP_MS }
    return call(outer, async () => {
      const existing = (await this.all()).filter((i) => i.name === req.name)
      const live = existing.find((i) => i.status !== 'terminated') ?? existing[0]
      if (live !== undefined) return this.toInstance(live, req)
      const body = {
        region_name: req.region,
        instance_type_name: req.instanceType,
        ssh_key_names: [this.options.sshKeyName],
        name: req.name,
        tags: Object.entries(allTags(req.tags, req.labels)).map(([key, value]) => ({ key, value })),
        ...(this.options.userData !== null ? { user_data: this.options.userData } : {}),
      }
      const once: CallPolicy = { ...this.options.call, maxAttempts: 1 }
      const data = await this.request<{ instance_ids?: string[] }>('launch', 'POST', '/instance-operations/launch', body, once)
      const id = data.instance_ids?.[0]
      if (id === undefined) throw new ProviderError('transient', 'EmptyResponse', 'Lambda launch returned no instance id')
      return { provider: this.name, region: req.region, zone: '', id, name: req.name, instanceType: req.instanceType, state: 'pending', tags: req.tags, launchedMs: 0, addresses: [] }
    }, this.callDeps)
  }

  async list (fleet: string): Promise<Instance[]> {
    return (await this.all()).map((i) => this.toInstance(i)).filter((i) => i.tags?.fleet === fleet)
  }

  async terminate (ref: InstanceRef): Promise<void> {
    try {
      await this.request('request', 'POST', '/instance-operations/terminate', { instance_ids: [ref.id] })
    } catch (err) {
      if (err instanceof ProviderError && err.errorClass === 'not-found') return
      throw err
    }
  }

  async offerings (): Promise<Offering[]> {
    type Types = Record<string, { instance_type?: { name?: string, price_cents_per_hour?: number }, regions_with_capacity_available?: Array<{ name?: string }> }>
    const data = await this.request<Types>('request', 'GET', '/instance-types')
    const out: Offering[] = []
    for (const [type, t] of Object.entries(data)) {
      const price = t.instance_type?.price_cents_per_hour
      for (const r of t.regions_with_capacity_available ?? []) {
        if (r.name === undefined) continue
        out.push({ region: r.name, instanceType: type, available: true, ...(price !== undefined ? { pricePerHour: price / 100 } : {}) })
      }
    }
    return out
  }

  private async all (): Promise<WireInstance[]> {
    const data = await this.request<WireInstance[]>('request', 'GET', '/instances')
    if (!Array.isArray(data)) throw new ProviderError('transient', 'BadResponse', 'Lambda GET /instances: data is not a list')
    if (data.length > MAX_INSTANCES) throw new ProviderError('fatal', 'TooMany', `Lambda lists ${data.length} instances (limit ${MAX_INSTANCES})`)
    return data
  }

  private request<T> (kind: 'request' | 'launch', method: string, path: string, body?: unknown, policy: CallPolicy = this.options.call): Promise<T> {
    const key = this.apiKey()
    const url = `${this.options.endpoint.replace(/\/$/, '')}${path}`
    return call(policy, async (signal) => {
      let res: Response
      try {
        res = await this.fetch(url, {
          method,
          signal,
          headers: { authorization: `Bearer ${key}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        })
      } catch (err) {
        if (signal.aborted) throw signal.reason
        throw new ProviderError('transient', 'network', `Lambda ${method} ${path}: ${String(err)}`)
      }
      const text = await res.text()
      let json: { data?: T, error?: { code?: string, message?: string } } = {}
      try { json = JSON.parse(text) as typeof json } catch { /* an HTML error page: classified by status below */ }
      if (!res.ok || json.error !== undefined) {
        const after = Number(res.headers.get('retry-after'))
        throw classifyLambdaError(res.status, json.error?.code ?? '', json.error?.message ?? text.slice(0, 200),
          Number.isFinite(after) && res.headers.has('retry-after') ? after * 1000 : undefined)
      }
      if (json.data === undefined) throw new ProviderError('transient', 'BadResponse', `Lambda ${method} ${path}: no data`)
      return json.data
    }, { ...this.callDeps, beforeAttempt: () => this.pacer.take(kind) })
  }

  private apiKey (): string {
    if (this.key !== null) return this.key
    const o = this.options
    let key: string | undefined
    if (o.apiKeyFile !== null) {
      try {
        key = readFileSync(o.apiKeyFile, 'utf8').trim()
      } catch (err) {
        throw new ProviderError('fatal', 'NoApiKey', `Lambda API key file ${o.apiKeyFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
      }
      if (key === '') throw new ProviderError('fatal', 'NoApiKey', `Lambda API key file ${o.apiKeyFile} is empty`)
    } else {
      key = (this.deps.env ?? process.env)[o.apiKeyEnv]?.trim()
      if (key === undefined || key === '') throw new ProviderError('fatal', 'NoApiKey', `Lambda API key: environment variable ${o.apiKeyEnv} is not set (or set apiKeyFile)`)
    }
    this.key = key
    return key
  }

  private toInstance (i: WireInstance, req?: ProvisionRequest): Instance {
    const tagMap = new Map((i.tags ?? []).map((t) => [t.key, t.value]))
    const name = i.name ?? ''
    const tags = parseTags((k) => tagMap.get(k)) ?? this.deps.parseName?.(name) ?? (req !== undefined && tagMap.size === 0 ? req.tags : null)
    return {
      provider: this.name,
      region: i.region?.name ?? '',
      zone: '',
      id: i.id,
      name,
      instanceType: i.instance_type?.name ?? '',
      state: STATES[i.status ?? ''] ?? 'pending',
      tags,
      launchedMs: 0,
      addresses: [i.ip, i.private_ip].filter((a): a is string => typeof a === 'string' && a !== ''),
    }
  }
}
