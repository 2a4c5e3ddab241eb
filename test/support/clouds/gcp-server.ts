// A small Compute Engine REST fake over a FakeCloud: insert with requestId (same id → same
// operation) and name uniqueness per zone (409 alreadyExists), operations that finish only after a
// few wait calls (wait may return early) and carry capacity/quota errors inside, list with a label
// filter and paging, get, delete. Serves what @google-cloud/compute sends with fallback (REST).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FakeCloud, FakeError, FakeInstance } from '../../../coordinator/providers/fake-cloud.js'
import { listenLoopback, sendJson, type FakeHttpServer } from '../../../coordinator/providers/fake-http.js'
import { parseTagRecord } from '../../../coordinator/providers/tags.js'

export interface GcpServerOptions {
  readonly cloud: FakeCloud
  readonly project: string
  readonly now?: () => number
  /** Wait calls an operation needs before it reports DONE (early returns before). Default 2. */
  readonly waitsToDone?: number
  /** Forces small list pages. */
  readonly pageSize?: number
}

export interface GcpServer extends FakeHttpServer {
  /** `METHOD path` of each request served. */
  readonly requests: string[]
  /** Forgets every requestId seen (GCP keeps them for a limited time): the next insert meets name uniqueness. */
  expireRequestIds (): void
}

interface Operation {
  name: string
  zone: string
  operationType: string
  targetName: string
  targetId: string
  waitsLeft: number
  error: FakeError | null
}

const BASE = 'https://compute.googleapis.com/compute/v1'
const OP_ERROR_CODES: Partial<Record<FakeError['errorClass'], string>> = {
  capacity: 'ZONE_RESOURCE_POOL_EXHAUSTED',
  quota: 'QUOTA_EXCEEDED',
}
const HTTP_ERRORS: Record<FakeError['errorClass'], { status: number, reason: string }> = {
  capacity: { status: 503, reason: 'resourcePoolExhausted' },
  quota: { status: 403, reason: 'quotaExceeded' },
  'rate-limited': { status: 429, reason: 'rateLimitExceeded' },
  transient: { status: 503, reason: 'backendError' },
  'not-found': { status: 404, reason: 'notFound' },
  fatal: { status: 400, reason: 'invalid' },
}

