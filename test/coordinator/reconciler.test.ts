// coordinator/reconciler.ts driven by hand: pools, instances and nodes from the planner's fixtures,
// every provider call answered by the test, time an argument. No clouds, no mesh, no clock.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import { PoolStatusSchema, PoolsReportSchema, SlotStatusSchema, type PoolsReport } from '../../proto/gen/shoal_pb.js'
import {
  DEFAULT_RECONCILER_CONFIG, Reconciler,
  type Call, type CallOutcome, type ReconcileEffects, type ReconcilerConfig,
} from '../../coordinator/reconciler.js'
import type { ObservedNode } from '../../coordinator/observed.js'
import type { PoolSpec } from '../../coordinator/pool.js'
import type { Instance, ProviderErrorClass } from '../../coordinator/providers/provider.js'
import { provisionToken } from '../../coordinator/token.js'
import { WEBHOOK_EVENT_KINDS } from '../../coordinator/webhook.js'
import { FLEET, fatal, instance, node, offer, pool } from './fixtures/world.js'

/** Reports at once on every change here (the 2 s pacing has its own test below). */
const C = { ...DEFAULT_RECONCILER_CONFIG, reportMinIntervalMs: 0, reportIntervalMs: 10_000 }

const GCP = offer({ provider: 'gcp', region: 'us-central1', instanceType: 'a3-highgpu-8g', priority: 2 })

type Provision = Extract<Call, { kind: 'provision' }>

function reconciler (pools: PoolSpec[] = [pool()], providers: string[] = ['aws'], config: ReconcilerConfig = C): Reconciler {
  return new Reconciler({ fleet: FLEET, self: 'me', pools, providers, config })
}

function listed (instances: Instance[] = []): CallOutcome {
  return { ok: true, instances }
}

function failed (errorClass: ProviderErrorClass, code = 'injected', message = 'boom'): CallOutcome {
  return { ok: false, errorClass, code, message }
}

function lists (fx: ReconcileEffects): string[] {
  return fx.calls.filter((c) => c.kind === 'list').map((c) => c.provider)
}

function provisions (fx: ReconcileEffects): Provision[] {
  return fx.calls.filter((c): c is Provision => c.kind === 'provision')
}

function slots (fx: ReconcileEffects): string[] {
  return provisions(fx).map((c) => `${c.provider} ${c.action.slot}/${c.action.generation}`)
}

/** Active in `term` at `now`, every provider listed once (with `listing`); returns that first tick's effects. */
function started (r: Reconciler, listing: Record<string, Instance[]> = {}, now = 0, last?: PoolsReport, term = 1): ReconcileEffects {
  r.activate(term, last, now)
  const fx = r.tick(now, [])
  for (const c of fx.calls) if (c.kind === 'list') r.done(c, listed(listing[c.provider] ?? []), now)
  return fx
}

/** Ticks every plan interval over [from, to]; terminations succeed at once, provisions and lists stay in flight. */
function drive (r: Reconciler, nodes: readonly ObservedNode[], from: number, to: number): ReconcileEffects[] {
  const out: ReconcileEffects[] = []
  for (let now = from; now <= to; now += C.planIntervalMs) {
    const fx = r.tick(now, nodes)
    out.push(fx)
    for (const c of fx.calls) if (c.kind === 'terminate') r.done(c, { ok: true }, now)
  }
  return out
}

function full (n: number, p = 'train'): { instances: Instance[], nodes: ObservedNode[] } {
  const instances = Array.from({ length: n }, (_, s) => instance(s, 1, { pool: p }))
  return { instances, nodes: instances.map((i) => node(i)) }
}

function report (term: number, seq: number, pools: Array<Parameters<typeof create<typeof PoolStatusSchema>>[1]>): PoolsReport {
  return create(PoolsReportSchema, { term, coordinator: 'other', seq, timeMs: 1, pools: pools.map((p) => create(PoolStatusSchema, p)) })
}

t.test('an inactive reconciler decides nothing', async (t) => {
  const r = reconciler()
  t.equal(r.nextWakeAt(), Infinity)
  t.same(r.tick(0, []), { calls: [], commands: [], looks: [], report: undefined, events: [] })
})

