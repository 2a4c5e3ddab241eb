// LambdaProvider against the shipped Lambda server: the contract (the name stands in for a token),
// request pacing on an injected clock, 429 with Retry-After, offerings, the API key's sources and
// the error-code table.
import t, { type Test } from 'tap'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { seededRng } from '../../../agent/lib/rng.js'
import { FakeCloud } from '../../../coordinator/providers/fake-cloud.js'
import { classifyLambdaError, LambdaProvider, Pacer, type LambdaDeps } from '../../../coordinator/providers/lambda.js'
import { startLambdaServer, type LambdaServer } from '../../../coordinator/providers/lambda-server.js'
import type { CallPolicy, LambdaOptions } from '../../../coordinator/providers/options.js'
import { contractRequest, providerContract, type ContractBackend } from './contract.js'

const QUICK: CallPolicy = { timeoutMs: 5_000, maxAttempts: 3, baseBackoffMs: 1, maxBackoffMs: 2 }
const KEY = 'secret-key-123'

function options (endpoint: string, call: CallPolicy, over: Partial<LambdaOptions> = {}): LambdaOptions {
  return { kind: 'lambda', name: 'lambda', endpoint, apiKeyEnv: 'SHOAL_TEST_LAMBDA_KEY', apiKeyFile: null, sshKeyName: 'shoal', userData: null, launchIntervalMs: 0, requestIntervalMs: 0, call, ...over }
}

async function backend (t: Test, call: CallPolicy, deps: LambdaDeps = {}, over: Partial<LambdaOptions> = {}): Promise<ContractBackend & { server: LambdaServer, launched: string[] }> {
  const cloud = new FakeCloud({ provider: 'lambda', idPrefix: '', offerings: [{ region: 'us-east-3', instanceType: 'gpu_8x_h100_sxm5', capacity: 'unlimited', pricePerHour: 23.92 }, { region: 'us-tx-3', instanceType: 'gpu_8x_h100_sxm5', capacity: 0 }] })
  const launched: string[] = []
  const server = await startLambdaServer({ cloud, apiKey: KEY, onLaunch: (i) => { launched.push(i.id) }, onTerminate: (i) => { launched.push(`-${i.id}`) } })
  t.teardown(server.close)
  const provider = new LambdaProvider(options(`${server.url}/api/v1`, call, over), { env: { SHOAL_TEST_LAMBDA_KEY: KEY }, rng: seededRng(4), ...deps })
  return { provider, cloud, server, launched, region: 'us-east-3', zone: '', instanceType: 'gpu_8x_h100_sxm5' }
}

providerContract(t, 'lambda (Lambda server)', async (t, call) => await backend(t, call))

t.test('launch checks the name first: a second launch of the same name sends no POST', async (t) => {
  const b = await backend(t, QUICK)
  const req = contractRequest(b, 'nm', 1)
  const a = await b.provider.provision(req)
  const again = await b.provider.provision(req)
  t.equal(again.id, a.id)
  t.same(b.server.requests, ['GET /instances', 'POST /instance-operations/launch', 'GET /instances'])
  t.same(b.launched, [a.id], 'onLaunch saw one instance')
  await b.provider.terminate(a)
  t.same(b.launched, [a.id, `-${a.id}`], 'onTerminate saw it go')
})

t.test('pacing: launches one per launchIntervalMs, other requests one per requestIntervalMs (virtual clock)', async (t) => {
  let clock = 0
  const waits: number[] = []
  const sleep = async (ms: number): Promise<void> => { waits.push(ms); clock += ms }
  const b = await backend(t, QUICK, { now: () => clock, sleep }, { launchIntervalMs: 12_000, requestIntervalMs: 1_000 })
  await b.provider.provision(contractRequest(b, 'pace', 1))
  await b.provider.provision(contractRequest(b, 'pace', 2))
  // GET at 0, launch at 1 s, GET at 2 s, launch not before 13 s.
  t.same(waits, [1_000, 1_000, 11_000])
  t.equal(clock, 13_000)
})

