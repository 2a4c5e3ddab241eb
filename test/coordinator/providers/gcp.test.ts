// GcpProvider over the real @google-cloud/compute client (REST fallback) against our Compute
// fake: the contract, operations that finish only after several waits, 409 adoption, paging,
// label safety, the requestId derivation, and the operation-error table.
import t, { type Test } from 'tap'
import { FakeCloud } from '../../../coordinator/providers/fake-cloud.js'
import { classifyGcpError, classifyOperationError, GcpProvider, gcpLabels, requestIdFor } from '../../../coordinator/providers/gcp.js'
import type { CallPolicy, GcpOptions } from '../../../coordinator/providers/options.js'
import { seededRng } from '../../../agent/lib/rng.js'
import { startGcpServer, type GcpServer } from '../../support/clouds/gcp-server.js'
import { contractRequest, providerContract, type ContractBackend } from './contract.js'

const ZONE = 'us-central1-a'
const QUICK: CallPolicy = { timeoutMs: 5_000, maxAttempts: 3, baseBackoffMs: 1, maxBackoffMs: 2 }

async function backend (t: Test, call: CallPolicy, extra: { waitsToDone?: number, pageSize?: number } = {}): Promise<ContractBackend & { server: GcpServer, gcp: GcpProvider }> {
  const cloud = new FakeCloud({ provider: 'gcp', offerings: [{ region: 'us-central1', instanceType: 'a3-highgpu-8g', capacity: 'unlimited' }], idPrefix: '' })
  const server = await startGcpServer({ cloud, project: 'proj', ...extra })
  const options: GcpOptions = {
    kind: 'gcp', name: 'gcp', project: 'proj', zones: [ZONE, 'us-central1-b'], endpoint: server.url, credentialsFile: null,
    image: 'projects/debian-cloud/global/images/family/debian-12', diskSizeGb: 200, startupScript: 'echo hi', call,
  }
  const gcp = new GcpProvider(options, { rng: seededRng(3) })
  t.teardown(async () => { await gcp.close(); await server.close() })
  return { provider: gcp, gcp, cloud, server, region: 'us-central1', zone: ZONE, instanceType: 'a3-highgpu-8g' }
}

providerContract(t, 'gcp (Compute fake)', async (t, call) => await backend(t, call))

t.test('requestId: a v5-layout UUID, deterministic per (token, zone), never zero', async (t) => {
  const a = requestIdFor('tok-1', ZONE)
  t.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.equal(requestIdFor('tok-1', ZONE), a)
  t.not(requestIdFor('tok-2', ZONE), a)
  t.not(requestIdFor('tok-1', 'us-central1-b'), a, 'another zone is another request')
  t.not(requestIdFor('', ''), '00000000-0000-0000-0000-000000000000')
})

t.test('labels must be GCP-safe; slot and generation are decimal strings', async (t) => {
  const b = { region: 'r', zone: '', instanceType: 'x' } as ContractBackend
  const req = contractRequest(b, 'fl', 12, 3)
  t.same(gcpLabels(req), { team: 'ml', 'shoal-fleet': 'fl', 'shoal-pool': 'p1', 'shoal-slot': '12', 'shoal-generation': '3', 'shoal-token': req.token })
  t.throws(() => gcpLabels({ ...req, labels: { Team: 'ml' } }), { errorClass: 'fatal', code: 'InvalidLabel' })
  t.throws(() => gcpLabels({ ...req, tags: { ...req.tags, fleet: 'Big Fleet' } }), { errorClass: 'fatal', code: 'InvalidLabel' })
})

t.test('provision waits until the operation is DONE, however many early returns', async (t) => {
  const b = await backend(t, QUICK, { waitsToDone: 4 })
  const inst = await b.provider.provision(contractRequest(b, 'ops', 1))
  t.equal(inst.state, 'running')
  t.equal(b.server.requests.filter((r) => r.endsWith('/wait')).length, 4)
})

