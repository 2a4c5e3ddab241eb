// GCP Compute Engine through @google-cloud/compute (REST fallback), loaded lazily: the SDK costs
// 1.3 s and 170 MB to import. Idempotency: insert carries requestId = a UUID derived from (token,
// zone) and name = req.name, so a retry or a successor coordinator gets either the same operation
// or 409 alreadyExists, which is success when the existing instance carries our token label.
// Capacity errors arrive inside the Operation, so provision waits for DONE (looping: wait may
// return early). Credentials: ADC or the service-account file in options; never logged.
import { createHash } from 'node:crypto'
import type { InstancesClient, ZoneOperationsClient, protos } from '@google-cloud/compute'
import { systemRng } from '../../agent/lib/rng.js'
import type { GcpOptions } from './options.js'
import { ProviderError, TAG_KEYS, type Instance, type InstanceRef, type InstanceState, type Provider, type ProvisionRequest } from './provider.js'
import { call, callDepsOf, type CallDeps, type ProviderCallDeps } from './retry.js'
import { allTags, parseTagRecord } from './tags.js'

type Operation = protos.google.cloud.compute.v1.IOperation
type GceInstance = protos.google.cloud.compute.v1.IInstance

export interface GcpConfig {
  /**
   * Client-side limit on one zoneOperations.wait call. The server answers by about 2 min (or
   * earlier); default 130 s so a healthy long wait is never cut short and counted as a failure.
   */
  readonly operationWaitTimeoutMs: number
  /** Give up waiting on one operation after this long (GPU VM creates take tens of seconds; default 10 min). */
  readonly operationDeadlineMs: number
  /** instances.list page size (GCE allows up to 500). */
  readonly listPageSize: number
}

export const DEFAULT_GCP_CONFIG: GcpConfig = {
  operationWaitTimeoutMs: 130_000,
  operationDeadlineMs: 10 * 60_000,
  listPageSize: 500,
}

/** wait calls per operation: at one per 2 min, 100 covers hours; a loop past it is a bug. */
const MAX_WAIT_ROUNDS = 100
/** Pages per zone per list: 100 × 500 instances. */
const MAX_LIST_PAGES = 100

export interface GcpDeps extends ProviderCallDeps {
  now?: () => number
  config?: Partial<GcpConfig>
}