t.test('nothing is planned before every provider has been listed once', async (t) => {
  const r = reconciler([pool({ offers: [offer(), GCP] })], ['aws', 'gcp'])
  r.activate(1, undefined, 0)
  const first = r.tick(0, [])
  t.same(lists(first), ['aws', 'gcp'], 'every provider is listed at once')
  t.same(provisions(first), [])
  const [aws, gcp] = first.calls
  r.done(aws!, listed(), 10)
  for (const now of [10, 1_000, 5_000]) t.same(r.tick(now, []).calls, [], `gcp not listed yet at ${now}: no plan`)
  r.done(gcp!, listed(), 5_100)
  t.same(slots(r.tick(5_100, [])), ['aws 0/1', 'aws 1/1'], 'both listed: the pool is filled to min_nodes')
})

t.test('a first list that failed is not a listing', async (t) => {
  const r = reconciler([pool({ offers: [offer(), GCP] })], ['aws', 'gcp'])
  r.activate(1, undefined, 0)
  const [aws, gcp] = r.tick(0, []).calls
  r.done(aws!, listed(), 10)
  r.done(gcp!, failed('transient', 'timeout', 'no answer'), 20)
  // gcp may hold this pool's instances: filling the pool now could create a second set.
  t.same(provisions(r.tick(1_000, [])), [], 'gcp has never been listed: no plan')
})

t.test('list calls recur every listIntervalMs and are never twice in flight', async (t) => {
  const r = reconciler()
  r.activate(1, undefined, 0)
  const [l1] = r.tick(0, []).calls
  t.same(lists(r.tick(500, [])), [], 'in flight: not again')
  t.same(lists(r.tick(C.listIntervalMs + 5_000, [])), [], 'still in flight past an interval: not again')
  r.done(l1!, listed(), 40_000)
  t.same(lists(r.tick(40_000 + C.listIntervalMs - 1, [])), [], 'not before an interval since the listing')
  const fx = r.tick(40_000 + C.listIntervalMs, [])
  t.same(lists(fx), ['aws'], 'again after an interval')
  t.same(lists(r.tick(40_000 + C.listIntervalMs + 1_000, [])), [], 'and once')
  t.ok(r.nextWakeAt() <= 40_000 + C.listIntervalMs + 1_000 + C.planIntervalMs, 'the next wake is at the next plan at the latest')
})

t.test('a failed list keeps the last good listing', async (t) => {
  const { instances, nodes } = full(2)
  const r = reconciler()
  started(r, { aws: instances })
  t.same(r.tick(0, nodes).calls, [], 'the pool is full')
  const l = r.tick(C.listIntervalMs, nodes).calls.find((c) => c.kind === 'list')
  t.ok(l, 'listed again after an interval')
  r.drainEvents()
  r.done(l!, failed('rate-limited', 'RequestLimitExceeded', 'slow down'), C.listIntervalMs + 10)
  const fx = r.tick(C.listIntervalMs + 2_000, nodes)
  t.same(provisions(fx), [], 'the last good listing still shows both instances')
  t.equal(r.pools[0]?.current, 2)
  t.match(r.drainEvents().map((e) => e.event.detail), ['aws list failed: rate-limited RequestLimitExceeded: slow down'])
})

t.test('a failed list is retried after an interval, not at once', async (t) => {
  const { instances, nodes } = full(2)
  const r = reconciler()
  started(r, { aws: instances })
  const l = r.tick(C.listIntervalMs, nodes).calls.find((c) => c.kind === 'list')!
  r.done(l, failed('fatal', 'AuthFailure', 'credentials expired'), C.listIntervalMs + 10)
  t.same(lists(r.tick(C.listIntervalMs + 500, nodes)), [], 'not again at once')
  t.ok(r.nextWakeAt() > C.listIntervalMs + 500, 'no immediate wake for the list either')
})

t.test('a first list that failed is retried soon, not after a full interval', async (t) => {
  const r = reconciler()
  r.activate(1, undefined, 0)
  const [l] = r.tick(0, []).calls
  r.done(l!, failed('transient', 'timeout', 'no answer'), 100)
  t.same(lists(r.tick(600, [])), [], 'not in a hot loop')
  let again = -1
  for (let now = 700; now <= C.listIntervalMs && again < 0; now += 100) if (lists(r.tick(now, [])).length > 0) again = now
  t.ok(again > 0 && again <= 100 + 5 * C.planIntervalMs, `re-listed after ${again} ms`)
})

