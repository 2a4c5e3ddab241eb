import t from 'tap'
import { Planner, DEFAULT_PLANNER_CONFIG, type Action, type Plan, type PlanInput } from '../../coordinator/planner.js'
import { provisionToken } from '../../coordinator/token.js'
import type { ObservedNode } from '../../coordinator/observed.js'
import type { PoolSpec } from '../../coordinator/pool.js'
import type { Instance } from '../../coordinator/providers/provider.js'
import { FLEET, fatal, instance, node, offer, pool } from './fixtures/world.js'

function input (now: number, pools: PoolSpec[], instances: Instance[], nodes: ObservedNode[], desired?: Record<string, number>): PlanInput {
  return { now, pools, instances, nodes, desired: new Map(Object.entries(desired ?? {})) }
}

function kinds (actions: Action[]): string[] {
  return actions.map((a) => a.kind === 'provision' ? `provision ${a.slot}/${a.generation} ${a.offer.provider}` : a.kind === 'terminate' ? `terminate ${a.instance.id} ${a.cause}` : `${a.kind} ${a.node}`)
}

function healthyPool (n: number): { instances: Instance[], nodes: ObservedNode[] } {
  const instances = Array.from({ length: n }, (_, s) => instance(s, 1))
  return { instances, nodes: instances.map((i) => node(i)) }
}

t.test('an empty pool is filled to min_nodes, and a re-plan presents the same tokens', async (t) => {
  const p = new Planner(FLEET)
  const first = p.plan(input(0, [pool()], [], []))
  t.same(kinds(first.actions), ['provision 0/1 aws', 'provision 1/1 aws'])
  const again = p.plan(input(100, [pool()], [], []))
  t.same(again.actions.map((a) => a.kind === 'provision' && a.token), first.actions.map((a) => a.kind === 'provision' && a.token), 'no new generation while a provision is unfinished')
  t.equal(first.actions[0]?.kind === 'provision' && first.actions[0]?.token, provisionToken(FLEET, 'train', 0, 1))
})

t.test('a provision reported done counts before any listing shows it', async (t) => {
  const p = new Planner(FLEET)
  p.plan(input(0, [pool()], [], []))
  p.provisioned(provisionToken(FLEET, 'train', 0, 1), instance(0, 1), 10)
  p.provisioned(provisionToken(FLEET, 'train', 1, 1), instance(1, 1), 10)
  const plan = p.plan(input(20, [pool()], [], []))
  t.same(plan.actions, [])
  t.same(plan.pools[0]!.slots.map((s) => s.state), ['booting', 'booting'])
})

t.test('replacement: cordon and provision first, drain once the new node joined, then terminate', async (t) => {
  const p = new Planner(FLEET)
  const { instances, nodes } = healthyPool(2)
  const bad = fatal(nodes[0]!)
  const early = p.plan(input(1_000, [pool()], instances, [bad, nodes[1]!]))
  t.same(kinds(early.actions), [], 'a fault is acted on after the settle time, not at first sight')
  const start = p.plan(input(1_000 + DEFAULT_PLANNER_CONFIG.replaceSettleMs, [pool()], instances, [bad, nodes[1]!]))
  t.same(kinds(start.actions), [`cordon ${bad.id}`, 'provision 0/2 aws'])
  t.equal(start.actions[1]?.kind === 'provision' && start.actions[1]?.replaces, bad.id)

  const incoming = instance(0, 2)
  const cordoned = { ...bad, cordoned: true }
  const booting = p.plan(input(3_000, [pool()], [...instances, incoming], [cordoned, nodes[1]!]))
  t.same(kinds(booting.actions), [], 'nothing to do while the replacement boots')
  t.equal(booting.pools[0]!.slots[0]!.state, 'replacing')

  const joined = node(incoming)
  t.same(kinds(p.plan(input(4_000, [pool()], [...instances, incoming], [cordoned, nodes[1]!, joined])).actions), [`drain ${bad.id}`])
  const draining = { ...cordoned, draining: true }
  t.same(kinds(p.plan(input(5_000, [pool()], [...instances, incoming], [draining, nodes[1]!, joined])).actions), [], 'waits for the drain hook')
  const drained = { ...draining, drained: true }
  t.same(kinds(p.plan(input(6_000, [pool()], [...instances, incoming], [drained, nodes[1]!, joined])).actions), [`terminate ${instances[0]!.id} replaced`])
  p.terminated(instances[0]!.id, 6_100)
  const after = p.plan(input(6_200, [pool()], [...instances, incoming], [drained, nodes[1]!, joined]))
  t.same(kinds(after.actions), [], 'terminated instances no longer count while the listing catches up')
  t.equal(after.pools[0]!.slots[0]!.instanceId, incoming.id)
})

