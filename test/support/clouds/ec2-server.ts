// A small EC2 query-API fake over a FakeCloud: what moto does not do (ClientToken idempotency:
// same token → same instance) plus tags, tag-filtered and paged DescribeInstances, Terminate and
// error injection through the cloud's faults. The region comes from the SigV4 credential scope,
// so one server serves every region.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FakeCloud, FakeError, FakeInstance, FakeOutcome } from '../../../coordinator/providers/fake-cloud.js'
import { listenLoopback, type FakeHttpServer } from '../../../coordinator/providers/fake-http.js'
import type { ProviderErrorClass } from '../../../coordinator/providers/provider.js'
import { parseTagRecord } from '../../../coordinator/providers/tags.js'

export interface Ec2ServerOptions {
  readonly cloud: FakeCloud
  readonly now?: () => number
  /** Forces small DescribeInstances pages (pagination tests); default: the request's MaxResults. */
  readonly pageSize?: number
}

export interface Ec2Server extends FakeHttpServer {
  /** Actions served, in order (RunInstances, DescribeInstances, ...). */
  readonly actions: string[]
}

const WIRE: Record<ProviderErrorClass, { code: string, status: number }> = {
  capacity: { code: 'InsufficientInstanceCapacity', status: 500 },
  quota: { code: 'VcpuLimitExceeded', status: 400 },
  'rate-limited': { code: 'RequestLimitExceeded', status: 503 },
  transient: { code: 'InternalError', status: 500 },
  'not-found': { code: 'InvalidInstanceID.NotFound', status: 400 },
  fatal: { code: 'InvalidParameterValue', status: 400 },
}

const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/'