t.test('provisions are not repeated while in flight; an answer from before deactivate is ignored', async (t) => {
  const r = reconciler()
  started(r)
  const first = provisions(r.tick(0, []))
  t.same(first.map((c) => c.action.slot), [0, 1])
  t.not(first[0]!.request.token, first[1]!.request.token, 'one token per slot')
  for (const now of [1_000, 5_000, 60_000]) t.same(provisions(r.tick(now, [])), [], `still in flight at ${now}`)

  r.deactivate(61_000)
  t.notOk(r.active)
  t.same(r.tick(61_500, []).calls, [], 'inactive: no calls')
  started(r, {}, 62_000, undefined, 2)
  const again = provisions(r.tick(62_000, []))
  t.same(again.map((c) => c.key), first.map((c) => c.key), 'the next term re-decides the same tokens')
  t.not(again[0], first[0], 'as new calls')

  t.same(r.done(first[0]!, { ok: true, instance: instance(0, 1) }, 62_100), { calls: [], commands: [], looks: [], report: undefined, events: [] })
  t.equal(r.stats.provisions, 0, 'the old term\'s answer is ignored')
  t.same(provisions(r.tick(63_000, [])), [], 'the new calls are still in flight')
  r.done(again[0]!, { ok: true, instance: instance(0, 1) }, 63_100)
  r.done(again[0]!, { ok: true, instance: instance(0, 1) }, 63_200)
  t.equal(r.stats.provisions, 1, 'a second answer to the same call is ignored')
  t.same(provisions(r.tick(63_300, [])), [], 'slot 0 is booting (the overlay), slot 1 still in flight')
})

t.test('activate seeds scale, queue and generations from the last pools report', async (t) => {
  const last = report(3, 7, [{
    name: 'train', min: 2, max: 8, desired: 4, scale: 4, queueDepth: 9, queueSetMs: 123,
    slots: [create(SlotStatusSchema, { index: 0, generation: 3, state: 'provisioning' })],
  }])
  const r = reconciler()
  const first = started(r, {}, 1_000, last, 3)
  t.equal(first.report?.seq, 8, 'the same term: seq continues from the report')
  t.equal(first.report?.term, 3)
  const fx = r.tick(1_000, [])
  t.same(slots(fx), ['aws 0/4', 'aws 1/4', 'aws 2/4', 'aws 3/4'], 'the operator\'s scale 4; slot 0 after its reported generation, slots it has no record of above the highest reported')
  t.equal(provisions(fx)[0]!.request.token, provisionToken(FLEET, 'train', 0, 4))
  const p = fx.report?.pools[0]
  t.equal(p?.desired, 4)
  t.equal(p?.scale, 4)
  t.equal(p?.queueDepth, 9)
  t.equal(p?.queueSetMs, 123)
  t.equal(fx.report?.seq, 9)

  const other = reconciler()
  t.equal(started(other, {}, 1_000, last, 4).report?.seq, 1, 'a new term starts its own seq')
})

t.test('a successor drops an override the last report no longer has', async (t) => {
  const r = reconciler()
  started(r)
  r.setScale('train', 4, 0)
  r.deactivate(1_000)
  // Term 2's coordinator handed the pool back to its autoscaler; its report has no scale.
  started(r, {}, 2_000, report(2, 5, [{ name: 'train', min: 2, max: 8, desired: 2 }]), 3)
  const fx = r.tick(2_000, [])
  t.equal(fx.report?.pools[0]?.scale, undefined)
  t.equal(provisions(fx).length, 2, 'min_nodes, not the old override')
})

t.test('setScale and setQueue change desired and show in the next report', async (t) => {
  const { instances, nodes } = full(2)
  const r = reconciler()
  started(r, { aws: instances })
  const base = r.tick(0, nodes)
  t.equal(base.report?.pools[0]?.desired, 2)
  t.equal(base.report?.pools[0]?.scale, undefined)

  r.setScale('train', 3, 1_000)
  const up = r.tick(1_000, nodes)
  t.same(slots(up), ['aws 2/1'], 'one more slot')
  t.equal(up.report?.pools[0]?.desired, 3)
  t.equal(up.report?.pools[0]?.scale, 3)

  r.setQueue('train', 12, 1_500)
  const q = r.tick(1_500, nodes)
  t.equal(q.report?.pools[0]?.queueDepth, 12)
  t.equal(q.report?.pools[0]?.queueSetMs, 1_500)
  t.equal(q.report?.pools[0]?.scale, 3, 'the override still wins')

  r.setScale('train', undefined, 2_000)
  const back = r.tick(2_000, nodes)
  t.equal(back.report?.pools[0]?.scale, undefined, 'cleared')
  t.equal(back.report?.pools[0]?.queueDepth, 12)
})