t.test('a dead old node is terminated without a drain once its replacement joined', async (t) => {
  const p = new Planner(FLEET)
  const { instances, nodes } = healthyPool(2)
  const dead = { ...nodes[0]!, member: 'dead' as const, memberSinceMs: 0 }
  const plan1 = p.plan(input(30_000, [pool()], instances, [dead, nodes[1]!]))
  t.same(kinds(plan1.actions), [], 'dead for 30 s only just reached; settle')
  const plan2 = p.plan(input(31_000, [pool()], instances, [dead, nodes[1]!]))
  t.same(kinds(plan2.actions), [`look ${dead.id}`], 'one last look first')
  const looked = { ...dead, lookFailedMs: 31_250 }
  const plan3 = p.plan(input(32_000, [pool()], instances, [looked, nodes[1]!]))
  t.same(kinds(plan3.actions), ['provision 0/2 aws'], 'unanswered: replaced, and no cordon for a dead node')
  const incoming = instance(0, 2)
  t.same(kinds(p.plan(input(40_000, [pool()], [...instances, incoming], [looked, nodes[1]!, node(incoming)])).actions), [`terminate ${instances[0]!.id} replaced`])
})

t.test('the last look: asked again while unanswered, a node that answers is not replaced, a new death is looked at anew', async (t) => {
  const p = new Planner(FLEET)
  const { instances, nodes } = healthyPool(2)
  const dead = { ...nodes[0]!, member: 'dead' as const, memberSinceMs: 0 }
  const plan = (now: number, n: ObservedNode): Plan => p.plan(input(now, [pool()], instances, [n, nodes[1]!]))
  plan(30_000, dead)
  const first = plan(30_500, dead)
  t.same(kinds(first.actions), [`look ${dead.id}`])
  t.equal(first.wakeAt, 30_500 + DEFAULT_PLANNER_CONFIG.lastLookWaitMs, 'planned again when the look should have ended')
  t.equal(first.pools[0]!.slots[0]!.detail, 'dead for 31 s; one last look at it first')
  t.same(kinds(plan(31_500, dead).actions), [`look ${dead.id}`], 'no answer yet: asked again (the mesh drops a look in flight)')
  // It answered and refuted: alive again, healthy.
  t.same(kinds(plan(31_600, { ...dead, member: 'alive', memberSinceMs: 31_550 }).actions), [], 'alive: nothing to do')
  // It died again later: a failed look from its previous death does not count.
  const again = { ...dead, memberSinceMs: 40_000, lookFailedMs: 31_250 }
  plan(70_000, again)
  t.same(kinds(plan(70_500, again).actions), [`look ${dead.id}`], 'a look older than the death is no look')
  t.same(kinds(plan(71_000, { ...again, lookFailedMs: 70_750 }).actions), ['provision 0/2 aws'])
})

