// coordinator/runtime.ts with a fake mesh, fake clouds behind FakeProvider, a test clock and an
// alarm whose timers the test fires: every wake is the test's, nothing sleeps.
import t, { type Test } from 'tap'
import { create } from '@bufbuild/protobuf'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import {
  CommandAckSchema, CommandKind, CommandResultSchema, CommandStatus, FleetEventSchema,
  type CommandResult, type PoolsReport,
} from '../../proto/gen/shoal_pb.js'
import type { Alarm, WallClock } from '../../agent/lib/time.js'
import type { ObservedNode } from '../../coordinator/observed.js'
import type { PoolSpec } from '../../coordinator/pool.js'
import { CoordinatorMetrics } from '../../coordinator/metrics.js'
import { DEFAULT_RECONCILER_CONFIG } from '../../coordinator/reconciler.js'
import { CoordinatorRuntime, type CoordinatorMesh, type CoordinatorRuntimeOptions } from '../../coordinator/runtime.js'
import { FakeCloud, type FakeOffering } from '../../coordinator/providers/fake-cloud.js'
import { FakeProvider } from '../../coordinator/providers/fake.js'
import type { Provider } from '../../coordinator/providers/provider.js'
import { provisionToken } from '../../coordinator/token.js'
import type { WebhookEvent } from '../../coordinator/webhook.js'
import { FLEET, fatal, node, offer, pool } from './fixtures/world.js'


const GCP = offer({ provider: 'gcp', region: 'us-central1', instanceType: 'a3-highgpu-8g', priority: 2 })
const OFFERINGS: Record<string, FakeOffering[]> = {
  aws: [{ region: 'us-east-1', instanceType: 'p5.48xlarge', capacity: 'unlimited' }],
  gcp: [{ region: 'us-central1', instanceType: 'a3-highgpu-8g', capacity: 'unlimited' }],
}

class FakeAlarm implements Alarm {
  #next = 1
  readonly pending = new Map<number, { fn: () => void, ms: number }>()
  setTimeout (fn: () => void, ms: number): unknown {
    const h = this.#next++
    this.pending.set(h, { fn, ms })
    return h
  }

  clearTimeout (handle: unknown): void {
    this.pending.delete(handle as number)
  }

  /** Fires the timers armed now (not the ones their callbacks arm). */
  fire (onlyImmediate = false): number {
    const due = [...this.pending].filter(([, x]) => !onlyImmediate || x.ms === 0)
    for (const [h] of due) this.pending.delete(h)
    for (const [, x] of due) x.fn()
    return due.length
  }
}

class FakeMesh implements CoordinatorMesh {
  readonly self = 'coord-1'
  isActing = false
  currentTerm = 1
  last: PoolsReport | undefined
  nodeList: ObservedNode[] = []
  readonly published: PoolsReport[] = []
  readonly commands: Array<{ kind: CommandKind, target: string, reason: string }> = []
  readonly looks: string[] = []
  acting = (_now: number): boolean => this.isActing
  term = (): number => this.currentTerm
  lastPools = (): PoolsReport | undefined => this.last
  nodes = (_now: number): ObservedNode[] => this.nodeList
  publishPools = (report: PoolsReport): void => { this.published.push(report) }
  lastLook = (node: string): void => { this.looks.push(node) }
  command = async (kind: CommandKind, target: string, reason: string, _timeoutMs: number): Promise<CommandResult> => {
    this.commands.push({ kind, target, reason })
    return create(CommandResultSchema, { ack: create(CommandAckSchema, { node: target, kind, status: CommandStatus.APPLIED }) })
  }
}

/** Records each call by provider, kind and token (or instance id), then delegates. */
function recording (p: Provider, calls: string[]): Provider {
  return {
    name: p.name,
    list: async (fleet) => { calls.push(`${p.name} list`); return await p.list(fleet) },
    provision: async (req) => { calls.push(`${p.name} provision ${req.token}`); return await p.provision(req) },
    terminate: async (ref) => { calls.push(`${p.name} terminate ${ref.id}`); await p.terminate(ref) },
  }
}