t.test('reports carry the events since the last one, with an increasing seq', async (t) => {
  const { instances, nodes } = full(2)
  const r = reconciler()
  const reports: PoolsReport[] = []
  const keep = (fx: ReconcileEffects): ReconcileEffects => { if (fx.report !== undefined) reports.push(fx.report); return fx }
  keep(started(r, { aws: instances }))
  t.match(reports[0]?.events.map((e) => e.detail), [/^coordinating 1 pools in term 1$/])
  t.equal(reports[0]?.coordinator, 'me')
  keep(r.tick(0, nodes))
  t.equal(reports.length, 2, 'the first plan changed the pools: reported at once')
  t.same(reports[1]?.events, [], 'events are carried once')
  t.equal(keep(r.tick(1_000, nodes)).report, undefined, 'nothing changed: no report before reportIntervalMs')
  t.ok(keep(r.tick(C.reportIntervalMs, nodes)).report, 'reported again after reportIntervalMs')

  const l = keep(r.tick(C.listIntervalMs, nodes)).calls.find((c) => c.kind === 'list')!
  r.done(l, failed('transient', 'InternalError', 'try later'), C.listIntervalMs + 10)
  const fx = keep(r.tick(C.listIntervalMs + 10 + C.planIntervalMs, nodes))
  t.ok(fx.report, 'an event is reported within a plan interval')
  t.match(fx.report?.events.map((e) => e.detail), ['aws list failed: transient InternalError: try later'])
  t.equal(fx.report?.events[0]?.term, 1)
  const seqs = reports.map((x) => x.seq)
  t.same(seqs, seqs.map((_, i) => i + 1), 'seq 1, 2, 3, …')
})


const FAILOVER: Array<{ errorClass: ProviderErrorClass, next: string, backoffs: number}> = [
  { errorClass: 'capacity', next: 'gcp', backoffs: 1 },
  { errorClass: 'quota', next: 'gcp', backoffs: 1 },
  { errorClass: 'fatal', next: 'gcp', backoffs: 0 },
  { errorClass: 'transient', next: 'aws', backoffs: 0 },
  { errorClass: 'rate-limited', next: 'aws', backoffs: 0 },
]

for (const c of FAILOVER) {
  t.test(`a ${c.errorClass} provision failure counts in stats; the next plan goes to ${c.next}`, async (t) => {
    const r = reconciler([pool({ minNodes: 1, offers: [offer(), GCP] })], ['aws', 'gcp'])
    started(r)
    const [p] = provisions(r.tick(0, []))
    t.equal(p?.provider, 'aws', 'priority first')
    r.drainEvents()
    r.done(p!, failed(c.errorClass, 'Code', 'refused'), 100)
    t.same(r.stats.provisionFailures, { [c.errorClass]: 1 })
    t.equal(r.stats.backoffs, c.backoffs)
    t.equal(r.stats.provisions, 0)
    t.match(r.drainEvents().map((e) => e.event.detail), [new RegExp(`^aws provision for train slot 0 failed: .*${c.errorClass === 'capacity' ? 'out of capacity' : c.errorClass}`)])
    // A refusal moves on at once; a retry of the same request waits 1 s (then 2, 4, … 5 min).
    const retryAt = c.next === 'aws' ? 1_100 : 100
    if (retryAt > 100) t.same(provisions(r.tick(100, [])), [], 'no retry before its delay')
    const [q] = provisions(r.tick(retryAt, []))
    t.equal(q?.provider, c.next)
    t.equal(q?.request.token, p!.request.token, 'the same slot and generation: the same token')
  })
}

interface HookCase {
  readonly hook: string
  readonly pool: string
  readonly run: () => Reconciler
}