t.test('dead on arrival: terminated and retried at most max_attempts times per slot, then the pool stops', async (t) => {
  const spec = pool({ minNodes: 1, health: { bootDeadlineMs: 60_000 } })
  const p = new Planner(FLEET)
  let now = 0
  const seen: string[] = []
  for (let round = 0; round < 6; round++) {
    const plan = p.plan(input(now, [spec], [], []))
    const prov = plan.actions.find((a) => a.kind === 'provision')
    if (prov?.kind !== 'provision') {
      t.match(plan.notices.join('\n'), /a slot failed 3 attempts/)
      break
    }
    seen.push(...kinds(plan.actions))
    const i = instance(prov.slot, prov.generation, { launchedMs: now + 1 })
    p.provisioned(prov.token, i, now)
    t.same(kinds(p.plan(input(now + 30_000, [spec], [i], [])).actions), [], 'booting within the deadline')
    now += 61_000
    seen.push(...kinds(p.plan(input(now, [spec], [i], [])).actions))
    p.terminated(i.id, now)
    now += 1_000
  }
  t.same(seen, [
    'provision 0/1 aws', 'terminate i-train-0-1 dead-on-arrival',
    'provision 0/2 aws', 'terminate i-train-0-2 dead-on-arrival',
    'provision 0/3 aws', 'terminate i-train-0-3 dead-on-arrival',
  ])
})

t.test('dead on arrival in a replacement retries in the same slot with the next generation, then gives up', async (t) => {
  const spec = pool({ minNodes: 1, health: { bootDeadlineMs: 60_000 } })
  const p = new Planner(FLEET)
  const old = instance(0, 1)
  const bad = { ...fatal(node(old)), cordoned: true }
  let now = 0
  p.plan(input(now, [spec], [old], [bad]))
  now += 1_000
  const provisions: number[] = []
  for (let round = 0; round < 5; round++) {
    const plan = p.plan(input(now, [spec], [old], [bad]))
    const prov = plan.actions.find((a) => a.kind === 'provision')
    if (prov === undefined || prov.kind !== 'provision') {
      t.equal(plan.pools[0]!.slots[0]!.state, 'failed')
      t.match(plan.notices.join('\n'), /slot 0 failed 3 replacements/)
      break
    }
    provisions.push(prov.generation)
    const incoming = instance(0, prov.generation, { launchedMs: now + 1 })
    p.provisioned(prov.token, incoming, now)
    now += 61_000
    const doa = p.plan(input(now, [spec], [old, incoming], [bad]))
    t.same(kinds(doa.actions), [`terminate ${incoming.id} dead-on-arrival`])
    p.terminated(incoming.id, now)
    now += 1_000
  }
  t.same(provisions, [2, 3, 4])
})

t.test('a boot gate that fails is dead on arrival at once', async (t) => {
  const p = new Planner(FLEET)
  const i = instance(0, 1)
  const plan = p.plan(input(1_000, [pool({ minNodes: 1 })], [i], [node(i, { bootGatePassed: false })]))
  t.same(kinds(plan.actions), [`terminate ${i.id} dead-on-arrival`])
})

t.test('the breaker holds replacement when more than 20% of the pool is bad', async (t) => {
  const p = new Planner(FLEET)
  const { instances, nodes } = healthyPool(8)
  const sick = nodes.map((n, k) => k < 2 ? fatal(n) : n) // 25%
  p.plan(input(0, [pool({ minNodes: 8 })], instances, sick))
  const plan = p.plan(input(1_000, [pool({ minNodes: 8 })], instances, sick))
  t.same(kinds(plan.actions), [`cordon ${sick[0]!.id}`, `cordon ${sick[1]!.id}`], 'cordoned, never replaced')
  t.equal(plan.pools[0]!.breakerOpen, true)
  t.match(plan.pools[0]!.breakerReason, /2 of 8/)
  const one = nodes.map((n, k) => k < 1 ? fatal(n) : n) // 12.5%
  const p2 = new Planner(FLEET)
  p2.plan(input(0, [pool({ minNodes: 8 })], instances, one))
  t.same(kinds(p2.plan(input(1_000, [pool({ minNodes: 8 })], instances, one)).actions), [`cordon ${one[0]!.id}`, 'provision 0/2 aws'])
})

