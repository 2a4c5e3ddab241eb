// The fleet view: health precedence by (incarnation, seq), the bounded event ring and its query,
// and which health updates make an event.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import { HealthAction, HealthState, HealthUpdateSchema, VerdictSchema, type HealthUpdate } from '../../../proto/gen/shoal_pb.js'
import { FleetView, newerHealth } from '../../../agent/mesh/fleet-view.js'

function health (node: string, incarnation: number, seq: number, o: { state?: HealthState, action?: HealthAction, cordoned?: boolean } = {}): HealthUpdate {
  return create(HealthUpdateSchema, {
    node, incarnation, seq, verdict: create(VerdictSchema, { state: o.state ?? HealthState.HEALTHY, action: o.action ?? HealthAction.NONE }), cordoned: o.cordoned ?? false,
  })
}

t.test('health precedence by (incarnation, seq)', async (t) => {
  const cases: Array<{ name: string, held: [number, number], incoming: [number, number], wins: boolean }> = [
    { name: 'newer seq, same incarnation', held: [1, 5], incoming: [1, 6], wins: true },
    { name: 'newer incarnation with a lower seq', held: [1, 50], incoming: [2, 1], wins: true },
    { name: 'stale seq', held: [1, 5], incoming: [1, 4], wins: false },
    { name: 'older incarnation with a higher seq', held: [2, 1], incoming: [1, 99], wins: false },
    { name: 'equal', held: [3, 7], incoming: [3, 7], wins: false },
  ]
  for (const c of cases) {
    const a = { incarnation: c.incoming[0], seq: c.incoming[1] }
    const b = { incarnation: c.held[0], seq: c.held[1] }
    t.equal(newerHealth(a, b), c.wins, `newerHealth: ${c.name}`)
    const v = new FleetView()
    t.equal(v.applyHealth(health('n', b.incarnation, b.seq), 0).outcome, 'new', `${c.name}: first is new`)
    const r = v.applyHealth(health('n', a.incarnation, a.seq, { state: HealthState.DEGRADED }), 1)
    t.equal(r.outcome, c.wins ? 'newer' : 'stale', `applyHealth: ${c.name}`)
    t.same([v.health('n')?.incarnation, v.health('n')?.seq], c.wins ? c.incoming : c.held, `kept: ${c.name}`)
  }
  t.equal(newerHealth({ incarnation: 0, seq: 0 }, undefined), true, 'anything beats nothing')
})

t.test('a full view refuses new nodes but still takes updates of known ones', async (t) => {
  const v = new FleetView({ maxNodes: 2, maxEvents: 10 })
  t.equal(v.applyHealth(health('a', 1, 1), 0).outcome, 'new')
  t.equal(v.applyHealth(health('b', 1, 1), 0).outcome, 'new')
  t.equal(v.applyHealth(health('c', 1, 1), 0).outcome, 'full')
  t.equal(v.health('c'), undefined)
  t.equal(v.applyHealth(health('a', 1, 2), 0).outcome, 'newer')
  t.equal(v.healthCount, 2)
})

t.test('the event ring keeps the newest maxEvents', async (t) => {
  const v = new FleetView({ maxNodes: 10, maxEvents: 5 })
  for (let i = 0; i < 12; i++) v.record({ timeMs: i * 10, node: i % 2 === 0 ? 'even' : 'odd', kind: 'k', detail: `e${i}` })
  const all = v.events({ sinceMs: 0, limit: 100 })
  t.same(all.map((e) => e.detail), ['e7', 'e8', 'e9', 'e10', 'e11'], 'newest five, oldest first')
})

t.test('events() filters by since and node, newest `limit` oldest-first', async (t) => {
  const v = new FleetView({ maxNodes: 10, maxEvents: 100 })
  for (let i = 0; i < 10; i++) v.record({ timeMs: i * 10, node: i % 2 === 0 ? 'even' : 'odd', kind: 'k', detail: `e${i}` })
  const details = (q: { sinceMs: number, limit: number, node?: string }): string[] => v.events(q).map((e) => e.detail)
  t.same(details({ sinceMs: 50, limit: 100 }), ['e5', 'e6', 'e7', 'e8', 'e9'], 'since is inclusive')
  t.same(details({ sinceMs: 0, limit: 3 }), ['e7', 'e8', 'e9'], 'limit keeps the newest, oldest first')
  t.same(details({ sinceMs: 0, limit: 2, node: 'odd' }), ['e7', 'e9'], 'node filter then limit')
  t.same(details({ sinceMs: 30, limit: 100, node: 'even' }), ['e4', 'e6', 'e8'], 'since and node')
  t.same(details({ sinceMs: 0, limit: 2, node: '' }), ['e8', 'e9'], 'empty node means all')
  t.same(details({ sinceMs: 1000, limit: 10 }), [], 'nothing after the last')
  t.same(details({ sinceMs: 0, limit: 0 }), [], 'limit 0')
})

t.test('a health update makes an event only when state, action or flags change', async (t) => {
  type O = { state?: HealthState, action?: HealthAction, cordoned?: boolean }
  const cases: Array<{ name: string, before: O, after: O, event: boolean }> = [
    { name: 'nothing an operator sees changed', before: {}, after: {}, event: false },
    { name: 'state', before: {}, after: { state: HealthState.DEGRADED }, event: true },
    { name: 'action', before: { state: HealthState.DEGRADED }, after: { state: HealthState.DEGRADED, action: HealthAction.WATCH }, event: true },
    { name: 'flags', before: {}, after: { cordoned: true }, event: true },
    { name: 'flags cleared', before: { cordoned: true }, after: {}, event: true },
  ]
  for (const c of cases) {
    const v = new FleetView()
    const first = v.applyHealth(health('n', 1, 1, c.before), 0)
    t.match(first.event?.detail, /^first report: /, `${c.name}: the first report is an event`)
    const r = v.applyHealth(health('n', 1, 2, c.after), 1)
    t.equal(r.outcome, 'newer')
    t.equal(r.event !== undefined, c.event, `${c.name}: event ${c.event}`)
    if (r.event !== undefined) {
      t.equal(r.event.node, 'n')
      t.equal(r.event.kind, 'health')
      t.notMatch(r.event.detail, /^first report/)
    }
  }
  const v = new FleetView()
  v.applyHealth(health('n', 1, 5), 0)
  t.equal(v.applyHealth(health('n', 1, 4, { state: HealthState.UNHEALTHY }), 1).event, undefined, 'a stale update makes no event')
  t.match(v.applyHealth(health('n', 1, 6, { cordoned: true }), 2).event?.detail, /cordoned/, 'the flag is named')
})
