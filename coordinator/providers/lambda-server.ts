// A Lambda Cloud API server over a FakeCloud (node:http on 127.0.0.1, a free port): the endpoints
// LambdaProvider uses, Lambda's envelopes and error codes, 429 with Retry-After on demand. It
// ships because the demo runs on it: onLaunch / onTerminate start and stop a real agent per
// instance. Instance names are not unique here, as in Lambda; LambdaProvider checks them.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FakeCloud, FakeError, FakeInstance } from './fake-cloud.js'
import { listenLoopback, sendJson, type FakeHttpServer } from './fake-http.js'
import type { ProviderErrorClass } from './provider.js'
import { parseTags } from './tags.js'

export interface LambdaServerOptions {
  readonly cloud: FakeCloud
  readonly now?: () => number
  /** Required bearer key; null accepts any. */
  readonly apiKey?: string | null
  readonly onLaunch?: (instance: FakeInstance) => void
  readonly onTerminate?: (instance: FakeInstance) => void
}

export interface LambdaServer extends FakeHttpServer {
  /** `METHOD path` per request served. */
  readonly requests: string[]
  /** The next `count` requests answer 429 with this Retry-After (seconds). */
  rateLimitNext (count: number, retryAfterS?: number): void
}

const WIRE: Record<ProviderErrorClass, { status: number, code: string }> = {
  capacity: { status: 400, code: 'instance-operations/launch/insufficient-capacity' },
  quota: { status: 400, code: 'global/quota-exceeded' },
  'rate-limited': { status: 429, code: 'global/rate-limited' },
  transient: { status: 503, code: 'provider/internal-unavailable' },
  'not-found': { status: 404, code: 'global/object-does-not-exist' },
  fatal: { status: 400, code: 'global/invalid-parameters' },
}