t.test('409 on our name with our token is success; with another token it is fatal', async (t) => {
  const b = await backend(t, QUICK)
  const req = contractRequest(b, 'adopt', 1)
  const first = await b.provider.provision(req)
  // A successor after the requestId expired: same name, same token → the 409 is adopted.
  b.server.expireRequestIds()
  const inserts = b.server.requests.filter((r) => r.startsWith('POST') && r.endsWith('/instances')).length
  const viaConflict = await b.gcp.provision({ ...req })
  t.equal(viaConflict.id, first.id)
  t.equal(b.server.requests.filter((r) => r.startsWith('POST') && r.endsWith('/instances')).length, inserts + 1, 'the insert was sent and met 409')
  await t.rejects(b.provider.provision({ ...req, token: 'other-token', tags: { ...req.tags, token: 'other-token' } }), { errorClass: 'fatal', code: 'alreadyExists' })
  t.equal(b.cloud?.instances().length, 1)
})

t.test('quota inside the operation is quota; rate limits are retried', async (t) => {
  const b = await backend(t, QUICK)
  b.cloud?.injectFault({ kind: 'quota', times: 1 })
  await t.rejects(b.provider.provision(contractRequest(b, 'q', 1)), { errorClass: 'quota', code: 'QUOTA_EXCEEDED' })
  b.cloud?.injectFault({ kind: 'rate-limited', op: 'list', times: 2 })
  t.same(await b.provider.list('q'), [])
  t.equal(b.cloud?.counters().errors['rate-limited'], 2)
})

t.test('list pages through every zone; terminate deletes and a gone instance resolves', async (t) => {
  const b = await backend(t, QUICK, { pageSize: 2 })
  for (let s = 0; s < 3; s++) await b.provider.provision(contractRequest(b, 'pg', s))
  await b.provider.provision({ ...contractRequest(b, 'pg', 7), zone: 'us-central1-b' })
  const listed = await b.provider.list('pg')
  t.same(listed.map((i) => `${i.zone}/${String(i.tags?.slot)}`).sort(), ['us-central1-a/0', 'us-central1-a/1', 'us-central1-a/2', 'us-central1-b/7'])
  const victim = listed[0]!
  await b.provider.terminate(victim)
  await b.provider.terminate(victim)
  t.equal((await b.provider.list('pg')).length, 3)
})

t.test('operation error codes', async (t) => {
  const rows: Array<[string, number | undefined, string]> = [
    ['ZONE_RESOURCE_POOL_EXHAUSTED', 503, 'capacity'],
    ['ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS', 503, 'capacity'],
    ['QUOTA_EXCEEDED', 403, 'quota'],
    ['RESOURCE_NOT_FOUND', 404, 'transient'],
    ['INTERNAL_ERROR', 500, 'transient'],
    ['rateLimitExceeded', 429, 'rate-limited'],
    ['INVALID_FIELD_VALUE', 400, 'fatal'],
  ]
  for (const [code, status, cls] of rows) t.equal(classifyOperationError(code, 'm', status).errorClass, cls, code)
})

t.test('HTTP and client error mapping', async (t) => {
  const body = (status: number, reason: string): Error & { code: number, status: number } =>
    Object.assign(new Error(JSON.stringify({ error: { code: status, errors: [{ reason }] } })), { code: status, status })
  const rows: Array<[string, unknown, string, string?]> = [
    ['409 alreadyExists', body(409, 'alreadyExists'), 'fatal', 'alreadyExists'],
    ['429', body(429, 'rateLimitExceeded'), 'rate-limited'],
    ['403 rateLimitExceeded', body(403, 'rateLimitExceeded'), 'rate-limited'],
    ['403 quotaExceeded', body(403, 'quotaExceeded'), 'quota'],
    ['404', body(404, 'notFound'), 'not-found'],
    ['503', body(503, 'backendError'), 'transient'],
    ['401', body(401, 'authError'), 'fatal'],
    ['socket reset', Object.assign(new Error('reset'), { code: 'ECONNRESET' }), 'transient'],
    ['gRPC UNAVAILABLE', Object.assign(new Error('x'), { code: 14 }), 'transient'],
  ]
  for (const [name, err, cls, code] of rows) {
    const e = classifyGcpError(err)
    t.equal(e.errorClass, cls, name)
    if (code !== undefined) t.equal(e.code, code, `${name} code`)
  }
})