const HOOKS: HookCase[] = [
  {
    hook: 'replacing', pool: 'train',
    run: () => {
      const { instances, nodes } = full(2)
      const r = reconciler()
      started(r, { aws: instances })
      const fxs = drive(r, [fatal(nodes[0]!), nodes[1]!], 0, 2_000)
      assertOnce(fxs, nodes[0]!.id)
      return r
    },
  },
  {
    hook: 'replaced', pool: 'train',
    run: () => {
      const { instances, nodes } = full(2)
      const incoming = instance(0, 2)
      const old = { ...fatal(nodes[0]!), cordoned: true, draining: true, drained: true }
      const r = reconciler()
      started(r, { aws: [...instances, incoming] })
      drive(r, [old, nodes[1]!, node(incoming)], 0, 1_000)
      return r
    },
  },
  {
    hook: 'dead-on-arrival', pool: 'train',
    run: () => {
      const { instances, nodes } = full(2)
      const r = reconciler()
      started(r, { aws: instances })
      drive(r, [{ ...nodes[0]!, bootGatePassed: false }, nodes[1]!], 0, 1_000)
      return r
    },
  },
  {
    hook: 'terminated', pool: 'train',
    run: () => {
      const { instances, nodes } = full(3)
      const r = reconciler()
      started(r, { aws: instances })
      drive(r, [nodes[0]!, nodes[1]!, { ...nodes[2]!, cordoned: true, draining: true, drained: true }], 0, 1_000)
      return r
    },
  },
  {
    hook: 'scaled', pool: 'train',
    run: () => {
      const { instances, nodes } = full(2)
      const r = reconciler()
      started(r, { aws: instances })
      r.setScale('train', 3, 0)
      drive(r, nodes, 0, 1_000)
      return r
    },
  },
  {
    hook: 'breaker-tripped', pool: 'train',
    run: () => {
      const { instances, nodes } = full(4)
      const r = reconciler()
      started(r, { aws: instances })
      const fxs = drive(r, [fatal(nodes[0]!), fatal(nodes[1]!), nodes[2]!, nodes[3]!], 0, 3_000)
      if (fxs.some((fx) => provisions(fx).length > 0)) throw new Error('the breaker let a replacement through')
      return r
    },
  },
  {
    hook: 'correlated-silence', pool: '',
    run: () => {
      const { instances, nodes } = full(3)
      const r = reconciler([pool({ minNodes: 3 })])
      started(r, { aws: instances })
      const rack = nodes.map((n, i) => ({ ...n, rack: 'r1', ...(i < 2 ? { member: 'dead' as const } : {}) }))
      drive(r, rack, 60_000, 61_000)
      return r
    },
  },
  {
    hook: 'orphan', pool: '',
    run: () => {
      const { instances, nodes } = full(2)
      const stray = instance(0, 1, { pool: 'retired' })
      const r = reconciler()
      started(r, { aws: [...instances, stray] })
      drive(r, nodes, 0, 1_000)
      return r
    },
  },
  {
    hook: 'slot-failed', pool: 'train',
    run: () => {
      const { instances, nodes } = full(2)
      const r = reconciler()
      started(r, { aws: instances }, 0, report(1, 1, [{ name: 'train', min: 2, max: 8, desired: 2, slots: [create(SlotStatusSchema, { index: 0, generation: 1, attempts: 3 })] }]))
      drive(r, [fatal(nodes[0]!), nodes[1]!], 0, 2_000)
      return r
    },
  },
]

/** A replacement provision goes out once, with the cordon of the node it replaces. */
function assertOnce (fxs: ReconcileEffects[], bad: string): void {
  const p = fxs.flatMap(provisions)
  const cordons = fxs.flatMap((fx) => fx.commands).filter((c) => c.kind === 'cordon' && c.node === bad)
  if (p.length !== 1 || p[0]!.action.replaces !== bad || cordons.length !== 1) throw new Error(`expected one replacement and one cordon of ${bad}`)
}

for (const c of HOOKS) {
  t.test(`webhook kind ${c.hook} comes out of drainEvents`, async (t) => {
    const events = c.run().drainEvents()
    const hooks = events.filter((e) => e.hook !== undefined).map((e) => ({ hook: e.hook, pool: e.pool }))
    t.ok(hooks.some((h) => h.hook === c.hook && h.pool === c.pool), `${c.hook} for pool '${c.pool}' in ${JSON.stringify(hooks)}`)
    for (const h of hooks) t.ok((WEBHOOK_EVENT_KINDS as readonly string[]).includes(h.hook!), `${h.hook} is a webhook kind`)
    t.notOk(events.some((e) => e.hook === undefined && e.event.kind === 'coordinator' && e.pool !== ''), 'coordinator events are fleet-wide')
  })
}

