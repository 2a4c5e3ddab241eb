// The coordinator in the simulator (test/harness/sim/cloud.ts): the real Reconciler on the real
// mesh cores, fake clouds in virtual time. Seeded; every check is on virtual time.
import t from 'tap'
import { CloudSim, type CloudSimOptions } from '../harness/sim/cloud.js'

const AWS = { name: 'aws', offerings: [{ region: 'us-east-1', instanceType: 'p5.48xlarge', capacity: 'unlimited' as const }] }
const GCP = { name: 'gcp', offerings: [{ region: 'us-central1', instanceType: 'a3-highgpu-8g', capacity: 'unlimited' as const }] }

function sim (over: Partial<CloudSimOptions> = {}): CloudSim {
  const s = new CloudSim({ agents: 40, initial: 30, seed: 7, seeds: 3, clouds: [AWS], ...over })
  s.start()
  // Elected, the pools listed and reported once.
  t.ok(s.fleet.runUntilTrue(() => s.acting >= 0 && s.fleet.node(s.acting).pools !== undefined, 30_000), 'a coordinator is acting and reporting pools')
  return s
}

function victim (s: CloudSim): number {
  // Not the coordinator nor a council member: those are tested elsewhere.
  for (let i = 29; i >= 0; i--) if (i !== s.acting && i >= 5) return i
  throw new Error('no victim')
}

t.test('a fatal XID: cordon, replacement requested within 5 s, then drain and terminate once the new node joined', async (t) => {
  const s = sim()
  s.fleet.runFor(5_000)
  const v = victim(s)
  const old = s.instanceOf(v)!
  const t0 = s.now
  s.injectFatal(v)
  t.ok(s.fleet.runUntilTrue(() => s.requests.length > 0, 10_000), 'a replacement is requested')
  const req = s.requests[0]!
  t.equal(req.replaces, v)
  t.equal(req.slot, old.tags.slot, 'in the slot of the node it replaces')
  t.equal(req.generation, 2)
  t.ok(req.t - t0 <= 5_000, `requested ${(req.t - t0).toFixed(0)} ms after the fault (target ≤ 5,000)`)
  t.ok(s.fleet.runUntilTrue(() => s.liveBySlot().get(old.tags.slot)?.length === 1 && s.liveBySlot().get(old.tags.slot)![0]!.id !== old.id, 120_000), 'the old instance is terminated after the new one joined')
  const newcomer = s.agentOf(s.liveBySlot().get(old.tags.slot)![0]!.id)!
  t.ok(s.fleet.isLive(newcomer), 'the replacement agent runs')
  t.notOk(s.fleet.isLive(v), 'the old agent is gone with its instance')
  const cordoned = s.fleet.trace.events.some((e) => e.kind === 'command' && e.node === v && /cordon/.test(e.detail))
  const drained = s.fleet.trace.events.some((e) => e.kind === 'command' && e.node === v && /drain/.test(e.detail))
  t.ok(cordoned && drained, 'the old node was cordoned and drained before termination')
  t.equal(s.duplicates, 0)
  t.equal(s.healthyTerminated, 0)
  t.equal(s.repeatTerminations, 0, 'the old instance was terminated once')
  t.same(s.violations, [])
})

t.test('the coordinator is killed between provision and join: the successor creates no second instance', async (t) => {
  const s = sim({ agentBootMs: 20_000 })
  s.fleet.runFor(5_000)
  const v = victim(s)
  const slot = s.instanceOf(v)!.tags.slot
  s.injectFatal(v)
  t.ok(s.fleet.runUntilTrue(() => s.requests.length > 0 && (s.liveBySlot().get(slot)?.length ?? 0) === 2, 10_000), 'the replacement instance exists')
  const first = s.acting
  s.fleet.kill(first)
  t.ok(s.fleet.runUntilTrue(() => s.acting !== first && s.acting >= 0, 10_000), 'another agent took over')
  t.ok(s.fleet.runUntilTrue(() => s.liveBySlot().get(slot)?.length === 1 && s.agentOf(s.liveBySlot().get(slot)![0]!.id) !== v, 120_000), 'the successor finished the replacement')
  const created = [...s.clouds.get('aws')!.instances()].filter((i) => i.tags.slot === slot)
  t.equal(created.length, 2, 'exactly one replacement instance was ever created for the slot')
  t.equal(s.duplicates, 0)
  t.same(s.violations, [])
})

t.test('capacity errors fail over to the next provider and back the offering off', async (t) => {
  const s = sim({ clouds: [AWS, GCP] })
  s.fleet.runFor(5_000)
  s.injectCloudFault('aws', { kind: 'capacity', op: 'provision', times: Infinity })
  const v = victim(s)
  s.injectFatal(v)
  t.ok(s.fleet.runUntilTrue(() => s.requests.some((r) => r.provider === 'gcp'), 20_000), 'the replacement went to gcp')
  t.same(s.requests.map((r) => r.provider).slice(0, 2), ['aws', 'gcp'], 'aws first (priority), then gcp')
  const r = s.reconcilers[s.acting]!
  t.equal(r.stats.provisionFailures.capacity, 1)
  t.equal(r.stats.backoffs, 1)
  t.ok(s.fleet.runUntilTrue(() => [...s.clouds.get('gcp')!.instances()].length === 1 && !s.fleet.isLive(v), 120_000), 'the replacement completed on gcp')
  t.same(s.violations, [])
})

t.test('the breaker trips when 25% of the pool goes bad at once: nothing is replaced', async (t) => {
  const s = sim({ agents: 50, initial: 40 })
  s.fleet.runFor(5_000)
  const bad = Array.from({ length: 10 }, (_, k) => 39 - k)
  for (const i of bad) s.injectFatal(i)
  s.fleet.runFor(30_000)
  t.equal(s.requests.length, 0, 'no replacement requested')
  const report = s.fleet.node(s.acting).pools!
  t.equal(report.pools[0]!.breakerOpen, true)
  t.match(report.pools[0]!.breakerReason, /10 of 40/)
  t.equal(report.pools[0]!.unhealthy, 10)
})

t.test('dead-on-arrival replacements are terminated and retried, at most 3 per slot', async (t) => {
  const s = sim({ clouds: [{ ...AWS, doaRate: 1 }], agentBootMs: 5_000 })
  s.fleet.runFor(5_000)
  const v = victim(s)
  const slot = s.instanceOf(v)!.tags.slot
  s.injectFatal(v)
  s.fleet.runFor(180_000)
  const created = [...s.clouds.get('aws')!.instances()].filter((i) => i.tags.slot === slot)
  t.equal(created.length, 4, 'the original and three dead-on-arrival attempts')
  t.ok(created.slice(1).every((i) => i.terminatedMs !== null), 'each dead-on-arrival instance was terminated')
  t.ok(s.fleet.isLive(v), 'the faulty node stays (cordoned) until an operator acts')
  const slotStatus = s.fleet.node(s.acting).pools!.pools[0]!.slots.find((x) => x.index === slot)!
  t.equal(slotStatus.state, 'failed')
  t.equal(s.healthyTerminated, 0)
})
