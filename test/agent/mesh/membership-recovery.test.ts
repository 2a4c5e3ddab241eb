// Recovery after deaths that were not (memberlist state.go, Serf reconnect): a member held dead
// that speaks to us is told so, once per interval; members dead for less than a window are
// pinged every deadProbeEvery rounds, and their ack changes nothing; an alive that only push-pull
// brought us is gossiped again, once and bounded; a node's own alive can be gossiped again.
import t from 'tap'
import { update } from './fixtures/members.js'
import { create } from '@bufbuild/protobuf'
import { AckSchema, MemberState, NodeMetaSchema, type MemberUpdate } from '../../../proto/gen/shoal_pb.js'
import { seededRng } from '../../../agent/lib/rng.js'
import { DEFAULT_MEMBERSHIP_CONFIG, type MembershipConfig } from '../../../agent/mesh/membership/config.js'
import { Membership, type MemberEffects } from '../../../agent/mesh/membership/membership.js'
import type { MemberStateName } from '../../../agent/mesh/types.js'

/** Fixed here so the tables do not move when the defaults are retuned. */
const CONFIG: MembershipConfig = {
  ...DEFAULT_MEMBERSHIP_CONFIG,
  probeIntervalMs: 500,
  probeTimeoutMs: 200,
  suspicionMinMs: 0,
  deadProbeEvery: 4,
  deadProbeWindowMs: 10_000,
  deadNoticeIntervalMs: 1000,
  deadNoticeGossipFanout: 3,
  syncRegossipMax: 16,
}



/** `self` knowing `peers` alive at incarnation 1. */
function cluster (self: string, peers: string[], config = CONFIG): Membership {
  const m = new Membership({ id: self, incarnation: 1, addrs: [`/dns4/${self}.localhost/tcp/1`], meta: create(NodeMetaSchema, { name: self }) }, config, seededRng(self), 0)
  for (const p of peers) m.apply(update(p, 'alive', 1, p), p, 0)
  return m
}

const peersOf = (n: number): string[] => Array.from({ length: n }, (_, i) => `p${i}`)

/** Bring x (alive 1 on m) to `held` the way gossip would, at `now`. */
function hold (m: Membership, held: MemberStateName | 'unknown', now = 0): void {
  if (held === 'unknown' || held === 'alive') return
  const reporter = held === 'left' ? 'x' : 'r1'
  m.apply(update('x', held, 1, reporter), reporter, now)
}

function memberSends (fx: MemberEffects): string[] {
  return fx.send.flatMap((s) => s.body.case === 'member'
    ? [`${s.to}: ${s.body.value.node} ${MemberState[s.body.value.state].toLowerCase()} ${s.body.value.incarnation} by ${s.body.value.reporter}`]
    : [])
}

function memberPublishes (fx: MemberEffects): string[] {
  return fx.publish.flatMap((p) => p.body.case === 'member'
    ? [`${p.body.value.node} ${MemberState[p.body.value.state].toLowerCase()} ${p.body.value.incarnation} by ${p.body.value.reporter}`]
    : [])
}

t.test('heardFrom: only a member held dead is told, directly, with our dead record', async (t) => {
  const rows: Array<[MemberStateName | 'unknown', 'direct' | 'gossip', string[]]> = [
    ['unknown', 'direct', []],
    ['alive', 'direct', []],
    ['suspect', 'direct', []], // the buddy system tells suspects, with every probe
    ['left', 'direct', []], // it said goodbye; a new life announces itself
    ['dead', 'direct', ['x: x dead 1 by a']],
    // A fanout at or above the live members answers every gossip (the odds are tested below).
    ['dead', 'gossip', ['x: x dead 1 by a']],
  ]
  for (const [held, via, expected] of rows) {
    const m = cluster('a', ['x', ...peersOf(3)], { ...CONFIG, deadNoticeGossipFanout: 100 })
    hold(m, held)
    const fx = m.heardFrom(held === 'unknown' ? 'stranger' : 'x', via, 10)
    t.same(memberSends(fx), expected, `${held}, ${via}`)
    t.same([fx.publish, fx.changes, fx.persistIncarnation], [[], [], undefined], `${held}, ${via}: nothing else`)
    t.equal(m.counters.deadNotices, expected.length, `${held}, ${via}: counted`)
  }
  const quiet = cluster('a', ['x'], { ...CONFIG, deadNoticeGossipFanout: 0 })
  hold(quiet, 'dead')
  t.same(quiet.heardFrom('x', 'gossip', 10).send, [], 'fanout 0: gossip is never answered')
  t.equal(quiet.heardFrom('x', 'direct', 10).send.length, 1, 'but a direct message is')
  const gone = cluster('a', ['x'])
  hold(gone, 'dead')
  gone.leave(5)
  t.same(gone.heardFrom('x', 'direct', 10).send, [], 'a node that left tells nobody anything')
})