export async function startLambdaServer (o: LambdaServerOptions): Promise<LambdaServer> {
  const now = o.now ?? Date.now
  const requests: string[] = []
  let limited = 0
  let limitedAfterS = 1
  const server = await listenLoopback((req, body, res) => {
    const path = (req.url ?? '/').replace(/^\/api\/v1/, '').split('?')[0] ?? '/'
    requests.push(`${req.method ?? ''} ${path}`)
    if (o.apiKey !== undefined && o.apiKey !== null && req.headers.authorization !== `Bearer ${o.apiKey}`) {
      return sendError(res, 401, 'global/invalid-api-key', 'API key was invalid, expired, or deleted.')
    }
    if (limited > 0) {
      limited--
      return sendError(res, 429, 'global/rate-limited', 'Too many requests', { 'retry-after': String(limitedAfterS) })
    }
    route(req, path, body, res)
  })

  function route (req: IncomingMessage, path: string, body: string, res: ServerResponse): void {
    const m = req.method ?? ''
    if (m === 'GET' && path === '/instances') return listAll(res)
    if (m === 'GET' && path.startsWith('/instances/')) return getOne(decodeURIComponent(path.slice('/instances/'.length)), res)
    if (m === 'GET' && path === '/instance-types') return types(res)
    if (m === 'POST' && path === '/instance-operations/launch') return launch(parse(body), res)
    if (m === 'POST' && path === '/instance-operations/terminate') return terminate(parse(body), res)
    sendError(res, 404, 'global/object-does-not-exist', `no route ${m} ${path}`)
  }

  function listAll (res: ServerResponse): void {
    const out = o.cloud.list(null, now())
    if (out.kind === 'hang') return
    later(out.latencyMs, () => {
      if (out.kind === 'error') return fail(res, out.error)
      sendJson(res, 200, { data: out.value.map(wire) })
    })
  }

  function getOne (id: string, res: ServerResponse): void {
    const inst = o.cloud.get(id, now())
    if (inst === undefined) return sendError(res, 404, 'global/object-does-not-exist', 'Specified instance does not exist.')
    sendJson(res, 200, { data: wire(inst) })
  }

  function types (res: ServerResponse): void {
    const data: Record<string, unknown> = {}
    for (const off of o.cloud.offerings()) {
      const entry = (data[off.instanceType] ??= {
        instance_type: { name: off.instanceType, description: off.instanceType, price_cents_per_hour: Math.round((off.pricePerHour ?? 0) * 100) },
        regions_with_capacity_available: [],
      }) as { regions_with_capacity_available: Array<{ name: string, description: string }> }
      if (off.available) entry.regions_with_capacity_available.push({ name: off.region, description: off.region })
    }
    sendJson(res, 200, { data })
  }

  function launch (b: Record<string, unknown>, res: ServerResponse): void {
    const tagList = Array.isArray(b.tags) ? b.tags as Array<{ key: string, value: string }> : []
    const tagMap = new Map(tagList.map((t) => [t.key, t.value]))
    const tags = parseTags((k) => tagMap.get(k))
    if (tags === null) return sendError(res, 400, 'global/invalid-parameters', 'this fake needs the shoal tags')
    if (!Array.isArray(b.ssh_key_names) || b.ssh_key_names.length !== 1) {
      return sendError(res, 400, 'global/invalid-parameters', 'exactly one ssh key name is required')
    }
    // Lambda has no token: every launch is a new instance. The model's token is made unique per call.
    const out = o.cloud.provision({
      token: `${tags.token}#${requests.length}`,
      name: typeof b.name === 'string' ? b.name : '',
      region: String(b.region_name ?? ''),
      zone: '',
      instanceType: String(b.instance_type_name ?? ''),
      tags,
      labels: Object.fromEntries(tagMap),
    }, now())
    if (out.kind === 'hang') {
      if (out.committed !== undefined) o.onLaunch?.(out.committed.instance)
      return
    }
    later(out.latencyMs, () => {
      if (out.kind === 'error') return fail(res, out.error)
      o.onLaunch?.(out.value.instance)
      sendJson(res, 200, { data: { instance_ids: [out.value.instance.id] } })
    })
  }

  function terminate (b: Record<string, unknown>, res: ServerResponse): void {
    const ids = Array.isArray(b.instance_ids) ? b.instance_ids.map(String) : []
    const done: FakeInstance[] = []
    for (const id of ids) {
      const inst = o.cloud.get(id, now())
      if (inst === undefined || inst.terminatedMs !== null) return sendError(res, 404, 'global/object-does-not-exist', `instance ${id} does not exist`)
    }
    for (const id of ids) {
      const out = o.cloud.terminate(id, now())
      if (out.kind === 'hang') {
        if (out.committed !== undefined) o.onTerminate?.(out.committed)
        return
      }
      if (out.kind === 'error') return fail(res, out.error)
      done.push(out.value)
      o.onTerminate?.(out.value)
    }
    sendJson(res, 200, { data: { terminated_instances: done.map(wire) } })
  }

  function wire (i: FakeInstance): Record<string, unknown> {
    const state = o.cloud.stateOf(i, now())
    return {
      id: i.id,
      name: i.name,
      ip: i.address,
      private_ip: i.address,
      status: state === 'running' ? 'active' : state === 'pending' ? 'booting' : 'terminated',
      ssh_key_names: ['shoal'],
      region: { name: i.region, description: i.region },
      instance_type: { name: i.instanceType },
      tags: Object.entries(i.labels).map(([key, value]) => ({ key, value })),
    }
  }

  return {
    ...server,
    requests,
    close: server.close,
    rateLimitNext (count: number, retryAfterS = 1): void {
      limited = count
      limitedAfterS = retryAfterS
    },
  }
}

function parse (body: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(body)
    return typeof v === 'object' && v !== null ? v as Record<string, unknown> : {}
  } catch {
    return {}
  }
}

function later (ms: number, fn: () => void): void {
  if (ms <= 0) fn()
  else setTimeout(fn, ms)
}

function fail (res: ServerResponse, e: FakeError): void {
  const w = WIRE[e.errorClass]
  sendError(res, w.status, w.code, e.message, e.retryAfterMs !== undefined ? { 'retry-after': String(Math.ceil(e.retryAfterMs / 1000)) } : {})
}

function sendError (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { code, message } }, headers)
}