t.test('drainEvents hands each event over once', async (t) => {
  const r = reconciler()
  started(r)
  const first = r.drainEvents()
  t.match(first, [{ event: { kind: 'coordinator', detail: /coordinating/ }, hook: undefined, pool: '' }])
  t.same(r.drainEvents(), [])
})

t.test('pool names must be unique', async (t) => {
  t.throws(() => reconciler([pool(), pool()]), /unique/)
})

t.test('availability: the offerings a provider lists with its instances steer the choice', async (t) => {
  const r = reconciler([pool({ strategy: 'availability', minNodes: 1, offers: [offer(), GCP] })], ['aws', 'gcp'])
  r.activate(1, undefined, 0)
  const first = r.tick(0, [])
  for (const c of first.calls) {
    if (c.kind !== 'list') continue
    const offerings = c.provider === 'aws'
      ? [{ region: 'us-east-1', instanceType: 'p5.48xlarge', available: false }]
      : [{ region: 'us-central1', instanceType: 'a3-highgpu-8g', available: true }]
    r.done(c, { ok: true, instances: [], offerings }, 0)
  }
  t.same(slots(r.tick(1, [])), ['gcp 0/1'], 'aws says it has none: gcp, though aws comes first')
})

t.test('reports are paced: a change waits out reportMinIntervalMs, and big pools leave active slots out', async (t) => {
  const { instances, nodes } = full(70)
  const spec = pool({ minNodes: 70, maxNodes: 70 })
  const r = reconciler([spec], ['aws'], DEFAULT_RECONCILER_CONFIG)
  started(r, { aws: instances }, 0)
  t.equal(r.tick(1, nodes).report, undefined, 'the activation report went out at 0: the first plan waits out the 2 s')
  const first = r.tick(2_000, nodes).report
  t.ok(first !== undefined, 'the first report with the plan')
  t.same(first!.pools[0]!.slots, [], 'a pool of 70 leaves its active slots out')
  t.equal(first!.pools[0]!.current, 70, 'the counts still say how many')
  const sick = nodes.map((n, k) => k === 5 ? fatal(n) : n)
  r.poke(2_100) // the mesh's health event, as the runtime passes it on
  const reports: Array<{ at: number, report: PoolsReport }> = []
  for (let now = 2_100; now <= 12_000; now += 100) {
    const fx = r.tick(now, sick)
    for (const c of fx.calls) if (c.kind === 'provision') r.done(c, { ok: true, instance: instance(c.action.slot, c.action.generation) }, now)
    if (fx.report !== undefined) reports.push({ at: now, report: fx.report })
  }
  const gaps = reports.slice(1).map((x, i) => x.at - reports[i]!.at)
  t.ok(reports.length >= 1 && gaps.every((g) => g >= DEFAULT_RECONCILER_CONFIG.reportMinIntervalMs), `changes are reported, never twice within 2 s (at ${reports.map((x) => x.at).join(', ')})`)
  const slot5 = reports.at(-1)?.report.pools[0]!.slots.find((x) => x.index === 5)
  t.equal(slot5?.state, 'replacing')
  t.equal(slot5?.instanceId, instances[5]!.id, 'a slot that is not active keeps its detail')
})

t.test('review fixes: no spin while a report waits out its pacing', async (t) => {
  const r = reconciler([pool()], ['aws'], DEFAULT_RECONCILER_CONFIG)
  started(r, {}, 0)
  r.tick(0, [])
  r.setScale('train', 3, 500)
  r.tick(500, [])
  t.ok(r.nextWakeAt() >= 500 + 1, `the next wake is not in the past (${r.nextWakeAt()})`)
})

