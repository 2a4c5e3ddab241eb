// The last look (Membership.lastLook): before the coordinator replaces a node it holds dead, one
// more probe, direct then through relays. An answer tells the node it is held dead (it refutes);
// only silence until the probe's deadline is recorded, for the planner to act on.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import { AckSchema, MemberState, NodeMetaSchema, type MemberUpdate } from '../../../proto/gen/shoal_pb.js'
import { seededRng } from '../../../agent/lib/rng.js'
import { DEFAULT_MEMBERSHIP_CONFIG, type MembershipConfig } from '../../../agent/mesh/membership/config.js'
import { Membership, type MemberEffects } from '../../../agent/mesh/membership/membership.js'
import { update } from './fixtures/members.js'

const CONFIG: MembershipConfig = {
  ...DEFAULT_MEMBERSHIP_CONFIG,
  probeIntervalMs: 500,
  probeTimeoutMs: 200,
  indirectChecks: 2,
  deadProbeEvery: 0,
  maxLooks: 2,
}

/** `a` knowing x, y, z and the relays r0..r2 alive, then x (and `dead`) dead as of t=0. */
function holding (dead: string[] = [], config = CONFIG): Membership {
  const m = new Membership({ id: 'a', incarnation: 1, addrs: ['/dns4/a.localhost/tcp/1'], meta: create(NodeMetaSchema, { name: 'a' }) }, config, seededRng('a'), 0)
  for (const p of ['x', 'y', 'z', 'r0', 'r1', 'r2']) m.apply(update(p, 'alive', 1, p), p, 0)
  for (const p of ['x', ...dead]) m.apply(update(p, 'dead', 1, 'r1'), 'r1', 0)
  return m
}

/** What fx sends, as `to: body` lines (a ping's seq left out). */
function sends (fx: MemberEffects, to?: string): string[] {
  return fx.send.filter((s) => to === undefined || s.to === to).map((s) => {
    const b = s.body
    if (b.case === 'member') return `${s.to}: ${b.value.node} ${MemberState[b.value.state].toLowerCase()} ${b.value.incarnation}`
    if (b.case === 'ping' || b.case === 'pingReq') return `${s.to}: ${b.case} ${b.value.target}`
    return `${s.to}: ${b.case ?? 'nothing'}`
  })
}

function pingSeq (fx: MemberEffects, to: string): number {
  const s = fx.send.find((x) => x.to === to && x.body.case === 'ping')
  if (s?.body.case !== 'ping') throw new Error(`no ping to ${to}`)
  return s.body.value.seq
}

/** Ticks from..to every 50 ms; the sends about x (to it, or ping_reqs for it). */
function run (m: Membership, from: number, to: number): string[] {
  const out: string[] = []
  for (let now = from; now <= to; now += 50) {
    const fx = m.tick(now)
    out.push(...sends(fx).filter((line) => line.startsWith('x:') || line.endsWith(' x')))
  }
  return out
}

t.test('a look that goes unanswered: ping, ping_reqs at the timeout, recorded at the deadline', async (t) => {
  const m = holding()
  const score = m.healthScore
  const fx = m.lastLook('x', 1000)
  t.same(sends(fx), ['x: ping x'], 'one direct ping, no notice yet')
  t.equal(m.counters.looks, 1)
  const relayed = run(m, 1050, 1450)
  t.equal(relayed.filter((l) => l.includes('pingReq x')).length, 2, 'indirectChecks relays asked at the timeout')
  t.equal(m.lookFailedAt('x'), undefined, 'nothing recorded before the deadline')
  m.tick(1500)
  t.equal(m.lookFailedAt('x'), 1500, 'silent until the deadline: recorded')
  t.equal(m.counters.looksFailed, 1)
  t.equal(m.healthScore, score, 'the dead owe us no ack: our own health is not at stake')
  t.equal(m.member('x')?.state, 'dead', 'and nothing else changed')
})