t.test('at most max_in_flight replacements per pool', async (t) => {
  const p = new Planner(FLEET)
  const { instances, nodes } = healthyPool(20)
  const sick = nodes.map((n, k) => k < 3 ? fatal(n) : n)
  const spec = pool({ minNodes: 20, maxNodes: 20, health: { maxInFlight: 2 } })
  p.plan(input(0, [spec], instances, sick))
  const plan = p.plan(input(1_000, [spec], instances, sick))
  t.equal(plan.actions.filter((a) => a.kind === 'provision').length, 2)
  t.equal(plan.actions.filter((a) => a.kind === 'cordon').length, 3, 'every bad node is still cordoned')
  t.match(plan.pools[0]!.slots[2]!.detail, /waiting \(2 replacements in flight\)/)
})

t.test('correlated rack silence is reported, not replaced', async (t) => {
  const p = new Planner(FLEET)
  const { instances, nodes } = healthyPool(10)
  const racked = nodes.map((n, k) => ({ ...n, rack: k < 4 ? 'r1' : 'r2', ...(k < 3 ? { member: 'dead' as const, memberSinceMs: 0 } : {}) }))
  const spec = pool({ minNodes: 10, maxNodes: 10, health: { breakerFraction: 0.5 } })
  p.plan(input(60_000, [spec], instances, racked))
  const plan = p.plan(input(61_000, [spec], instances, racked))
  t.same(kinds(plan.actions), [])
  t.same(plan.correlated.map((g) => `${g.scope} ${g.name} ${g.silent.length}/${g.size}`), ['rack r1 3/4'])
  t.match(plan.notices.join('\n'), /correlated silence in rack r1/)
})

t.test('capacity errors back the offering off and fail over with the same token; transient errors pin it', async (t) => {
  const spec = pool({ minNodes: 1, offers: [offer({ provider: 'aws', priority: 1 }), offer({ provider: 'gcp', region: 'us-central1', instanceType: 'a3-highgpu-8g', priority: 2 })] })
  const p = new Planner(FLEET)
  const first = p.plan(input(0, [spec], [], []))
  const a = first.actions[0]!
  t.ok(a.kind === 'provision' && a.offer.provider === 'aws')
  if (a.kind !== 'provision') return
  t.match(p.provisionFailed(a.token, 'capacity', 'InsufficientInstanceCapacity', 10), /backed off 3 min/)
  const second = p.plan(input(20, [spec], [], [])).actions[0]!
  t.ok(second.kind === 'provision' && second.offer.provider === 'gcp' && second.token === a.token, 'next provider, same intent, same token')
  if (second.kind !== 'provision') return
  p.provisionFailed(second.token, 'transient', 'timeout', 30)
  const third = p.plan(input(4 * 60_000, [spec], [], [])).actions[0]!
  t.ok(third.kind === 'provision' && third.offer.provider === 'gcp', 'a transient failure may have created it: same provider even after aws reopened')
  t.equal(p.backoff.until('aws/us-east-1/p5.48xlarge', 20), 10 + 3 * 60_000)
})

t.test('every offering backed off: the slot waits and says until when', async (t) => {
  const p = new Planner(FLEET)
  const spec = pool({ minNodes: 1 })
  const a = p.plan(input(0, [spec], [], [])).actions[0]!
  if (a.kind !== 'provision') throw new Error('expected a provision')
  p.provisionFailed(a.token, 'capacity', 'none', 0)
  const plan = p.plan(input(1, [spec], [], []))
  t.same(plan.actions, [])
  t.match(plan.notices.join('\n'), /every offering is backed off/)
  t.equal(p.plan(input(3 * 60_000 + 1, [spec], [], [])).actions.length, 1, 'retried once the backoff ends')
})