t.test('review fixes: one provider down does not stop the pools of another after a failover', async (t) => {
  const lambdaPool = pool({ name: 'lam', minNodes: 1, offers: [offer({ provider: 'lambda', region: 'us-east-3', instanceType: 'gpu_8x_h100_sxm5' })] })
  const r = reconciler([pool({ minNodes: 1 }), lambdaPool], ['aws', 'lambda'])
  r.activate(1, undefined, 0)
  for (const c of r.tick(0, []).calls) if (c.kind === 'list') r.done(c, c.provider === 'aws' ? listed() : failed('transient', 'provider/internal-unavailable'), 0)
  const fx = r.tick(1, [])
  t.same(slots(fx), ['aws 0/1'], 'the aws pool is planned; the lambda pool waits for its listing')
  t.same(fx.report?.pools.map((p) => p.name), ['train'])
})

t.test('review fixes: a scale written just before this agent saw its lease survives activation', async (t) => {
  const r = reconciler([pool({ minNodes: 1, maxNodes: 8 })])
  r.setScale('train', 6, 1_000)
  const last = report(2, 5, [{ name: 'train', min: 1, max: 8, desired: 2, scale: 2 }])
  last.timeMs = 900
  started(r, {}, 1_100, last, 3)
  t.equal(r.tick(1_100, []).report?.pools[0]?.scale, 6, 'the acknowledged write is newer than the report')
  const s = reconciler([pool({ minNodes: 1, maxNodes: 8 })])
  s.setScale('train', 6, 800)
  started(s, {}, 1_100, last, 3)
  t.equal(s.tick(1_100, []).report?.pools[0]?.scale, 2, 'an older local write gives way to the report')
})

t.test('review fixes: a refused terminate is retried after a growing delay, not in a loop', async (t) => {
  const { instances, nodes } = full(3)
  const r = reconciler([pool({ minNodes: 1 })])
  started(r, { aws: instances })
  const drained = nodes.map((n, k) => k === 2 ? { ...n, cordoned: true, draining: true, drained: true } : n)
  const calls: number[] = []
  for (let now = 0; now <= 10_000; now += 100) {
    for (const c of r.tick(now, drained).calls) {
      if (c.kind !== 'terminate') continue
      calls.push(now)
      r.done(c, failed('fatal', 'OperationNotPermitted', 'termination protection'), now)
    }
  }
  t.ok(calls.length >= 2 && calls.length <= 5, `a few tries in 10 s, not a hundred (${calls.join(', ')})`)
})

t.test('second review: a held pool keeps its last status in reports (scale, failed slots)', async (t) => {
  const lam = pool({ name: 'lam', minNodes: 1, maxNodes: 8, offers: [offer({ provider: 'lambda', region: 'us-east-3', instanceType: 'gpu_8x_h100_sxm5' })] })
  const last = report(2, 5, [
    { name: 'train', min: 2, max: 8, desired: 2 },
    { name: 'lam', min: 1, max: 8, desired: 5, scale: 5, slots: [create(SlotStatusSchema, { index: 0, generation: 3, attempts: 3, state: 'failed' })] },
  ])
  const r = reconciler([pool(), lam], ['aws', 'lambda'])
  r.activate(3, last, 0)
  for (const c of r.tick(0, []).calls) if (c.kind === 'list') r.done(c, c.provider === 'aws' ? listed() : failed('transient', 'provider/internal-unavailable'), 0)
  const rep = r.tick(2_000, []).report ?? r.tick(4_000, []).report
  const held = rep?.pools.find((p) => p.name === 'lam')
  t.equal(held?.scale, 5, 'the operator\'s scale is still reported')
  t.same(held?.slots.map((s) => s.state), ['failed'], 'and its failed slot')
})

t.test('second review: a listing counts from when it was asked for, not when it answered', async (t) => {
  const r = reconciler([pool({ minNodes: 1 })])
  r.activate(1, undefined, 0)
  const list0 = r.tick(0, []).calls.find((c) => c.kind === 'list')!
  r.done(list0, listed(), 0)
  const prov = provisions(r.tick(0, []))[0]!
  const relist = r.tick(C.listIntervalMs, []).calls.find((c) => c.kind === 'list')!
  r.done(prov, { ok: true, instance: instance(0, 1, { launchedMs: C.listIntervalMs + 200 }) }, C.listIntervalMs + 200)
  r.done(relist, listed(), C.listIntervalMs + 1_000) // asked before the launch: it cannot show it
  // Every listing fails from now on; the planner must keep remembering the launch.
  for (let now = C.listIntervalMs + 2_000; now <= 40 * 60_000; now += 30_000) {
    for (const c of r.tick(now, []).calls) {
      if (c.kind === 'list') r.done(c, failed('rate-limited', 'RequestLimitExceeded'), now)
      t.not(c.kind, 'provision', `no second provision at ${now}`)
    }
  }
})

