// The in-process fake provider passes the contract, and its model does what the simulator relies
// on: capacity that runs out and comes back, dead-on-arrival draws, seeded latency, retention.
import t from 'tap'
import { FakeCloud } from '../../../coordinator/providers/fake-cloud.js'
import { FakeProvider } from '../../../coordinator/providers/fake.js'
import { realSleep } from '../../../coordinator/providers/retry.js'
import { providerContract, contractRequest, type ContractBackend } from './contract.js'

const offerings = [{ region: 'r1', zone: 'r1-a', instanceType: 'gpu8', capacity: 'unlimited' as const, pricePerHour: 30 }]

providerContract(t, 'fake', async (_t, policy) => {
  const cloud = new FakeCloud({ provider: 'fake', offerings })
  const provider = new FakeProvider(cloud, { sleep: realSleep, now: () => 1_000, call: policy })
  return { provider, cloud, region: 'r1', zone: '', instanceType: 'gpu8' }
})

const backend = (cloud: FakeCloud): ContractBackend => ({ provider: new FakeProvider(cloud, { sleep: realSleep, now: () => 0 }), cloud, region: 'r1', zone: '', instanceType: 'gpu8' })

t.test('capacity runs out and termination gives it back', async (t) => {
  let now = 0
  const cloud = new FakeCloud({ provider: 'fake', offerings: [{ region: 'r1', instanceType: 'gpu8', capacity: 1 }] })
  const b = backend(cloud)
  const first = cloud.provision(contractRequest(b, 'f', 1), now)
  t.equal(first.kind, 'ok')
  const second = cloud.provision(contractRequest(b, 'f', 2), now)
  t.equal(second.kind === 'error' ? second.error.errorClass : second.kind, 'capacity')
  t.same(cloud.offerings(), [{ region: 'r1', instanceType: 'gpu8', available: false }])
  if (first.kind === 'ok') cloud.terminate(first.value.instance.id, ++now)
  t.equal(cloud.provision(contractRequest(b, 'f', 2), now).kind, 'ok')
  t.equal(cloud.counters().provisions, 2)
  t.equal(cloud.counters().errors.capacity, 1)
})

t.test('an unknown offering is fatal', async (t) => {
  const cloud = new FakeCloud({ provider: 'fake', offerings })
  const out = cloud.provision({ ...contractRequest(backend(cloud), 'f', 1), instanceType: 'nope' }, 0)
  t.equal(out.kind === 'error' ? out.error.errorClass : out.kind, 'fatal')
})

t.test('same seed, same dead-on-arrival draws and latencies; the rate is honoured', async (t) => {
  const run = (): string => {
    const cloud = new FakeCloud({ provider: 'fake', offerings, seed: 42, doaRate: 0.3, latencyMsMin: 10, latencyMsMax: 500 })
    const b = backend(cloud)
    const out: string[] = []
    for (let s = 0; s < 200; s++) {
      const r = cloud.provision(contractRequest(b, 'f', s), 0)
      if (r.kind === 'ok') out.push(`${r.value.instance.doa ? 'D' : '.'}${r.latencyMs}`)
    }
    return out.join(',')
  }
  const a = run()
  t.equal(a, run())
  const doa = a.split(',').filter((x) => x.startsWith('D')).length
  t.ok(doa > 30 && doa < 90, `about 30% DOA, got ${doa}/200`)
  t.ok(a.split(',').every((x) => { const ms = Number(x.slice(1)); return ms >= 10 && ms <= 500 }))
})