t.test('heardFrom: rate-limited per member, deadNoticeIntervalMs apart', async (t) => {
  const m = cluster('a', ['x', 'y'])
  hold(m, 'dead')
  m.apply(update('y', 'dead', 1, 'r1'), 'r1', 0)
  // [time, who, notice expected]
  const rows: Array<[number, string, boolean]> = [
    [100, 'x', true], [110, 'x', false], [120, 'y', true], [1099, 'x', false],
    [1100, 'x', true], [1110, 'y', false], [1120, 'y', true], [1500, 'x', false], [2100, 'x', true],
  ]
  for (const [at, who, expected] of rows) {
    const fx = m.heardFrom(who, 'direct', at)
    t.equal(fx.send.length, expected ? 1 : 0, `t=${at} from ${who}: ${expected ? 'told' : 'already told'}`)
  }
  t.equal(m.counters.deadNotices, 5)
  const zero = cluster('a', ['x'], { ...CONFIG, deadNoticeIntervalMs: 0 })
  hold(zero, 'dead')
  t.same([0, 0, 1].map((d) => zero.heardFrom('x', 'direct', 10 + d).send.length), [1, 1, 1], 'interval 0: every message')
})

t.test('heardFrom: a gossip is answered with probability fanout / live members', async (t) => {
  // 101 live (us and 100 others), 200 dead senders each heard once by gossip: ~3% answered.
  const m = cluster('a', [...peersOf(100), ...Array.from({ length: 200 }, (_, i) => `d${i}`)])
  for (let i = 0; i < 200; i++) m.apply(update(`d${i}`, 'dead', 1, 'r1'), 'r1', 0)
  t.equal(m.liveCount(), 101)
  let told = 0
  for (let i = 0; i < 200; i++) told += m.heardFrom(`d${i}`, 'gossip', 10).send.length
  t.ok(told >= 1 && told <= 15, `${told} of 200 gossips answered (expected ~6)`)
})

t.test('the dead member told so refutes; a stale notice gets our alive back, alone', async (t) => {
  const a = cluster('a', ['x'])
  const x = cluster('x', ['a'])
  hold(a, 'dead')
  const notice = a.heardFrom('x', 'direct', 10).send[0]!
  const refute = x.receive('a', notice.body, 20)
  t.equal(refute.persistIncarnation, 2, 'x raises its incarnation')
  t.same(memberPublishes(refute), ['x alive 2 by x'], 'and gossips its alive')
  t.same(memberSends(a.apply(refute.publish[0]!.body.value as MemberUpdate, 'x', 30)), [], 'a takes it')
  t.equal(a.member('x')?.state, 'alive')
  // A second holder's notice, sent before it heard the refutation: x answers it alone.
  const b = cluster('b', ['x'])
  hold(b, 'dead')
  const late = x.receive('b', b.heardFrom('x', 'direct', 40).send[0]!.body, 50)
  t.same([memberSends(late), memberPublishes(late), late.persistIncarnation], [['b: x alive 2 by x'], [], undefined])
})

