// The planner's safety cases found in review: each would terminate or drain a node that should
// stay, create an instance that should not exist, or lose what an operator must see.
import t from 'tap'
import { Planner, type Action, type PlanInput } from '../../coordinator/planner.js'
import { provisionToken } from '../../coordinator/token.js'
import type { ObservedNode } from '../../coordinator/observed.js'
import type { PoolSpec } from '../../coordinator/pool.js'
import type { Instance } from '../../coordinator/providers/provider.js'
import { create } from '@bufbuild/protobuf'
import { PoolsReportSchema, PoolStatusSchema, SlotStatusSchema } from '../../proto/gen/shoal_pb.js'
import { FLEET, fatal, instance, node, pool } from './fixtures/world.js'

const HOUR = 3_600_000

function input (now: number, pools: PoolSpec[], instances: Instance[], nodes: ObservedNode[], desired?: Record<string, number>, listedAt?: Record<string, number>): PlanInput {
  return { now, pools, instances, nodes, desired: new Map(Object.entries(desired ?? {})), ...(listedAt === undefined ? {} : { listedAt: new Map(Object.entries(listedAt)) }) }
}

function kinds (actions: Action[]): string[] {
  return actions.map((a) => a.kind === 'provision' ? `provision ${a.slot}/${a.generation}` : a.kind === 'terminate' ? `terminate ${a.instance.id} ${a.cause}` : `${a.kind} ${a.node}`)
}

t.test('a scale-down never drains running nodes in favour of provisions that have not launched', async (t) => {
  const spec = pool({ minNodes: 2, maxNodes: 8 })
  const p = new Planner(FLEET)
  const running = [instance(0, 1), instance(1, 1)]
  const nodes = running.map((i) => node(i))
  const up = p.plan(input(0, [spec], running, nodes, { train: 4 }))
  t.same(kinds(up.actions), ['provision 2/1', 'provision 3/1'], 'the queue spiked: two more')
  for (const a of up.actions) if (a.kind === 'provision') p.provisionFailed(a.token, 'capacity', 'none', 10)
  const down = p.plan(input(20, [spec], running, nodes, { train: 2 }))
  t.same(kinds(down.actions), [], 'the queue drained: the unlaunched provisions are withdrawn, no node is cordoned')
  t.same(kinds(p.plan(input(4 * 60_000, [spec], running, nodes, { train: 2 })).actions), [], 'and they do not come back when the backoff ends')
})

t.test('a coordinator that has not heard a node yet gives its long-running instance a full boot deadline', async (t) => {
  const spec = pool({ minNodes: 3, health: { bootDeadlineMs: 10 * 60_000 } })
  const p = new Planner(FLEET)
  const old = [0, 1, 2].map((s) => instance(s, 1, { launchedMs: 1 }))
  const now = 6 * HOUR
  const plan = p.plan(input(now, [spec], old, [node(old[0]!)]))
  t.same(kinds(plan.actions), [], 'two nodes unheard: booting, not dead on arrival')
  t.same(plan.pools[0]!.slots.map((s) => s.state), ['active', 'booting', 'booting'])
  t.same(kinds(p.plan(input(now + 11 * 60_000, [spec], old, [node(old[0]!)])).actions), [`terminate ${old[1]!.id} dead-on-arrival`, `terminate ${old[2]!.id} dead-on-arrival`], 'still nothing after its own full deadline: then it is')
})

t.test('a boot gate failing on an established node goes through replacement (breaker, cordon, provision first), never a bare terminate', async (t) => {
  const spec = pool({ minNodes: 8, maxNodes: 8 })
  const p = new Planner(FLEET)
  const old = Array.from({ length: 8 }, (_, s) => instance(s, 1, { launchedMs: 1 }))
  const one = old.map((i, k) => node(i, k === 3 ? { bootGatePassed: false } : {}))
  p.plan(input(HOUR, [spec], old, one))
  t.same(kinds(p.plan(input(HOUR + 1_000, [spec], old, one)).actions), [`cordon ${one[3]!.id}`, 'provision 3/2'], 'one failed gate: cordon and a replacement')
  const all = old.map((i) => node(i, { bootGatePassed: false, health: 'unhealthy' }))
  const q = new Planner(FLEET)
  q.plan(input(HOUR, [spec], old, all))
  const plan = q.plan(input(HOUR + 1_000, [spec], old, all))
  t.notOk(plan.actions.some((a) => a.kind === 'terminate' || a.kind === 'provision'), 'every gate failed (a driver update): the breaker holds, nothing is terminated')
  t.equal(plan.pools[0]!.breakerOpen, true)
})