t.test('a look that is answered: the node is told it is held dead, nothing is recorded', async (t) => {
  for (const via of ['direct', 'relay'] as const) {
    const m = holding()
    const seq = pingSeq(m.lastLook('x', 1000), 'x')
    let fx: MemberEffects
    if (via === 'direct') fx = m.receive('x', { case: 'ack', value: create(AckSchema, { seq, target: 'x' }) }, 1100)
    else {
      const req = m.tick(1200).send.find((s) => s.body.case === 'pingReq')!
      fx = m.receive(req.to, { case: 'ack', value: create(AckSchema, { seq, target: 'x' }) }, 1300)
    }
    t.same(sends(fx), ['x: x dead 1'], `${via}: our dead record goes to x at once`)
    t.same(m.counters.looksAnswered, 1, `${via}: counted`)
    t.same(m.heardFrom('x', 'direct', 1400).send, [], `${via}: the notice counts for heardFrom's rate limit`)
    m.tick(2000)
    t.equal(m.lookFailedAt('x'), undefined, `${via}: an answered look is no failure`)
  }
})

t.test('the node refutes; its record changing clears a failed look, and a new death needs a new one', async (t) => {
  const m = holding()
  m.lastLook('x', 1000)
  run(m, 1050, 1500)
  t.equal(m.lookFailedAt('x'), 1500)
  m.apply(update('x', 'alive', 2, 'x'), 'x', 1600)
  t.equal(m.lookFailedAt('x'), undefined, 'alive again: the failed look is gone')
  m.apply(update('x', 'dead', 2, 'r1'), 'r1', 1700)
  t.equal(m.lookFailedAt('x'), undefined, 'dead again: not looked at yet')
  m.lastLook('x', 1800)
  // Round probes nobody answers here have raised a's health score, which stretches the deadline.
  run(m, 1850, 6000)
  t.ok((m.lookFailedAt('x') ?? 0) > 1800, 'the new look failed too, and is recorded')
})

t.test('looks are refused unless the member is dead, one in flight per member, maxLooks in all', async (t) => {
  const m = holding(['y', 'z'])
  t.same(sends(m.lastLook('r0', 10)), [], 'alive: no look')
  t.same(sends(m.lastLook('nobody', 10)), [], 'unknown: no look')
  t.same(sends(m.lastLook('x', 10)), ['x: ping x'])
  t.same(sends(m.lastLook('x', 20)), [], 'x: already in flight')
  t.same(sends(m.lastLook('y', 30)), ['y: ping y'])
  t.same(sends(m.lastLook('z', 40)), [], 'z: maxLooks (2) in flight')
  m.tick(600)
  t.same(sends(m.lastLook('z', 600), 'z'), ['z: ping z'], 'room again once the others ended')
  t.equal(m.counters.looks, 3)
  const gone = holding()
  gone.leave(5)
  t.same(gone.lastLook('x', 10).send, [], 'a node that left looks at nobody')
})

t.test('a look whose timer fired during a stall records nothing: the caller asks again', async (t) => {
  const m = holding()
  m.lastLook('x', 1000)
  m.tick(1000 + 500 + CONFIG.stallMs + 1)
  t.equal(m.lookFailedAt('x'), undefined)
  t.equal(m.counters.looksFailed, 0)
  t.same(sends(m.lastLook('x', 2000), 'x'), ['x: ping x'], 'and the next look goes out')
})

t.test('a live node told by a look refutes, and the looker takes its new alive', async (t) => {
  const a = holding()
  const x = new Membership({ id: 'x', incarnation: 1, addrs: ['/dns4/x.localhost/tcp/1'], meta: create(NodeMetaSchema, { name: 'x' }) }, CONFIG, seededRng('x'), 0)
  x.apply(update('a', 'alive', 1, 'a'), 'a', 0)
  const ping = a.lastLook('x', 1000).send[0]!
  const ack = x.receive('a', ping.body, 1010).send.find((s) => s.to === 'a')!
  const notice = a.receive('x', ack.body, 1020).send[0]!
  const refute = x.receive('a', notice.body, 1030)
  t.equal(refute.persistIncarnation, 2)
  a.apply(refute.publish[0]!.body.value as MemberUpdate, 'x', 1040)
  t.equal(a.member('x')?.state, 'alive', 'a holds x alive again')
  a.tick(1500)
  t.equal(a.lookFailedAt('x'), undefined)
})