interface World {
  readonly rt: CoordinatorRuntime
  readonly mesh: FakeMesh
  readonly clock: { now: number } & WallClock
  readonly clouds: Map<string, FakeCloud>
  readonly calls: string[]
  readonly logs: Array<Record<string, unknown>>
  readonly hooks: WebhookEvent[]
  readonly registry: Registry
  /** Lets promises settle and fires the runtime's immediate wakes. */
  settle: () => Promise<void>
  /** Advances the clock in 500 ms steps (the runtime's longest sleep), firing the alarm each step. */
  run: (ms: number) => Promise<void>
  provisions: () => string[]
}

function world (t: Test, pools: PoolSpec[] = [pool()], providers: string[] = ['aws'], extra: Partial<CoordinatorRuntimeOptions> = {}): World {
  const clock = { now: 1_700_000_000_000, wallMs (): number { return this.now } }
  const alarm = new FakeAlarm()
  const mesh = new FakeMesh()
  const calls: string[] = []
  const clouds = new Map<string, FakeCloud>()
  const map = new Map<string, Provider>()
  for (const name of providers) {
    const cloud = new FakeCloud({ provider: name, offerings: OFFERINGS[name]!, idPrefix: `${name}-` })
    clouds.set(name, cloud)
    // No real timers: sleeps are instant and the per-attempt timeout never fires (the fake answers at once).
    map.set(name, recording(new FakeProvider(cloud, { sleep: async () => {}, now: () => clock.now, setTimer: () => () => {} }), calls))
  }
  const logs: Array<Record<string, unknown>> = []
  const log = pino({ level: 'info' }, { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>) } })
  const hooks: WebhookEvent[] = []
  const registry = new Registry()
  const rt = new CoordinatorRuntime({
    fleet: FLEET, pools, providers: map, config: { ...DEFAULT_RECONCILER_CONFIG, reportMinIntervalMs: 0 }, mesh, clock, alarm, log,
    notify: (e) => { hooks.push(e) }, metrics: new CoordinatorMetrics(registry), ...extra,
  })
  t.teardown(() => { rt.stop() })
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => { setImmediate(resolve) })
      alarm.fire(true)
    }
  }
  const run = async (ms: number): Promise<void> => {
    for (let left = ms; left > 0; left -= 500) {
      clock.now += Math.min(500, left)
      alarm.fire()
      await settle()
    }
  }
  const provisions = (): string[] => calls.filter((c) => c.includes(' provision '))
  return { rt, mesh, clock, clouds, calls, logs, hooks, registry, settle, run, provisions }
}