t.test('a successor whose first listing lags re-sends the reported generation, never one past it', async (t) => {
  const spec = pool({ minNodes: 1 })
  const report = create(PoolsReportSchema, { term: 2, pools: [create(PoolStatusSchema, { name: 'train', slots: [create(SlotStatusSchema, { index: 0, generation: 1, state: 'booting' })] })] })
  const p = new Planner(FLEET)
  p.seed(report)
  const a = p.plan(input(0, [spec], [], [])).actions[0]
  t.ok(a?.kind === 'provision' && a.generation === 1 && a.token === provisionToken(FLEET, 'train', 0, 1), 'the same token: the cloud answers with the instance it made')
  const emptied = new Planner(FLEET)
  emptied.seed(create(PoolsReportSchema, { pools: [create(PoolStatusSchema, { name: 'train', slots: [create(SlotStatusSchema, { index: 0, generation: 4, state: 'empty' })] })] }))
  const b = emptied.plan(input(0, [spec], [], [])).actions[0]
  t.ok(b?.kind === 'provision' && b.generation === 5, 'an emptied slot\'s generation is gone: the next one')
})

t.test('a provision reported done outlives a listing that keeps failing', async (t) => {
  const spec = pool({ minNodes: 1 })
  const p = new Planner(FLEET)
  const a = p.plan(input(0, [spec], [], [], {}, { aws: 0 })).actions[0]!
  if (a.kind !== 'provision') throw new Error('expected a provision')
  const made = instance(0, 1, { launchedMs: 5 })
  p.provisioned(a.token, made, 10)
  // The list call fails from now on: the planner keeps getting the listing taken at 0.
  const later = p.plan(input(30 * 60_000, [spec], [], [node(made)], {}, { aws: 0 }))
  t.same(kinds(later.actions), [], 'half an hour on, still no second instance')
  t.equal(later.pools[0]!.slots[0]!.instanceId, made.id)
})

t.test('a node cordoned for a scale-down is uncordoned when the pool wants it again', async (t) => {
  const spec = pool({ minNodes: 1 })
  const p = new Planner(FLEET)
  const running = [0, 1, 2].map((s) => instance(s, 1))
  const nodes = running.map((i) => node(i))
  t.same(kinds(p.plan(input(0, [spec], running, nodes, { train: 2 })).actions), [`cordon ${nodes[2]!.id}`])
  const cordoned = nodes.map((n, k) => k === 2 ? { ...n, cordoned: true } : n)
  t.same(kinds(p.plan(input(1_000, [spec], running, cordoned, { train: 3 })).actions), [`uncordon ${nodes[2]!.id}`], 'the queue came back')
  const manual = nodes.map((n, k) => k === 1 ? { ...n, cordoned: true } : n)
  t.same(kinds(new Planner(FLEET).plan(input(0, [spec], running, manual, { train: 3 })).actions), [], 'an operator\'s cordon is not the planner\'s to lift')
})

t.test('a replacement not launched yet is withdrawn when its node recovers', async (t) => {
  const spec = pool({ minNodes: 2 })
  const p = new Planner(FLEET)
  const running = [instance(0, 1), instance(1, 1)]
  const bad = fatal(node(running[0]!))
  p.plan(input(0, [spec], running, [bad, node(running[1]!)]))
  const start = p.plan(input(1_000, [spec], running, [bad, node(running[1]!)]))
  const prov = start.actions.find((a) => a.kind === 'provision')
  if (prov?.kind !== 'provision') throw new Error('expected a provision')
  p.provisionFailed(prov.token, 'capacity', 'none', 1_100)
  t.same(kinds(p.plan(input(1_500, [spec], running, [{ ...bad, cordoned: true }, node(running[1]!)])).actions), [], 'our cordon landed; every offering backed off')
  const early = new Planner(FLEET)
  early.plan(input(0, [spec], running, [bad, node(running[1]!)]))
  const e = early.plan(input(1_000, [spec], running, [bad, node(running[1]!)])).actions.find((a) => a.kind === 'provision')
  if (e?.kind === 'provision') early.provisionFailed(e.token, 'capacity', 'none', 1_100)
  t.notMatch(early.plan(input(1_200, [spec], running, [node(running[0]!), node(running[1]!)])).notices.join('\n'), /withdrawn/, 'not before our own cordon was seen (it would land after and stay)')
  const fixed = p.plan(input(2_000, [spec], running, [node(running[0]!), node(running[1]!)]))
  t.same(kinds(fixed.actions), [], 'fixed and uncordoned by an operator: no cordon again, no replacement')
  t.match(fixed.notices.join('\n'), /replacement of .* is withdrawn: it recovered/)
})