export async function startGcpServer (o: GcpServerOptions): Promise<GcpServer> {
  const now = o.now ?? Date.now
  const requests: string[] = []
  const ops = new Map<string, Operation>()
  const byRequestId = new Map<string, Operation>()
  let opSeq = 0
  const server = await listenLoopback((req, body, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    requests.push(`${req.method ?? ''} ${url.pathname}`)
    const m = /^\/compute\/v1\/projects\/([^/]+)\/zones\/([^/]+)\/(instances|operations)(?:\/([^/]+))?(\/wait)?$/.exec(url.pathname)
    if (m === null || m[1] !== o.project) return httpError(res, 'not-found', `no route ${url.pathname}`)
    const zone = m[2]!
    const id = m[4]
    if (m[3] === 'operations' && id !== undefined) return operation(res, id, m[5] !== undefined)
    if (id === undefined && req.method === 'POST') return insert(req, url, zone, body, res)
    if (id === undefined && req.method === 'GET') return list(url, zone, res)
    if (id !== undefined && req.method === 'GET') return get(zone, id, res)
    if (id !== undefined && req.method === 'DELETE') return remove(url, zone, id, res)
    httpError(res, 'fatal', `unsupported ${req.method ?? ''} ${url.pathname}`)
  })

  function newOp (zone: string, type: string, target: FakeInstance | null, targetName: string, error: FakeError | null): Operation {
    const op: Operation = {
      name: `operation-${++opSeq}`,
      zone,
      operationType: type,
      targetName,
      targetId: target === null ? '' : numericId(target),
      waitsLeft: o.waitsToDone ?? 2,
      error,
    }
    ops.set(op.name, op)
    return op
  }

  function insert (req: IncomingMessage, url: URL, zone: string, body: string, res: ServerResponse): void {
    const requestId = url.searchParams.get('requestId')
    const prior = requestId === null ? undefined : byRequestId.get(requestId)
    if (prior !== undefined) return sendJson(res, 200, opJson(prior))
    const inst = JSON.parse(body) as { name?: string, machineType?: string, labels?: Record<string, string> }
    const name = inst.name ?? ''
    if (o.cloud.byName(zone, name, now()) !== undefined) {
      return sendJson(res, 409, { error: { code: 409, message: `The resource 'projects/${o.project}/zones/${zone}/instances/${name}' already exists`, errors: [{ domain: 'global', reason: 'alreadyExists', message: 'already exists' }] } })
    }
    const tags = parseTagRecord(inst.labels)
    if (tags === null) return httpError(res, 'fatal', 'shoal labels missing')
    const out = o.cloud.provision({
      token: tags.token,
      name,
      region: zone.replace(/-[a-z]$/, ''),
      zone,
      instanceType: (inst.machineType ?? '').split('/').pop() ?? '',
      tags,
      labels: inst.labels ?? {},
    }, now())
    if (out.kind === 'hang') return
    let op: Operation
    if (out.kind === 'error') {
      if (OP_ERROR_CODES[out.error.errorClass] === undefined) return later(out.latencyMs, () => { httpError(res, out.error.errorClass, out.error.message, out.error.retryAfterMs) })
      op = newOp(zone, 'insert', null, name, out.error)
    } else {
      op = newOp(zone, 'insert', out.value.instance, name, null)
    }
    if (requestId !== null) byRequestId.set(requestId, op)
    later(out.kind === 'error' ? out.latencyMs : out.latencyMs, () => { sendJson(res, 200, opJson(op)) })
  }

  function operation (res: ServerResponse, name: string, wait: boolean): void {
    const op = ops.get(name)
    if (op === undefined) return httpError(res, 'not-found', `no operation ${name}`)
    if (wait && op.waitsLeft > 0) op.waitsLeft--
    sendJson(res, 200, opJson(op))
  }

  function list (url: URL, zone: string, res: ServerResponse): void {
    const filter = url.searchParams.get('filter') ?? ''
    const m = /^labels\.shoal-fleet\s*=\s*"?([a-z0-9_-]+)"?$/.exec(filter.trim())
    if (m === null) return httpError(res, 'fatal', `this fake needs filter labels.shoal-fleet=<fleet>, got ${filter}`)
    const out = o.cloud.list(m[1]!, now())
    if (out.kind === 'hang') return
    if (out.kind === 'error') return httpError(res, out.error.errorClass, out.error.message, out.error.retryAfterMs)
    const all = out.value.filter((i) => i.zone === zone && i.terminatedMs === null)
    const start = Number(url.searchParams.get('pageToken') ?? '0')
    const size = o.pageSize ?? Number(url.searchParams.get('maxResults') ?? '500')
    const page = all.slice(start, start + size)
    const next = start + size < all.length ? { nextPageToken: String(start + size) } : {}
    sendJson(res, 200, { kind: 'compute#instanceList', items: page.map((i) => instanceJson(i, zone)), ...next })
  }

  function get (zone: string, name: string, res: ServerResponse): void {
    const inst = o.cloud.byName(zone, name, now())
    if (inst === undefined) return httpError(res, 'not-found', `The resource 'projects/${o.project}/zones/${zone}/instances/${name}' was not found`)
    sendJson(res, 200, instanceJson(inst, zone))
  }

  function remove (url: URL, zone: string, name: string, res: ServerResponse): void {
    const requestId = url.searchParams.get('requestId')
    const prior = requestId === null ? undefined : byRequestId.get(requestId)
    if (prior !== undefined) return sendJson(res, 200, opJson(prior))
    const inst = o.cloud.byName(zone, name, now())
    if (inst === undefined) return httpError(res, 'not-found', `The resource 'projects/${o.project}/zones/${zone}/instances/${name}' was not found`)
    const out = o.cloud.terminate(inst.id, now())
    if (out.kind === 'hang') return
    if (out.kind === 'error') return httpError(res, out.error.errorClass, out.error.message, out.error.retryAfterMs)
    const op = newOp(zone, 'delete', inst, name, null)
    if (requestId !== null) byRequestId.set(requestId, op)
    sendJson(res, 200, opJson(op))
  }

  function opJson (op: Operation): Record<string, unknown> {
    const done = op.waitsLeft === 0
    const base: Record<string, unknown> = {
      kind: 'compute#operation',
      id: String(1000 + Number(op.name.split('-')[1])),
      name: op.name,
      zone: `${BASE}/projects/${o.project}/zones/${op.zone}`,
      operationType: op.operationType,
      targetLink: `${BASE}/projects/${o.project}/zones/${op.zone}/instances/${op.targetName}`,
      ...(op.targetId !== '' ? { targetId: op.targetId } : {}),
      status: done ? 'DONE' : 'RUNNING',
      progress: done ? 100 : 0,
    }
    if (done && op.error !== null) {
      const code = OP_ERROR_CODES[op.error.errorClass] ?? 'INTERNAL_ERROR'
      base.error = { errors: [{ code, message: `The zone '${op.zone}' does not have enough resources available to fulfill the request.` }] }
      base.httpErrorStatusCode = op.error.errorClass === 'quota' ? 403 : 503
      base.httpErrorMessage = 'SERVICE UNAVAILABLE'
    }
    return base
  }

  function instanceJson (i: FakeInstance, zone: string): Record<string, unknown> {
    const state = o.cloud.stateOf(i, now())
    return {
      kind: 'compute#instance',
      id: numericId(i),
      name: i.name,
      zone: `${BASE}/projects/${o.project}/zones/${zone}`,
      machineType: `${BASE}/projects/${o.project}/zones/${zone}/machineTypes/${i.instanceType}`,
      status: state === 'running' ? 'RUNNING' : state === 'pending' ? 'PROVISIONING' : 'STOPPING',
      labels: i.labels,
      creationTimestamp: new Date(i.createdMs).toISOString(),
      networkInterfaces: [{ networkIP: i.address }],
    }
  }

  return { ...server, requests, close: server.close, expireRequestIds: () => { byRequestId.clear() } }
}

function later (ms: number, fn: () => void): void {
  if (ms <= 0) fn()
  else setTimeout(fn, ms)
}

/** GCP instance ids are uint64 decimal strings. */
function numericId (i: FakeInstance): string {
  const hex = i.id.replace(/[^0-9a-f]/g, '')
  return BigInt(`0x${hex === '' ? '0' : hex}`).toString()
}

function httpError (res: ServerResponse, cls: FakeError['errorClass'], message: string, retryAfterMs?: number): void {
  const e = HTTP_ERRORS[cls]
  const headers: Record<string, string> = retryAfterMs === undefined ? {} : { 'retry-after': String(Math.ceil(retryAfterMs / 1000)) }
  sendJson(res, e.status, { error: { code: e.status, message, errors: [{ domain: 'global', reason: e.reason, message }] } }, headers)
}