/** The value of one series in the registry's text exposition (undefined: not exported). */
async function metric (w: World, series: string): Promise<number | undefined> {
  const line = (await w.registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

t.test('not acting: no provider call, no report', async (t) => {
  const w = world(t)
  w.rt.start()
  await w.run(120_000)
  t.same(w.calls, [])
  t.same(w.mesh.published, [])
  t.notOk(w.rt.reconciler.active)
  t.equal(await metric(w, 'shoal_coordinator_acting'), 0)
})

t.test('becoming acting: lists, then provisions min_nodes with distinct tokens', async (t) => {
  const w = world(t)
  w.rt.start()
  await w.run(1_000)
  w.mesh.isActing = true
  await w.run(1_000)
  t.equal(w.calls[0], 'aws list', 'listed first')
  t.same(w.provisions().sort(), [0, 1].map((s) => `aws provision ${provisionToken(FLEET, 'train', s, 1)}`).sort(), 'min_nodes, one token per slot')
  t.equal(w.clouds.get('aws')!.instances().length, 2)
  t.ok(w.mesh.published.length > 0, 'the pools report is gossiped')
  const last = w.mesh.published.at(-1)!
  t.equal(last.coordinator, 'coord-1')
  t.equal(last.pools[0]?.current, 2, 'the last report counts both provisioned instances')
  t.equal(await metric(w, 'shoal_coordinator_acting'), 1)
  t.equal(await metric(w, 'shoal_coordinator_provisions_total{provider="aws",pool="train"}'), 2)
  t.ok(w.logs.some((l) => l.msg === 'coordinating: listing providers' && l.term === 1))

  await w.run(5_000)
  t.equal(w.provisions().length, 2, 'nothing provisioned twice')
})

t.test('losing the lease: no further provider calls', async (t) => {
  const w = world(t)
  w.mesh.isActing = true
  w.rt.start()
  await w.run(DEFAULT_RECONCILER_CONFIG.listIntervalMs + 1_000)
  t.equal(w.calls.filter((c) => c === 'aws list').length, 2, 'while acting, listed every listIntervalMs')
  w.mesh.isActing = false
  await w.run(500)
  t.notOk(w.rt.reconciler.active)
  const before = w.calls.length
  await w.run(3 * DEFAULT_RECONCILER_CONFIG.listIntervalMs)
  t.equal(w.calls.length, before, 'no list, no provision')
  t.equal(await metric(w, 'shoal_coordinator_acting'), 0)

  w.mesh.isActing = true
  w.mesh.currentTerm = 2
  await w.run(500)
  t.equal(w.calls.at(before), 'aws list', 'acting again (term 2): lists first')
})

t.test('a pool write changes the next plan and the next report', async (t) => {
  const w = world(t)
  w.mesh.isActing = true
  w.rt.start()
  await w.run(2_000)
  t.equal(w.provisions().length, 2)
  w.rt.poolWrites([{ kind: 'scale', pool: 'train', value: 3 }, { kind: 'queue', pool: 'train', value: 7 }])
  await w.settle()
  t.equal(w.provisions().length, 3, 'planned at once, without waiting for the next interval')
  t.equal(w.provisions()[2], `aws provision ${provisionToken(FLEET, 'train', 2, 1)}`)
  const last = w.mesh.published.at(-1)!.pools[0]!
  t.equal(last.scale, 3)
  t.equal(last.desired, 3)
  t.equal(last.queueDepth, 7)
  t.match(w.hooks, [{ kind: 'scaled', pool: 'train', term: 1 }], 'the scale change is a webhook event')
})

t.test('a provider error becomes an event, a log line and a metric; the next plan fails over', async (t) => {
  const w = world(t, [pool({ offers: [offer(), GCP] })], ['aws', 'gcp'])
  // Every aws provision fails (a success would clear the offering's backoff: backoff.ts).
  w.clouds.get('aws')!.injectFault({ kind: 'capacity', times: Infinity })
  w.mesh.isActing = true
  w.rt.start()
  await w.run(3_000)
  t.equal(await metric(w, 'shoal_coordinator_provision_failures_total{provider="aws",class="capacity"}'), 2)
  t.equal(await metric(w, 'shoal_coordinator_backoffs_total{provider="aws"}'), 2)
  t.equal(await metric(w, 'shoal_coordinator_provider_calls_total{provider="aws",call="provision",result="capacity"}'), 2)
  t.equal(await metric(w, 'shoal_coordinator_provider_calls_total{provider="gcp",call="provision",result="ok"}'), 2)
  t.same(w.rt.reconciler.stats.provisionFailures, { capacity: 2 })
  const events = w.mesh.published.flatMap((r) => r.events.map((e) => e.detail))
  t.ok(events.some((d) => /^aws provision for train slot \d failed: .*out of capacity/.test(d)), 'the failure is in a pools report')
  t.ok(w.logs.some((l) => l.level === 40 && l.errorClass === 'capacity' && l.provider === 'aws'), 'a warning with the error class')
  t.equal(w.clouds.get('aws')!.instances().length, 0)
  t.equal(w.clouds.get('gcp')!.instances().length, 2, 'both slots failed over to gcp')
  t.equal(w.provisions().filter((c) => c.startsWith('aws ')).length, 2, 'aws is backed off: not asked again')
})

/** The first aws list throws a plain Error (a bug in a driver, not a ProviderError). */
function brokenList (w: World): void {
  const cloud = w.clouds.get('aws')!
  const list = cloud.list.bind(cloud)
  let broken = true
  cloud.list = (fleet, now) => {
    if (broken) { broken = false; throw new Error('socket hang up') }
    return list(fleet, now)
  }
}

t.test('an unexpected throw from a provider is a transient failure', async (t) => {
  const w = world(t)
  brokenList(w)
  w.mesh.isActing = true
  w.rt.start()
  await w.run(500)
  t.equal(await metric(w, 'shoal_coordinator_provider_calls_total{provider="aws",call="list",result="transient"}'), 1)
  t.ok(w.logs.some((l) => l.level === 40 && l.code === 'unexpected' && l.call === 'list'))
  await w.run(10_000)
  t.equal(w.calls.filter((c) => c === 'aws list').length, 2, 'listed again')
  t.equal(w.provisions().length, 2, 'then filled')
})

t.test('nothing is provisioned before a list succeeded', async (t) => {
  const w = world(t)
  brokenList(w)
  w.mesh.isActing = true
  w.rt.start()
  await w.run(500)
  t.same(w.provisions(), [], 'never listed: nothing planned')
})

t.test('a replace-class verdict: cordon through the mesh, a replacement, a webhook', async (t) => {
  const w = world(t)
  w.mesh.isActing = true
  w.rt.start()
  await w.run(2_000)
  const cloud = w.clouds.get('aws')!
  const nodes = cloud.instances().map((i) => node(cloud.toInstance(i, w.clock.now)))
  w.mesh.nodeList = nodes
  w.rt.poke()
  await w.run(2_000)
  t.equal(w.provisions().length, 2, 'both joined: nothing to do')
  w.mesh.nodeList = [fatal(nodes[0]!), nodes[1]!]
  w.rt.poke()
  await w.run(2_000)
  t.match(w.mesh.commands, [{ kind: CommandKind.CORDON, target: nodes[0]!.id }], 'cordoned once')
  t.equal(w.provisions().length, 3)
  t.equal(w.provisions()[2], `aws provision ${provisionToken(FLEET, 'train', 0, 2)}`, 'slot 0, next generation')
  t.ok(w.hooks.some((h) => h.kind === 'replacing' && h.pool === 'train'))
  t.equal(await metric(w, 'shoal_coordinator_replacement_request_seconds_count'), 1)
})

t.test('node state changes reach the webhooks only while acting', async (t) => {
  const w = world(t)
  w.rt.start()
  const dead = create(FleetEventSchema, { kind: 'dead', node: 'n1', name: 'gpu-1', detail: 'no ack', term: 1, timeMs: 5 })
  const sick = create(FleetEventSchema, { kind: 'health', node: 'n2', detail: 'unhealthy: xid 79' })
  const other = create(FleetEventSchema, { kind: 'health', node: 'n3', detail: 'degraded: thermal' })
  w.rt.fleetEvents([dead])
  t.same(w.hooks, [], 'not acting: silent')
  w.mesh.isActing = true
  await w.run(500)
  w.rt.fleetEvents([dead, sick, other])
  t.match(w.hooks, [{ kind: 'dead', node: 'n1', name: 'gpu-1', pool: '' }, { kind: 'unhealthy', node: 'n2' }])
  t.equal(w.hooks.length, 2, 'degraded is not a webhook kind')
})

t.test('the constructor refuses a pool naming an unconfigured provider', async (t) => {
  t.throws(() => world(t, [pool({ offers: [offer(), GCP] })], ['aws']), /pool train uses provider gcp, which is not configured/)
})

t.test('a pool\'s queue source is polled while acting, and its depth sizes the pool', async (t) => {
  const asked: string[] = []
  let depth = '35'
  const fakeFetch = (async (url: string | URL | Request) => {
    asked.push(String(url))
    return new Response(depth, { status: 200 })
  }) as typeof fetch
  const spec: PoolSpec = {
    ...pool({ minNodes: 1, maxNodes: 8 }),
    autoscaler: { kind: 'queue', jobsPerNode: 10, cooldown: { upMs: 0, downMs: 0 } },
    queueSource: { url: 'http://127.0.0.1:1/depth', query: null, intervalMs: 15_000, timeoutMs: 1_000 },
  }
  const w = world(t, [spec], ['aws'], { fetch: fakeFetch })
  w.rt.start()
  await w.run(5_000)
  t.same(asked, [], 'not acting: the source is not asked')
  w.mesh.isActing = true
  await w.run(3_000)
  t.equal(asked.length, 1, 'polled once on taking over')
  const report = w.mesh.published.at(-1)!
  t.equal(report.pools[0]!.queueDepth, 35)
  t.equal(report.pools[0]!.desired, 4, 'ceil(35 / 10 jobs per node)')
  depth = 'garbage'
  await w.run(16_000)
  t.equal(asked.length, 2, 'polled again after its interval')
  t.equal(w.mesh.published.at(-1)!.pools[0]!.queueDepth, 35, 'an unreadable answer leaves the last depth')
  t.ok(w.logs.some((l) => l.msg === 'queue source unreadable; the last queue depth stands' && l.url === 'http://127.0.0.1:1'))
})

t.test('the Lambda API key never reaches the logs, whether calls succeed or are refused', async (t) => {
  const { LambdaProvider } = await import('../../coordinator/providers/lambda.js')
  const { startLambdaServer } = await import('../../coordinator/providers/lambda-server.js')
  const SECRET = 'sk-shoal-test-5f0c1e9a7b'
  const cloud = new FakeCloud({ provider: 'lambda', offerings: [{ region: 'us-east-3', instanceType: 'gpu_8x_h100_sxm5', capacity: 'unlimited' }], idPrefix: '' })
  const server = await startLambdaServer({ cloud, apiKey: SECRET })
  t.teardown(async () => { await server.close() })
  const lines: string[] = []
  const log = pino({ level: 'debug' }, { write: (line: string) => { lines.push(line) } })
  const spec = pool({ minNodes: 1, offers: [offer({ provider: 'lambda', region: 'us-east-3', instanceType: 'gpu_8x_h100_sxm5' })] })
  const runFor = async (key: string, done: (rt: CoordinatorRuntime) => boolean): Promise<CoordinatorRuntime> => {
    const clock = { now: 1_700_000_000_000, wallMs (): number { return this.now } }
    const alarm = new FakeAlarm()
    const mesh = new FakeMesh()
    mesh.isActing = true
    const provider = new LambdaProvider({
      kind: 'lambda', name: 'lambda', endpoint: `${server.url}/api/v1`, apiKeyEnv: 'SHOAL_TEST_KEY', apiKeyFile: null, sshKeyName: 'k', userData: null,
      launchIntervalMs: 0, requestIntervalMs: 0, call: { timeoutMs: 5_000, maxAttempts: 1, baseBackoffMs: 1, maxBackoffMs: 1 },
    }, { env: { SHOAL_TEST_KEY: key } })
    const rt = new CoordinatorRuntime({ fleet: FLEET, pools: [spec], providers: new Map([['lambda', provider]]), config: DEFAULT_RECONCILER_CONFIG, mesh, clock, alarm, log })
    rt.start()
    // Real HTTP on loopback: turn the event loop (its poll phase delivers the I/O), firing the
    // runtime's timers, until it got where the test wants (bounded; no wall-clock sleep).
    for (let i = 0; i < 50_000 && !done(rt); i++) {
      if (i % 50 === 0) {
        alarm.fire()
        clock.now += 250
      }
      await new Promise<void>((resolve) => { setImmediate(resolve) })
    }
    rt.stop()
    return rt
  }
  const good = await runFor(SECRET, (rt) => rt.reconciler.stats.provisions === 1)
  t.equal(good.reconciler.stats.provisions, 1, 'with the right key: the pool is filled')
  const wrong = await runFor(`${SECRET}-revoked`, () => lines.some((l) => l.includes('list failed')))
  t.equal(wrong.reconciler.stats.provisions, 0, 'with a revoked key: nothing')
  t.ok(lines.some((l) => l.includes('list failed') && l.includes('invalid-api-key')), 'the refusal is logged, with its code')
  t.notOk(lines.some((l) => l.includes(SECRET)), 'and no log line carries the key')
})