t.test('pending until bootMs, terminated listed for terminatedListedMs, token still bound after', async (t) => {
  const cloud = new FakeCloud({ provider: 'fake', offerings, bootMs: 100, terminatedListedMs: 1_000 })
  const req = contractRequest(backend(cloud), 'f', 1)
  const r = cloud.provision(req, 0)
  if (r.kind !== 'ok') throw new Error('provision failed')
  const inst = r.value.instance
  t.equal(cloud.stateOf(inst, 99), 'pending')
  t.equal(cloud.stateOf(inst, 100), 'running')
  cloud.terminate(inst.id, 200)
  const listed = cloud.list('f', 1_199)
  t.equal(listed.kind === 'ok' ? listed.value.length : -1, 1)
  const gone = cloud.list('f', 1_200)
  t.equal(gone.kind === 'ok' ? gone.value.length : -1, 0)
  const again = cloud.provision(req, 5_000)
  t.equal(again.kind === 'ok' ? again.value.instance.id : '', inst.id, 'the token still maps to its (terminated) instance')
  t.equal(cloud.counters().duplicatesPrevented, 1)
  t.equal(cloud.terminate(inst.id, 5_000).kind, 'error', 'a dropped instance is not-found')
})

t.test('faults match op, region and type, and run out', async (t) => {
  const cloud = new FakeCloud({ provider: 'fake', offerings: [...offerings, { region: 'r2', instanceType: 'gpu8', capacity: 'unlimited' }] })
  const b = backend(cloud)
  cloud.injectFault({ kind: 'quota', region: 'r2', times: 2 })
  cloud.injectFault({ kind: 'rate-limited', op: 'list', retryAfterMs: 700 })
  t.equal(cloud.provision(contractRequest(b, 'f', 1), 0).kind, 'ok', 'r1 unaffected')
  const r2 = { ...contractRequest(b, 'f', 2), region: 'r2' }
  for (let i = 0; i < 2; i++) {
    const out = cloud.provision(r2, 0)
    t.equal(out.kind === 'error' ? out.error.errorClass : out.kind, 'quota')
  }
  t.equal(cloud.provision(r2, 0).kind, 'ok')
  const l = cloud.list('f', 0)
  t.equal(l.kind === 'error' ? l.error.retryAfterMs : 0, 700)
  t.equal(cloud.list('f', 0).kind, 'ok')
  t.same(cloud.counters().errors, { capacity: 0, quota: 2, 'rate-limited': 1, transient: 0, 'not-found': 0, fatal: 0 })
})

t.test('the fake provider resolves terminate of an unknown instance', async (t) => {
  const cloud = new FakeCloud({ provider: 'fake', offerings })
  await backend(cloud).provider.terminate({ region: 'r1', zone: '', id: 'fake-nope', name: 'x' })
  t.pass()
})

t.test('createProvider builds each kind by name without touching a cloud', async (t) => {
  const { createProvider } = await import('../../../coordinator/providers/create.js')
  const { DEFAULT_CALL_POLICY } = await import('../../../coordinator/providers/options.js')
  const call = DEFAULT_CALL_POLICY
  const aws = createProvider({ kind: 'aws', name: 'aws-east', regions: ['us-east-1'], endpoint: null, profile: 'ops', imageIds: {}, subnetIds: {}, keyName: null, userData: null, call })
  const gcp = createProvider({ kind: 'gcp', name: 'gcp', project: 'p', zones: ['us-central1-a'], endpoint: null, credentialsFile: null, image: 'i', diskSizeGb: 100, startupScript: null, call })
  const lambda = createProvider({ kind: 'lambda', name: 'lambda', endpoint: 'https://cloud.lambda.ai/api/v1', apiKeyEnv: 'LAMBDA_API_KEY', apiKeyFile: null, sshKeyName: 'k', userData: null, launchIntervalMs: 12_000, requestIntervalMs: 1_000, call })
  t.same([aws.name, gcp.name, lambda.name], ['aws-east', 'gcp', 'lambda'])
  t.same([aws.constructor.name, gcp.constructor.name, lambda.constructor.name], ['AwsProvider', 'GcpProvider', 'LambdaProvider'])
  t.throws(() => createProvider({ kind: 'aws', name: 'a', regions: [], endpoint: null, profile: null, imageIds: {}, subnetIds: {}, keyName: null, userData: null, call }), /regions/)
})