t.test('a successor that sees the replacement booting creates no second instance', async (t) => {
  const { instances, nodes } = healthyPool(2)
  const bad = fatal(nodes[0]!)
  const first = new Planner(FLEET)
  first.plan(input(0, [pool()], instances, [bad, nodes[1]!]))
  const decided = first.plan(input(1_000, [pool()], instances, [bad, nodes[1]!])).actions.find((a) => a.kind === 'provision')
  if (decided?.kind !== 'provision') throw new Error('expected a provision')
  // The coordinator dies right after the provision call; the successor lists the clouds.
  const incoming = instance(0, 2)
  const successor = new Planner(FLEET)
  successor.plan(input(2_000, [pool()], [...instances, incoming], [{ ...bad, cordoned: true }, nodes[1]!]))
  const plan = successor.plan(input(3_000, [pool()], [...instances, incoming], [{ ...bad, cordoned: true }, nodes[1]!]))
  t.same(kinds(plan.actions), [], 'waits for the instance its predecessor created')
  t.equal(incoming.tags!.token, decided.token)
  // And if the listing does not show it yet, the successor re-decides the same intent: same token.
  const blind = new Planner(FLEET)
  blind.plan(input(2_000, [pool()], instances, [bad, nodes[1]!]))
  const again = blind.plan(input(3_000, [pool()], instances, [bad, nodes[1]!])).actions.find((a) => a.kind === 'provision')
  t.ok(again?.kind === 'provision' && again.token === decided.token)
})

t.test('seeded generations: a slot emptied by scale-down never reuses a token', async (t) => {
  const p = new Planner(FLEET)
  p.seed({ pools: [{ name: 'train', slots: [{ index: 0, generation: 4, attempts: 0 }] }] } as never)
  const a = p.plan(input(0, [pool({ minNodes: 1 })], [], [])).actions[0]!
  t.ok(a.kind === 'provision' && a.generation === 5)
})

t.test('scale-down: cordon, drain, terminate, highest slot first', async (t) => {
  const p = new Planner(FLEET)
  const { instances, nodes } = healthyPool(4)
  const spec = pool({ minNodes: 1 })
  t.same(kinds(p.plan(input(0, [spec], instances, nodes, { train: 2 })).actions), [`cordon ${nodes[3]!.id}`, `cordon ${nodes[2]!.id}`])
  const cordoned = nodes.map((n, k) => k >= 2 ? { ...n, cordoned: true } : n)
  t.same(kinds(p.plan(input(1, [spec], instances, cordoned, { train: 2 })).actions), [`drain ${nodes[3]!.id}`, `drain ${nodes[2]!.id}`])
  const drained = cordoned.map((n, k) => k >= 2 ? { ...n, draining: true, drained: k === 3 } : n)
  t.same(kinds(p.plan(input(2, [spec], instances, drained, { train: 2 })).actions), [`terminate ${instances[3]!.id} scale-down`])
  t.same(kinds(p.plan(input(3, [spec], instances, nodes, { train: 4 })).actions), [], 'at desired: nothing')
})

t.test('scale-down takes an unhealthy node before a healthy one', async (t) => {
  const p = new Planner(FLEET)
  const { instances, nodes } = healthyPool(3)
  const spec = pool({ minNodes: 1, health: { autoReplace: false } })
  const sick = nodes.map((n, k) => k === 0 ? { ...n, health: 'unhealthy' as const } : n)
  t.same(kinds(p.plan(input(0, [spec], instances, sick, { train: 2 })).actions), [`cordon ${nodes[0]!.id}`])
})

t.test('orphans are reported at once and terminated after the grace period', async (t) => {
  const p = new Planner(FLEET)
  const stray = instance(0, 1, { pool: 'gone' })
  const foreign = { ...instance(0, 1, { pool: 'gone' }), id: 'i-foreign', tags: { ...instance(0, 1).tags!, fleet: 'other' } }
  const first = p.plan(input(0, [pool({ minNodes: 0 })], [stray, foreign], []))
  t.same(kinds(first.actions), [])
  t.match(first.notices.join('\n'), /orphan aws\/i-gone-0-1/)
  t.notMatch(first.notices.join('\n'), /i-foreign/, 'another fleet\'s instance is none of our business')
  t.same(kinds(p.plan(input(DEFAULT_PLANNER_CONFIG.orphanGraceMs, [pool({ minNodes: 0 })], [stray, foreign], [])).actions), ['terminate i-gone-0-1 orphan'])
})