t.test('dead probes: one member dead for less than the window, every deadProbeEvery rounds', async (t) => {
  // x alone with us, so each wake is a round whose own probe finds nobody: only dead probes ping.
  // [x held, dead since (ms before the rounds start), deadProbeEvery, pings to x in 16 rounds]
  const rows: Array<[MemberStateName, number, number, number]> = [
    ['dead', 0, 4, 4],
    ['dead', 0, 8, 2],
    ['dead', 0, 1, 16],
    ['dead', 0, 0, 0], // off
    ['dead', 2000, 4, 4], // 2 s old; the 8 s of rounds end 10 s after the death: just inside
    ['dead', 10_000, 4, 0], // dead for the whole window: forgotten, though still held
    ['dead', 30_000, 4, 0],
    ['left', 0, 4, 0], // a goodbye is not a death
    ['alive', 0, 4, 16], // control: an alive member is probed by every round
  ]
  for (const [held, age, every, expected] of rows) {
    const m = cluster('a', [], { ...CONFIG, deadProbeEvery: every })
    const start = 40_000
    m.tick(start - age - 1) // a round before x: the round counter's phase must not matter
    m.apply(update('x', 'alive', 1, 'x'), 'x', start - age - 1)
    hold(m, held, start - age)
    const name = `${held} for ${age} ms, every ${every}`
    let pings = 0
    let other = 0
    let from = start
    for (let round = 0; round < 16; round++) {
      const at = Math.max(m.nextWakeAt(), from)
      const fx = m.tick(at)
      from = at + CONFIG.probeIntervalMs
      for (const s of fx.send) {
        if (s.to === 'x' && s.body.case === 'ping' && s.body.value.target === 'x') pings++
        else if (held !== 'alive') other++
      }
      // Answer live probes so the control row stays a plain round robin.
      if (held === 'alive') for (const s of fx.send) if (s.body.case === 'ping') m.receive('x', { case: 'ack', value: create(AckSchema, { seq: s.body.value.seq, target: 'x' }) }, at)
    }
    t.equal(pings, expected, `${name}: ${expected} pings`)
    t.equal(other, 0, `${name}: nothing else (no suspicion, no ping_req, no record)`)
    t.equal(m.member('x')?.state, held, `${name}: still ${held}`)
    if (held === 'dead') t.equal(m.counters.deadProbes, expected, `${name}: counted`)
  }
})

t.test('dead probes: an ack alone does not resurrect', async (t) => {
  const m = cluster('a', ['x'], { ...CONFIG, deadProbeEvery: 1 })
  hold(m, 'dead', 0)
  const fx = m.tick(Math.max(1, m.nextWakeAt()))
  const ping = fx.send.find((s) => s.body.case === 'ping')
  t.ok(ping !== undefined && ping.to === 'x', 'x is pinged')
  if (ping?.body.case !== 'ping') return
  const acked = m.counters.acked
  const back = m.receive('x', { case: 'ack', value: create(AckSchema, { seq: ping.body.value.seq, target: 'x' }) }, 600)
  t.same([back.send, back.publish, back.changes], [[], [], []], 'the ack changes nothing')
  t.equal(m.member('x')?.state, 'dead', 'x stays dead until it refutes')
  t.equal(m.counters.acked, acked, 'not a probe success either')
  t.equal(m.healthScore, 0, 'nor a failure: no local health change')
  t.same(memberSends(m.heardFrom('x', 'direct', 600)), ['x: x dead 1 by a'], 'what does follow: x is told (MeshNode calls heardFrom)')
  t.same(m.apply(update('x', 'alive', 2, 'x'), 'x', 700).changes.map((c) => c.to), ['alive'], 'its refutation makes it alive')
})

t.test('dead probes: every recent death gets its turn; the ring of live members is untouched', async (t) => {
  const m = cluster('a', ['x', 'y', 'z', ...peersOf(3)], { ...CONFIG, deadProbeEvery: 1, deadProbeWindowMs: 60_000 })
  for (const id of ['x', 'y', 'z']) m.apply(update(id, 'dead', 1, 'r1'), 'r1', 0)
  const dead = new Map<string, number>()
  const live = new Map<string, number>()
  for (let round = 0; round < 60; round++) {
    const at = m.nextWakeAt()
    const fx = m.tick(at)
    for (const s of fx.send) {
      if (s.body.case !== 'ping') continue
      const into = ['x', 'y', 'z'].includes(s.to) ? dead : live
      into.set(s.to, (into.get(s.to) ?? 0) + 1)
      if (into === live) m.receive(s.to, { case: 'ack', value: create(AckSchema, { seq: s.body.value.seq, target: s.to }) }, at)
    }
  }
  t.same([...dead.keys()].sort(), ['x', 'y', 'z'], 'each dead member pinged')
  t.equal([...dead.values()].reduce((a, b) => a + b, 0), 60, 'one dead probe per round')
  t.same([...live.values()], [20, 20, 20], 'the live members still get every round, once per pass')
})