t.test('second review: shoal scale acknowledged just before activation lets failed slots try again', async (t) => {
  const last = report(2, 5, [{ name: 'train', min: 1, max: 8, desired: 1, slots: [create(SlotStatusSchema, { index: 0, generation: 3, attempts: 3, state: 'failed' })] }])
  last.timeMs = 900
  const r = reconciler([pool({ minNodes: 1, maxNodes: 8 })])
  r.setScale('train', 1, 1_000)
  started(r, {}, 1_100, last, 3)
  t.same(slots(r.tick(1_100, [])), ['aws 0/4'], 'the failed slot tries again with the next generation')
})

t.test('idle: with nothing under way the next plan is at the planner\'s idleUntil, a change, or idlePlanMaxMs', async (t) => {
  // Listing and reports far apart, so the wake is the plan's own.
  const quiet = { ...C, planIntervalMs: 5_000, idlePlanMaxMs: 60_000, listIntervalMs: 3_600_000, reportIntervalMs: 3_600_000 }
  const { instances, nodes } = full(3)
  const r = reconciler([pool({ minNodes: 3, maxNodes: 3 })], ['aws'], quiet)
  started(r, { aws: instances }, 0)
  t.same(r.tick(0, nodes).calls, [], 'a full, healthy pool: nothing to do')
  t.equal(r.nextWakeAt(), 60_000, 'nothing due: the backstop, not the 5 s interval')
  r.poke(10_000)
  t.equal(r.nextWakeAt(), 10_000, 'a mesh change plans at once')
  const dead = nodes.map((n, k) => k === 1 ? { ...n, member: 'dead' as const, memberSinceMs: 10_000 } : n)
  r.tick(10_000, dead)
  t.equal(r.nextWakeAt(), 10_500, 'a dead node: planned when its badness has settled')
  r.tick(10_500, dead)
  t.equal(r.nextWakeAt(), 40_000, 'then when its dead_replace_after (30 s) falls due, not every 5 s before')
})

t.test('idle: a listing that differs is planned at once, an identical one is not', async (t) => {
  const quiet = { ...C, planIntervalMs: 5_000, idlePlanMaxMs: 60_000, listIntervalMs: 40_000, reportIntervalMs: 3_600_000 }
  const { instances, nodes } = full(3)
  const r = reconciler([pool({ minNodes: 3, maxNodes: 3 })], ['aws'], quiet)
  started(r, { aws: instances }, 0)
  r.tick(0, nodes)
  t.equal(r.nextWakeAt(), 40_000, 'the next listing comes before the backstop')
  const first = r.tick(40_000, nodes).calls.find((c) => c.kind === 'list')!
  r.done(first, listed(instances), 40_100)
  t.equal(r.nextWakeAt(), 60_000, 'the same listing: no plan before the backstop')
  r.tick(60_000, nodes)
  t.equal(r.nextWakeAt(), 80_100, 'the next listing')
  const second = r.tick(80_100, nodes).calls.find((c) => c.kind === 'list')!
  r.done(second, listed(instances.slice(0, 2)), 80_200)
  t.equal(r.nextWakeAt(), 80_200, 'an instance gone from the listing: plan now')
  t.equal(provisions(r.tick(80_200, nodes)).length, 1, 'and its slot is filled')
  t.equal(r.nextWakeAt(), 85_200, 'a provision in flight: every interval again')
})

t.test('idle: a pool with an autoscaler plans every interval (its signals are read each plan)', async (t) => {
  const quiet = { ...C, planIntervalMs: 5_000, idlePlanMaxMs: 60_000, listIntervalMs: 3_600_000, reportIntervalMs: 3_600_000 }
  const { instances, nodes } = full(3)
  const spec = pool({ minNodes: 3, maxNodes: 3, autoscaler: { kind: 'queue', jobsPerNode: 10, cooldown: { upMs: 0, downMs: 0 } } })
  const r = reconciler([spec], ['aws'], quiet)
  started(r, { aws: instances }, 0)
  r.tick(0, nodes)
  t.equal(r.nextWakeAt(), 5_000)
})