t.test('auto_replace off: the fault is reported, nothing provisioned', async (t) => {
  const p = new Planner(FLEET)
  const { instances, nodes } = healthyPool(2)
  const sick = [fatal(nodes[0]!), nodes[1]!]
  const spec = pool({ health: { autoReplace: false } })
  p.plan(input(0, [spec], instances, sick))
  const plan = p.plan(input(1_000, [spec], instances, sick))
  t.same(kinds(plan.actions), [])
  t.match(plan.notices.join('\n'), /auto_replace is off/)
})

t.test('a desired size outside the pool bounds is a bug, and says so', async (t) => {
  const p = new Planner(FLEET)
  t.throws(() => p.plan(input(0, [pool()], [], [], { train: 99 })), /desired 99 outside \[2, 8\]/)
})

t.test('a terminated instance stays gone until a listing stops showing it alive (no second terminate, no phantom replacement)', async (t) => {
  const p = new Planner(FLEET)
  const { instances, nodes } = healthyPool(2)
  const incoming = instance(0, 2)
  const drained = { ...fatal(nodes[0]!), cordoned: true, draining: true, drained: true }
  const stale = [...instances, incoming] // the listing from before the terminate
  const world = [drained, nodes[1]!, node(incoming)]
  t.same(kinds(p.plan(input(0, [pool()], stale, world)).actions), [`terminate ${instances[0]!.id} replaced`])
  p.terminated(instances[0]!.id, 10)
  for (const now of [1_000, 2_000, 29_000]) {
    const plan = p.plan(input(now, [pool()], stale, world))
    t.same(kinds(plan.actions), [], `at ${now}: nothing (the old listing still shows it running)`)
    t.equal(plan.pools[0]!.replacing, 0, `at ${now}: no replacement in flight`)
  }
  const fresh = [{ ...instances[0]!, state: 'terminated' as const }, instances[1]!, incoming]
  t.same(kinds(p.plan(input(30_000, [pool()], fresh, world)).actions), [], 'the new listing agrees')
})

t.test('idleUntil: when a plan on the same inputs could first decide otherwise', async (t) => {
  const { instances, nodes } = healthyPool(2)
  const p = new Planner(FLEET)
  const quiet = p.plan(input(1_000, [pool()], instances, nodes))
  t.same([quiet.actions, quiet.idleUntil], [[], Infinity], 'a full healthy pool: nothing will change by itself')
  const dead = { ...nodes[0]!, member: 'dead' as const, memberSinceMs: 500 }
  t.equal(p.plan(input(2_000, [pool()], instances, [dead, nodes[1]!])).idleUntil, 2_500, 'a dead node: first when its badness has settled')
  t.equal(p.plan(input(2_500, [pool()], instances, [dead, nodes[1]!])).idleUntil, 30_500, 'then its dead_replace_after')
  const fresh = new Planner(FLEET)
  const booting = instance(1, 1, { launchedMs: 1_000 })
  const b = fresh.plan(input(2_000, [pool()], [instances[0]!, booting], [nodes[0]!]))
  t.same([b.actions, b.idleUntil], [[], 2_000 + 600_000 + 1], 'a booting instance: just past its boot deadline (from this planner\'s first sight of it)')
  const busy = new Planner(FLEET).plan(input(0, [pool()], [], []))
  t.ok(busy.actions.length > 0)
  t.equal(busy.idleUntil, 0, 'actions: not idle (plans retry them)')
  const pending = new Planner(FLEET)
  pending.plan(input(0, [pool()], [], []))
  t.equal(pending.plan(input(1, [pool()], [], [])).idleUntil, 1, 'a provision pending: not idle')
})