t.test('repair: an alive that is news here is gossiped again, by us; nothing else is', async (t) => {
  // held x, update from push-pull, re-gossiped
  const rows: Array<[MemberStateName | 'unknown', string, string[]]> = [
    ['unknown', 'alive 1', []], // a first sighting: a joiner learns everyone from its first push-pull
    ['alive', 'alive 1', []],
    ['alive', 'alive 2', ['x alive 2 by a']], // a new life we missed
    ['suspect', 'alive 2', ['x alive 2 by a']], // a refutation we missed
    ['dead', 'alive 2', ['x alive 2 by a']],
    ['left', 'alive 2', ['x alive 2 by a']],
    ['alive', 'suspect 1', []], // accepted, but only reporters speak of suspicions and deaths
    ['alive', 'dead 1', []],
    ['dead', 'alive 1', []], // not accepted
  ]
  for (const [held, next, expected] of rows) {
    const m = cluster('a', held === 'unknown' ? [] : ['x'])
    hold(m, held)
    const [state, inc] = next.split(' ') as [MemberStateName, string]
    const fx = m.repair([update('x', state, Number(inc), state === 'alive' ? 'x' : 'r2')], 'b', 10)
    t.same(memberPublishes(fx), expected, `${held} + ${next}`)
    t.equal(`${m.member('x')?.state} ${m.member('x')?.incarnation}`, held === 'dead' && next === 'alive 1' ? 'dead 1' : next, `${held} + ${next}: applied`)
    if (expected.length === 0) continue
    const body = fx.publish[0]!.body
    if (body.case !== 'member') continue
    t.same(body.value.addrs, ['/dns4/x.localhost/tcp/2'], 'with its addresses')
    t.equal(body.value.meta?.name, 'x', 'and meta')
    t.equal(m.member('x')?.reporter, 'x', 'our own record keeps its reporter')
  }
})

t.test('repair: once (gossip and a second repair are not news), bounded per message', async (t) => {
  const m = cluster('a', ['x', 'y'])
  t.same(memberPublishes(m.repair([update('x', 'alive', 2, 'x')], 'b', 10)), ['x alive 2 by a'], 'first learner')
  t.same(memberPublishes(m.repair([update('x', 'alive', 2, 'x')], 'c', 20)), [], 'the same again: not news')
  t.same(m.apply(update('y', 'alive', 2, 'a'), 'a', 30).publish, [], 'learned by gossip: never re-gossiped')
  t.equal(m.counters.regossiped, 1)

  const peers = peersOf(20)
  const big = cluster('a', peers, { ...CONFIG, syncRegossipMax: 16 })
  const fx = big.repair(peers.map((p) => update(p, 'alive', 2, p)), 'b', 10)
  t.equal(memberPublishes(fx).length, 16, 'syncRegossipMax per push-pull')
  t.ok(peers.every((p) => big.member(p)?.incarnation === 2), 'all 20 applied')
  const off = cluster('a', ['x'], { ...CONFIG, syncRegossipMax: 0 })
  t.same(off.repair([update('x', 'alive', 2, 'x')], 'b', 10).publish, [], '0: never')
})

t.test('repair: about ourselves, a refutation as from gossip, never a re-gossip', async (t) => {
  const m = cluster('a', ['x'])
  const fx = m.repair([update('a', 'dead', 1, 'x'), update('a', 'alive', 1, 'a')], 'x', 10)
  t.same(memberPublishes(fx), ['a alive 2 by a'], 'our own refutation only')
  t.equal(fx.persistIncarnation, 2)
  t.equal(m.counters.regossiped, 0)
})

t.test('reannounce: our alive again, same incarnation, only while joined', async (t) => {
  const m = cluster('a', ['x'])
  t.same(m.reannounce(5).publish, [], 'not before join')
  m.join(10)
  const fx = m.reannounce(20)
  t.same(memberPublishes(fx), ['a alive 1 by a'])
  t.same([fx.send, fx.changes, fx.persistIncarnation], [[], [], undefined], 'nothing changes, nothing to persist')
  const body = fx.publish[0]!.body
  t.same(body.case === 'member' ? body.value.addrs : [], ['/dns4/a.localhost/tcp/1'], 'with our addresses')
  m.leave(30)
  t.same(m.reannounce(40).publish, [], 'not after leave')
})