t.test('an orphan whose agent is alive is reported, never terminated; others go one per plan', async (t) => {
  const p = new Planner(FLEET)
  const alive = instance(0, 1, { pool: 'infer' })
  const quiet = [instance(1, 1, { pool: 'infer' }), instance(2, 1, { pool: 'infer' })]
  const first = p.plan(input(0, [pool({ minNodes: 0 })], [alive, ...quiet], [node(alive)]))
  t.match(first.notices.join('\n'), /i-infer-0-1 .*its agent .* is alive, so it is only reported/)
  const later = p.plan(input(HOUR, [pool({ minNodes: 0 })], [alive, ...quiet], [node(alive)]))
  t.same(kinds(later.actions), ['terminate i-infer-1-1 orphan'], 'one orphan per plan, and not the live one')
})

t.test('failed and emptied slots stay in the pool status', async (t) => {
  const spec = pool({ minNodes: 1, health: { bootDeadlineMs: 1_000 } })
  const p = new Planner(FLEET)
  let now = 0
  for (let round = 0; round < 3; round++) {
    const a = p.plan(input(now, [spec], [], [])).actions.find((x) => x.kind === 'provision')
    if (a?.kind !== 'provision') break
    const i = instance(a.slot, a.generation, { launchedMs: now + 1 })
    p.provisioned(a.token, i, now)
    now += 2_000
    p.plan(input(now, [spec], [i], []))
    p.terminated(i.id, now, 'aws')
    now += 10
  }
  const plan = p.plan(input(now, [spec], [], []))
  t.same(plan.pools[0]!.slots.map((s) => [s.index, s.state, s.generation, s.attempts]), [[0, 'failed', 3, 3]], 'the failed slot, with its attempts')
  t.same(kinds(plan.actions), [], 'and nothing more is launched')
  p.resetAttempts('train')
  t.same(kinds(p.plan(input(now + 10, [spec], [], [])).actions), ['provision 0/4'], 'until an operator acts: then the next generation')
})

t.test('second review: a node this coordinator launched long ago that fails its gate is replaced, not terminated bare', async (t) => {
  const spec = pool({ minNodes: 2 })
  const p = new Planner(FLEET)
  const a = p.plan(input(0, [spec], [], [])).actions.filter((x) => x.kind === 'provision')
  const made = a.map((x) => x.kind === 'provision' ? instance(x.slot, x.generation, { launchedMs: 1 }) : undefined!)
  a.forEach((x, k) => { if (x.kind === 'provision') p.provisioned(x.token, made[k]!, 10) })
  const later = made.map((i, k) => node(i, k === 0 ? { bootGatePassed: false } : {}))
  p.plan(input(2 * HOUR, [spec], made, later))
  t.same(kinds(p.plan(input(2 * HOUR + 1_000, [spec], made, later)).actions), [`cordon ${later[0]!.id}`, 'provision 0/2'])
})

t.test('second review: a scale-down takes booting instances before running nodes', async (t) => {
  const spec = pool({ minNodes: 2 })
  const p = new Planner(FLEET)
  const running = [instance(0, 1), instance(1, 1)]
  const booting = [instance(2, 1, { launchedMs: 10 }), instance(3, 1, { launchedMs: 10 })]
  const nodes = running.map((i) => node(i))
  const plan = p.plan(input(60_000, [spec], [...running, ...booting], nodes, { train: 2 }))
  t.same(kinds(plan.actions).sort(), [`terminate ${booting[0]!.id} scale-down`, `terminate ${booting[1]!.id} scale-down`].sort(), 'the two that run no work yet')
})

t.test('second review: a victim mid-drain stays the victim when another node turns bad', async (t) => {
  const spec = pool({ minNodes: 1, health: { autoReplace: false } })
  const p = new Planner(FLEET)
  const running = [0, 1, 2].map((s) => instance(s, 1))
  const nodes = running.map((i) => node(i))
  t.same(kinds(p.plan(input(0, [spec], running, nodes, { train: 2 })).actions), [`cordon ${nodes[2]!.id}`])
  const draining = nodes.map((n, k) => k === 2 ? { ...n, cordoned: true, draining: true } : k === 0 ? { ...n, health: 'unhealthy' as const } : n)
  const plan = p.plan(input(1_000, [spec], running, draining, { train: 2 }))
  t.notOk(kinds(plan.actions).includes(`uncordon ${nodes[2]!.id}`), 'never uncordoned mid-drain')
  t.notOk(kinds(plan.actions).includes(`cordon ${nodes[0]!.id}`), 'and no second victim')
})