t.test('the pacer queues concurrent callers in order', async (t) => {
  let clock = 0
  const woke: number[] = []
  const p = new Pacer(() => clock, async (ms) => { woke.push(ms) }, 1_000, 12_000)
  await Promise.all([p.take('launch'), p.take('request'), p.take('launch'), p.take('request')])
  t.same(woke, [1_000, 12_000, 13_000], 'launch at 0, request at 1 s, launch at 12 s, request at 13 s')
  clock = 60_000
  await p.take('launch')
  t.same(woke.length, 3, 'idle long enough: no wait')
})

t.test('429 is retried after Retry-After', async (t) => {
  const slept: number[] = []
  const b = await backend(t, { ...QUICK, maxAttempts: 4 }, { sleep: async (ms) => { slept.push(ms) } })
  b.server.rateLimitNext(2, 3)
  t.same(await b.provider.list('x'), [])
  t.same(slept.filter((ms) => ms >= 3_000), [3_000, 3_000])
})

t.test('offerings report regions with capacity and prices', async (t) => {
  const b = await backend(t, QUICK)
  t.same(await b.provider.offerings?.(), [{ region: 'us-east-3', instanceType: 'gpu_8x_h100_sxm5', available: true, pricePerHour: 23.92 }])
})

t.test('a capacity refusal in a region is capacity', async (t) => {
  const b = await backend(t, QUICK)
  await t.rejects(b.provider.provision({ ...contractRequest(b, 'cap', 1), region: 'us-tx-3' }), { errorClass: 'capacity', code: 'instance-operations/launch/insufficient-capacity' })
})

t.test('API key: env variable or file; missing or wrong says which', async (t) => {
  const b = await backend(t, QUICK)
  const url = `${(b as { server: LambdaServer }).server.url}/api/v1`
  const noEnv = new LambdaProvider(options(url, QUICK), { env: {} })
  await t.rejects(noEnv.list('f'), { errorClass: 'fatal', code: 'NoApiKey', message: /SHOAL_TEST_LAMBDA_KEY/ })
  const dir = mkdtempSync(join(tmpdir(), 'shoal-lambda-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'key')
  writeFileSync(file, `${KEY}\n`, { mode: 0o600 })
  t.same(await new LambdaProvider(options(url, QUICK, { apiKeyFile: file }), { env: {} }).list('f'), [])
  await t.rejects(new LambdaProvider(options(url, QUICK, { apiKeyFile: join(dir, 'nope') }), { env: {} }).list('f'), { code: 'NoApiKey', message: /nope/ })
  const wrong = new LambdaProvider(options(url, QUICK), { env: { SHOAL_TEST_LAMBDA_KEY: 'bad' } })
  const err = await wrong.list('f').catch((e: unknown) => e as Error)
  t.match(err, { errorClass: 'fatal', code: 'global/invalid-api-key' })
  t.notMatch(String((err as Error).message), /bad/, 'the key never appears in errors')
})

t.test('error envelope codes', async (t) => {
  const rows: Array<[number, string, string]> = [
    [400, 'instance-operations/launch/insufficient-capacity', 'capacity'],
    [400, 'global/quota-exceeded', 'quota'],
    [429, '', 'rate-limited'],
    [503, 'provider/internal-unavailable', 'transient'],
    [400, 'provider/quota-exceeded', 'quota'],
    [502, '', 'transient'],
    [401, 'global/invalid-api-key', 'fatal'],
    [403, 'global/account-inactive', 'fatal'],
    [404, 'global/object-does-not-exist', 'not-found'],
    [400, 'global/invalid-parameters', 'fatal'],
    [400, 'instance-operations/launch/file-system-in-wrong-region', 'fatal'],
  ]
  for (const [status, code, cls] of rows) t.equal(classifyLambdaError(status, code, 'm').errorClass, cls, `${status} ${code}`)
  t.equal(classifyLambdaError(429, '', 'm', 5_000).retryAfterMs, 5_000)
})