export async function startEc2Server (o: Ec2ServerOptions): Promise<Ec2Server> {
  const now = o.now ?? Date.now
  const actions: string[] = []
  let anonymousTokens = 0
  const server = await listenLoopback((req, body, res) => {
    const p = new URLSearchParams(body)
    const action = p.get('Action') ?? ''
    actions.push(action)
    const region = regionOf(req)
    switch (action) {
      case 'RunInstances': return runInstances(p, region, res)
      case 'DescribeInstances': return describe(p, region, res)
      case 'TerminateInstances': return terminate(p, region, res)
      default: return error(res, { errorClass: 'fatal', code: 'InvalidAction', message: `unsupported action ${action}` })
    }
  })

  function runInstances (p: URLSearchParams, region: string, res: ServerResponse): void {
    const tags = tagSpec(p)
    const parsed = parseTagRecord(tags)
    if (parsed === null) return error(res, { errorClass: 'fatal', code: 'InvalidParameterValue', message: 'shoal tags missing' })
    const token = p.get('ClientToken') ?? `anonymous-${++anonymousTokens}`
    const out = o.cloud.provision({
      token,
      name: tags.Name ?? '',
      region,
      zone: p.get('Placement.AvailabilityZone') ?? '',
      instanceType: p.get('InstanceType') ?? '',
      tags: parsed,
      labels: tags,
    }, now())
    answer(res, out, (r) => `<RunInstancesResponse xmlns="${NS}"><requestId>r</requestId>` +
      `<reservationId>r-${r.instance.id}</reservationId><ownerId>000000000000</ownerId>` +
      `<instancesSet>${instanceXml(r.instance, p.get('ImageId') ?? '')}</instancesSet></RunInstancesResponse>`)
  }

  function describe (p: URLSearchParams, region: string, res: ServerResponse): void {
    const filters = new Map<string, string[]>()
    for (let i = 1; p.has(`Filter.${i}.Name`); i++) {
      const values: string[] = []
      for (let j = 1; p.has(`Filter.${i}.Value.${j}`); j++) values.push(p.get(`Filter.${i}.Value.${j}`)!)
      filters.set(p.get(`Filter.${i}.Name`)!, values)
    }
    const fleets = filters.get('tag:shoal-fleet')
    if (fleets === undefined || fleets.length !== 1) {
      return error(res, { errorClass: 'fatal', code: 'InvalidParameterValue', message: 'this fake needs exactly one tag:shoal-fleet filter' })
    }
    const out = o.cloud.list(fleets[0]!, now())
    answer(res, out, (all) => {
      const mine = all.filter((i) => i.region === region)
      const start = Number(p.get('NextToken') ?? '0')
      const size = o.pageSize ?? Number(p.get('MaxResults') ?? String(mine.length))
      const page = mine.slice(start, start + size)
      const next = start + size < mine.length ? `<nextToken>${start + size}</nextToken>` : ''
      const items = page.map((i) => `<item><reservationId>r-${i.id}</reservationId><ownerId>000000000000</ownerId>` +
        `<instancesSet>${instanceXml(i, 'ami-fake')}</instancesSet></item>`).join('')
      return `<DescribeInstancesResponse xmlns="${NS}"><requestId>r</requestId><reservationSet>${items}</reservationSet>${next}</DescribeInstancesResponse>`
    })
  }

  function terminate (p: URLSearchParams, region: string, res: ServerResponse): void {
    const id = p.get('InstanceId.1') ?? ''
    const known = o.cloud.get(id, now())
    const out = known !== undefined && known.region !== region
      ? { kind: 'error' as const, error: { errorClass: 'not-found' as const, code: 'x', message: `no ${id} in ${region}` }, latencyMs: 0 }
      : o.cloud.terminate(id, now())
    answer(res, out, (i) => `<TerminateInstancesResponse xmlns="${NS}"><requestId>r</requestId><instancesSet><item>` +
      `<instanceId>${xml(i.id)}</instanceId><currentState><code>48</code><name>terminated</name></currentState>` +
      `<previousState><code>16</code><name>running</name></previousState></item></instancesSet></TerminateInstancesResponse>`)
  }

  function instanceXml (i: FakeInstance, imageId: string): string {
    const state = o.cloud.stateOf(i, now())
    const wire = state === 'running' ? [16, 'running'] : state === 'pending' ? [0, 'pending'] : [48, 'terminated']
    const tags = Object.entries(i.labels).map(([k, v]) => `<item><key>${xml(k)}</key><value>${xml(v)}</value></item>`).join('')
    return `<item><instanceId>${xml(i.id)}</instanceId><imageId>${xml(imageId)}</imageId>` +
      `<instanceState><code>${wire[0]}</code><name>${wire[1]}</name></instanceState>` +
      `<instanceType>${xml(i.instanceType)}</instanceType><launchTime>${new Date(i.createdMs).toISOString()}</launchTime>` +
      `<placement><availabilityZone>${xml(i.zone)}</availabilityZone></placement>` +
      `<privateIpAddress>${i.address}</privateIpAddress><clientToken>${xml(i.token)}</clientToken>` +
      `<tagSet>${tags}</tagSet></item>`
  }

  function answer<T> (res: ServerResponse, out: FakeOutcome<T>, body: (v: T) => string): void {
    if (out.kind === 'hang') return
    setTimeout(() => {
      if (out.kind === 'error') return error(res, out.error)
      res.writeHead(200, { 'content-type': 'text/xml' }).end(body(out.value))
    }, out.latencyMs)
  }

  return { ...server, actions, close: server.close }
}

function error (res: ServerResponse, e: FakeError): void {
  const wire = WIRE[e.errorClass]
  const code = e.code === 'InvalidAction' || e.code === 'InvalidParameterValue' ? e.code : wire.code
  res.writeHead(wire.status, { 'content-type': 'text/xml' }).end(
    `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code>` +
    `<Message>${xml(e.message)}</Message></Error></Errors><RequestID>r</RequestID></Response>`)
}

/** TagSpecification.N.Tag.M.{Key,Value} of the instance spec. */
function tagSpec (p: URLSearchParams): Record<string, string> {
  const tags: Record<string, string> = {}
  for (let n = 1; p.has(`TagSpecification.${n}.ResourceType`); n++) {
    if (p.get(`TagSpecification.${n}.ResourceType`) !== 'instance') continue
    for (let m = 1; p.has(`TagSpecification.${n}.Tag.${m}.Key`); m++) {
      tags[p.get(`TagSpecification.${n}.Tag.${m}.Key`)!] = p.get(`TagSpecification.${n}.Tag.${m}.Value`) ?? ''
    }
  }
  return tags
}

function regionOf (req: IncomingMessage): string {
  const auth = req.headers.authorization ?? ''
  const m = /Credential=[^/]+\/\d{8}\/([^/]+)\/ec2\//.exec(auth)
  return m?.[1] ?? 'us-east-1'
}

function xml (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}