/** UUID v5 layout over SHA-1 of a fixed namespace and the input: deterministic, never the zero UUID. */
export function requestIdFor (token: string, zone: string): string {
  const h = createHash('sha1').update('shoal/gcp/request-id\u0000').update(token).update('\u0000').update(zone).digest()
  h[6] = (h[6]! & 0x0f) | 0x50
  h[8] = (h[8]! & 0x3f) | 0x80
  const x = h.subarray(0, 16).toString('hex')
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`
}

const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/

/** GCP labels: lower-case letters, digits, '-' and '_'. A bad one is a config bug, not to be mangled. */
export function gcpLabels (req: ProvisionRequest): Record<string, string> {
  const labels = allTags(req.tags, req.labels)
  for (const [k, v] of Object.entries(labels)) {
    if (!LABEL_KEY.test(k) || !LABEL_VALUE.test(v)) {
      throw new ProviderError('fatal', 'InvalidLabel', `GCP label ${k}=${v} is not label-safe (lower-case letters, digits, - and _, ≤ 63 chars)`)
    }
  }
  return labels
}

const CAPACITY = new Set(['ZONE_RESOURCE_POOL_EXHAUSTED', 'ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS', 'resourcePoolExhausted', 'UNSUPPORTED_OPERATION_RESOURCE_POOL'])
const QUOTA = new Set(['QUOTA_EXCEEDED', 'quotaExceeded'])
const RATE = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'RATE_LIMIT_EXCEEDED'])
const NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'UND_ERR_SOCKET'])

/** The error code inside a finished Operation (clouds.md §4.1). */
export function classifyOperationError (code: string, message: string, httpStatus?: number): ProviderError {
  const m = `GCP operation: ${code}: ${message}`
  if (CAPACITY.has(code)) return new ProviderError('capacity', code, m)
  if (QUOTA.has(code)) return new ProviderError('quota', code, m)
  if (RATE.has(code) || httpStatus === 429) return new ProviderError('rate-limited', code, m)
  if (code === 'RESOURCE_NOT_FOUND') return new ProviderError('transient', code, m)
  if (httpStatus !== undefined && httpStatus >= 500) return new ProviderError('transient', code, m)
  return new ProviderError('fatal', code, m)
}

/** Maps what the client threw (GaxiosError with HTTP status, GoogleError, socket errors). */
export function classifyGcpError (err: unknown): ProviderError {
  if (err instanceof ProviderError) return err
  const e = (err ?? {}) as { code?: unknown, status?: unknown, message?: string, reason?: string, response?: { status?: number, headers?: unknown } }
  const status = typeof e.status === 'number' ? e.status : typeof e.code === 'number' && e.code >= 100 ? e.code : e.response?.status
  const reason = e.reason ?? /"reason"\s*:\s*"([A-Za-z_]+)"/.exec(e.message ?? '')?.[1] ?? (typeof e.code === 'string' ? e.code : undefined)
  const code = reason ?? (status !== undefined ? `HTTP_${status}` : 'Unknown')
  const message = `GCP: ${code}: ${(e.message ?? String(err)).slice(0, 300)}`
  if (reason !== undefined && CAPACITY.has(reason)) return new ProviderError('capacity', code, message)
  if (reason !== undefined && QUOTA.has(reason)) return new ProviderError('quota', code, message)
  if ((reason !== undefined && RATE.has(reason)) || status === 429) {
    const after = retryAfterOf(e.response?.headers)
    return after === undefined ? new ProviderError('rate-limited', code, message) : new ProviderError('rate-limited', code, message, after)
  }
  if (status === 404) return new ProviderError('not-found', code, message)
  if (status === 409) return new ProviderError('fatal', reason ?? 'alreadyExists', message)
  if ((status !== undefined && status >= 500) || (reason !== undefined && NETWORK.has(reason))) return new ProviderError('transient', code, message)
  if (typeof e.code === 'number' && e.code < 100) {
    // A gRPC-style status from gax: UNAVAILABLE 14, DEADLINE_EXCEEDED 4, INTERNAL 13, RESOURCE_EXHAUSTED 8.
    if (e.code === 14 || e.code === 4 || e.code === 13) return new ProviderError('transient', code, message)
    if (e.code === 8) return new ProviderError('rate-limited', code, message)
    if (e.code === 5) return new ProviderError('not-found', code, message)
  }
  return new ProviderError('fatal', code, message)
}

function retryAfterOf (headers: unknown): number | undefined {
  const h = headers as { get?: (k: string) => string | null } & Record<string, unknown> | undefined
  const raw = typeof h?.get === 'function' ? h.get('retry-after') : h?.['retry-after']
  const s = Number(raw)
  return typeof raw === 'string' && Number.isFinite(s) && s >= 0 ? s * 1000 : undefined
}

const STATES: Record<string, InstanceState> = {
  PROVISIONING: 'pending',
  STAGING: 'pending',
  RUNNING: 'running',
  REPAIRING: 'running',
  STOPPING: 'terminating',
  SUSPENDING: 'terminating',
  SUSPENDED: 'terminating',
  // GCE's TERMINATED is "stopped" (disks still bill): not serving, never back by itself.
  TERMINATED: 'terminated',
}

interface Clients { instances: InstancesClient, operations: ZoneOperationsClient }

export class GcpProvider implements Provider {
  readonly name: string
  readonly config: GcpConfig
  private clients: Promise<Clients> | null = null
  private readonly callDeps: CallDeps
  private readonly now: () => number

  constructor (readonly options: GcpOptions, deps: GcpDeps = {}) {
    this.name = options.name
    if (options.zones.length === 0) throw new Error(`gcp provider ${options.name}: zones must not be empty`)
    this.config = { ...DEFAULT_GCP_CONFIG, ...deps.config }
    this.now = deps.now ?? Date.now
    this.callDeps = callDepsOf(deps, systemRng)
  }

  async provision (req: ProvisionRequest): Promise<Instance> {
    const zone = req.zone !== '' ? req.zone : `${req.region}-a`
    const labels = gcpLabels(req)
    const c = await this.load()
    const resource = this.instanceResource(req, zone, labels)
    let op: Operation
    try {
      op = await this.send((o) => c.instances.insert({ project: this.options.project, zone, requestId: requestIdFor(req.token, zone), instanceResource: resource }, o)
        .then(([lro]) => lro.latestResponse as Operation))
    } catch (err) {
      if (err instanceof ProviderError && err.code === 'alreadyExists') return await this.adopt(req, zone)
      throw err
    }
    const done = await this.waitDone(c, zone, op)
    const failure = done.error?.errors?.[0]
    if (failure !== undefined) {
      throw classifyOperationError(failure.code ?? 'UNKNOWN', failure.message ?? '', done.httpErrorStatusCode ?? undefined)
    }
    try {
      return await this.get(c, zone, req.name)
    } catch (err) {
      // RESOURCE_NOT_FOUND right after create is eventual consistency: the operation said DONE.
      if (!(err instanceof ProviderError) || err.errorClass !== 'not-found') throw err
      return this.fromRequest(req, zone, String(done.targetId ?? ''))
    }
  }

  async list (fleet: string): Promise<Instance[]> {
    const c = await this.load()
    const out: Instance[] = []
    for (const zone of this.options.zones) {
      let pageToken: string | undefined
      for (let page = 0; ; page++) {
        if (page >= MAX_LIST_PAGES) throw new ProviderError('fatal', 'TooManyPages', `GCP instances.list: more than ${MAX_LIST_PAGES} pages in ${zone}`)
        const request = {
          project: this.options.project,
          zone,
          filter: `labels.${TAG_KEYS.fleet}=${fleet}`,
          maxResults: this.config.listPageSize,
          ...(pageToken !== undefined ? { pageToken } : {}),
        }
        const [items, next] = await this.send((o) => c.instances.list(request, { ...o, autoPaginate: false }))
        for (const i of items) out.push(this.toInstance(zone, i))
        pageToken = next?.pageToken ?? undefined
        if (pageToken === undefined || pageToken === '') break
      }
    }
    return out
  }

  async terminate (ref: InstanceRef): Promise<void> {
    const c = await this.load()
    try {
      const op = await this.send((o) => c.instances.delete({ project: this.options.project, zone: ref.zone, instance: ref.name, requestId: requestIdFor(`delete:${ref.id}:${ref.name}`, ref.zone) }, o)
        .then(([lro]) => lro.latestResponse as Operation))
      const done = await this.waitDone(c, ref.zone, op)
      const failure = done.error?.errors?.[0]
      if (failure !== undefined && failure.code !== 'RESOURCE_NOT_FOUND') {
        throw classifyOperationError(failure.code ?? 'UNKNOWN', failure.message ?? '', done.httpErrorStatusCode ?? undefined)
      }
    } catch (err) {
      if (err instanceof ProviderError && err.errorClass === 'not-found') return
      throw err
    }
  }

  async close (): Promise<void> {
    if (this.clients === null) return
    const c = await this.clients
    await Promise.all([c.instances.close(), c.operations.close()])
  }

  /** 409 on our deterministic name: ours if the instance carries our token, else a real clash. */
  private async adopt (req: ProvisionRequest, zone: string): Promise<Instance> {
    const inst = await this.get(await this.load(), zone, req.name)
    if (inst.tags?.token === req.token) return inst
    throw new ProviderError('fatal', 'alreadyExists', `GCP instance ${zone}/${req.name} exists with another token (${inst.tags?.token ?? 'none'})`)
  }

  private async get (c: Clients, zone: string, name: string): Promise<Instance> {
    const [inst] = await this.send((o) => c.instances.get({ project: this.options.project, zone, instance: name }, o))
    return this.toInstance(zone, inst)
  }

  private async waitDone (c: Clients, zone: string, first: Operation): Promise<Operation> {
    let op = first
    const deadline = this.now() + this.config.operationDeadlineMs
    const policy = { ...this.options.call, timeoutMs: Math.max(this.options.call.timeoutMs, this.config.operationWaitTimeoutMs) }
    for (let round = 0; op.status !== 'DONE'; round++) {
      if (round >= MAX_WAIT_ROUNDS || this.now() >= deadline) {
        throw new ProviderError('transient', 'OperationTimeout', `GCP operation ${op.name ?? '?'} not DONE after ${round} waits`)
      }
      const name = op.name ?? ''
      op = await call(policy, async (signal) => {
        try {
          const [res] = await c.operations.wait({ project: this.options.project, zone, operation: name }, { timeout: policy.timeoutMs + 1_000, maxRetries: 0 })
          return res
        } catch (err) {
          if (signal.aborted) throw signal.reason
          throw classifyGcpError(err)
        }
      }, this.callDeps)
    }
    return op
  }

  /** One SDK call under the call policy; gax's own retries are off (retry.ts retries). */
  private send<T> (fn: (o: { timeout: number, maxRetries: number }) => Promise<T>): Promise<T> {
    // gax's own deadline a little later than ours, so a hang reads as our 'timeout'.
    const timeout = this.options.call.timeoutMs + 1_000
    return call(this.options.call, async () => {
      try {
        return await fn({ timeout, maxRetries: 0 })
      } catch (err) {
        throw classifyGcpError(err)
      }
    }, this.callDeps)
  }

  private instanceResource (req: ProvisionRequest, zone: string, labels: Record<string, string>): GceInstance {
    const o = this.options
    return {
      name: req.name,
      machineType: `zones/${zone}/machineTypes/${req.instanceType}`,
      labels,
      disks: [{ boot: true, autoDelete: true, initializeParams: { sourceImage: o.image, diskSizeGb: String(o.diskSizeGb) } }],
      networkInterfaces: [{ network: 'global/networks/default' }],
      scheduling: { onHostMaintenance: 'TERMINATE', automaticRestart: false, provisioningModel: 'STANDARD' },
      ...(o.startupScript !== null ? { metadata: { items: [{ key: 'startup-script', value: o.startupScript }] } } : {}),
    }
  }

  private load (): Promise<Clients> {
    this.clients ??= (async () => {
      const { InstancesClient, ZoneOperationsClient } = await import('@google-cloud/compute')
      const o = this.options
      let opts: Record<string, unknown> = { fallback: true }
      if (o.endpoint !== null) {
        // A local fake: plain http, no credentials, no metadata-server lookups (clouds.md §7.1).
        const { PassThroughClient } = await import('google-auth-library')
        const url = new URL(o.endpoint)
        opts = { ...opts, apiEndpoint: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)), protocol: url.protocol.replace(':', ''), authClient: new PassThroughClient() }
      } else if (o.credentialsFile !== null) {
        opts = { ...opts, keyFilename: o.credentialsFile }
      }
      const clientOpts = opts as ConstructorParameters<typeof InstancesClient>[0]
      return { instances: new InstancesClient(clientOpts), operations: new ZoneOperationsClient(clientOpts) }
    })()
    return this.clients
  }

  private toInstance (zone: string, i: GceInstance): Instance {
    const addresses = (i.networkInterfaces ?? []).flatMap((n) => [n.networkIP, ...(n.accessConfigs ?? []).map((a) => a.natIP)])
      .filter((a): a is string => typeof a === 'string' && a !== '')
    const created = i.creationTimestamp !== null && i.creationTimestamp !== undefined ? Date.parse(i.creationTimestamp) : NaN
    return {
      provider: this.name,
      region: zone.replace(/-[a-z]$/, ''),
      zone,
      id: String(i.id ?? ''),
      name: i.name ?? '',
      instanceType: (i.machineType ?? '').split('/').pop() ?? '',
      state: STATES[i.status ?? ''] ?? 'pending',
      tags: parseTagRecord(i.labels as Record<string, string> | null | undefined),
      launchedMs: Number.isFinite(created) ? created : 0,
      addresses,
    }
  }

  private fromRequest (req: ProvisionRequest, zone: string, id: string): Instance {
    return { provider: this.name, region: req.region, zone, id, name: req.name, instanceType: req.instanceType, state: 'pending', tags: req.tags, launchedMs: 0, addresses: [] }
  }
}
