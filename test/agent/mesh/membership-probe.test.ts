// SWIM probing as the core does it: one ping per interval in shuffled round-robin, ping_req to k
// relays after the probe timeout, the relay's side (ping, ack back, nack on timeout), suspicion at
// the end of the period (published and sent to the suspect), Lifeguard's awareness and stalls.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import {
  AckSchema, MemberState, MemberUpdateSchema, NackSchema, NodeMetaSchema, PingReqSchema, PingSchema, type MemberUpdate,
} from '../../../proto/gen/shoal_pb.js'
import { seededRng } from '../../../agent/lib/rng.js'
import { DEFAULT_MEMBERSHIP_CONFIG, type MembershipConfig } from '../../../agent/mesh/membership/config.js'
import { Membership, type MemberEffects } from '../../../agent/mesh/membership/membership.js'
import type { Body, BodyCase, BodyOf } from '../../../agent/mesh/types.js'

const CONFIG: MembershipConfig = {
  ...DEFAULT_MEMBERSHIP_CONFIG,
  probeIntervalMs: 500, probeTimeoutMs: 200, indirectChecks: 3, suspicionMult: 4, suspicionMaxMult: 6, suspicionMinMs: 0, stallMs: 150,
}

function alive (node: string, incarnation = 1): MemberUpdate {
  return create(MemberUpdateSchema, {
    node, state: MemberState.ALIVE, incarnation, reporter: node, addrs: [`/dns4/${node}.localhost/tcp/1`], meta: create(NodeMetaSchema, { name: node }),
  })
}

/** `self` knowing `peers` alive at incarnation 1. */
function cluster (self: string, peers: string[], config = CONFIG, seed = self): Membership {
  const m = new Membership({ id: self, incarnation: 1, addrs: ['/ip4/127.0.0.1/tcp/1'], meta: create(NodeMetaSchema, { name: self }) }, config, seededRng(seed), 0)
  for (const p of peers) m.apply(alive(p), p, 0)
  return m
}

const peersOf = (n: number): string[] => Array.from({ length: n }, (_, i) => `p${i}`)

function bodies<C extends BodyCase> (fx: MemberEffects, c: C): Array<{ to: string, value: BodyOf<C> }> {
  const out: Array<{ to: string, value: BodyOf<C> }> = []
  for (const s of fx.send) if (s.body.case === c) out.push({ to: s.to, value: s.body.value as BodyOf<C> })
  return out
}

/** Start the next probe: tick at the wake time; returns the ping. */
function probe (m: Membership): { at: number, to: string, seq: number, fx: MemberEffects } {
  const at = m.nextWakeAt()
  const fx = m.tick(at)
  const pings = bodies(fx, 'ping')
  if (pings.length !== 1) throw new Error(`expected one ping at ${at}, got ${pings.length}`)
  return { at, to: pings[0]!.to, seq: pings[0]!.value.seq, fx }
}

/** Tick at every wake until `until`; `answer(to)` says whether a pinged target acks at once. */
function drive (m: Membership, until: number, answer: (to: string) => boolean): MemberEffects[] {
  const out: MemberEffects[] = []
  for (let at = m.nextWakeAt(); at <= until; at = m.nextWakeAt()) {
    const fx = m.tick(at)
    out.push(fx)
    for (const p of bodies(fx, 'ping')) if (answer(p.to)) out.push(m.receive(p.to, ack(p.value.seq, p.to), at))
  }
  return out
}

const ack = (seq: number, target: string): Body => ({ case: 'ack', value: create(AckSchema, { seq, target }) })
const nack = (seq: number, target: string): Body => ({ case: 'nack', value: create(NackSchema, { seq, target }) })

t.test('one ping per interval; each pass covers every peer once, reshuffled', async (t) => {
  const peers = peersOf(7)
  const m = cluster('a', peers)
  const order: string[] = []
  let last: number | undefined
  for (let i = 0; i < 4 * peers.length; i++) {
    const p = probe(m)
    if (last !== undefined) t.equal(p.at - last, 500, 'probes are one interval apart')
    last = p.at
    order.push(p.to)
    t.same(m.receive(p.to, ack(p.seq, p.to), p.at + 1), { send: [], publish: [], changes: [] }, 'an ack clears the probe')
    t.equal(m.nextWakeAt(), p.at + 500, 'nothing pending but the next probe')
  }
  const passes = [0, 1, 2, 3].map((k) => order.slice(k * 7, k * 7 + 7))
  for (const pass of passes) t.same([...pass].sort(), peers, 'a pass probes everyone exactly once')
  t.ok(new Set(passes.map((p) => p.join())).size > 1, 'passes are reshuffled')
  t.equal(m.counters.probes, 28)
  t.equal(m.counters.acked, 28)
  t.equal(m.healthScore, 0)
})

t.test('a newcomer is probed within the pass it joins or the next; dead members are skipped', async (t) => {
  // The rounds' own probes: the occasional ping to the dead is tested in membership-recovery.
  const m = cluster('a', peersOf(4), { ...CONFIG, deadProbeEvery: 0 })
  const p0 = probe(m)
  m.receive(p0.to, ack(p0.seq, p0.to), p0.at)
  m.apply(alive('new'), 'new', p0.at)
  m.apply(create(MemberUpdateSchema, { node: 'p3', state: MemberState.DEAD, incarnation: 1, reporter: 'z' }), 'z', p0.at)
  const seen: string[] = []
  for (let i = 0; i < 8; i++) {
    const p = probe(m)
    seen.push(p.to)
    m.receive(p.to, ack(p.seq, p.to), p.at)
  }
  t.ok(seen.includes('new'), 'the newcomer is probed')
  t.notOk(seen.includes('p3'), 'the dead one is not')
  t.notOk(seen.includes('a'), 'we never probe ourselves')
})

t.test('alone, nothing to probe; the schedule keeps going', async (t) => {
  const m = cluster('a', [])
  const at = m.nextWakeAt()
  t.same(m.tick(at).send, [])
  t.equal(m.nextWakeAt(), at + 500)
})

t.test('no direct ack by the probe timeout: ping_req to k distinct live relays', async (t) => {
  const m = cluster('a', peersOf(9))
  m.apply(create(MemberUpdateSchema, { node: 'p8', state: MemberState.SUSPECT, incarnation: 1, reporter: 'z' }), 'z', 0)
  const p = probe(m)
  t.equal(m.nextWakeAt(), p.at + 200, 'wake at the probe timeout')
  t.same(m.tick(p.at + 199).send, [], 'not before')
  const fx = m.tick(p.at + 200)
  const reqs = bodies(fx, 'pingReq')
  t.equal(reqs.length, 3, 'indirectChecks relays')
  t.equal(new Set(reqs.map((r) => r.to)).size, 3, 'distinct')
  for (const r of reqs) {
    t.not(r.to, p.to, 'not the target')
    t.not(r.to, 'p8', 'not a suspect')
    t.same([r.value.seq, r.value.target], [p.seq, p.to], 'carries the probe seq and target')
  }
  t.equal(m.nextWakeAt(), p.at + 500, 'then wake at the end of the period')
  // A relay's ack ends the probe: no suspicion, health improves.
  const relay = reqs[1]!.to
  t.same(m.receive(relay, ack(p.seq, p.to), p.at + 300).send, [])
  const end = m.tick(p.at + 500)
  t.same(end.publish, [], 'no suspicion')
  t.equal(m.member(p.to)!.state, 'alive')
  t.equal(m.counters.indirect, 1)
  t.equal(m.healthScore, 0)
})

t.test('an ack must match seq, target and a sender we asked', async (t) => {
  const m = cluster('a', peersOf(5))
  const p = probe(m)
  const other = p.to === 'p0' ? 'p1' : 'p0'
  m.receive(p.to, ack(p.seq + 1, p.to), p.at + 1)
  m.receive(p.to, ack(p.seq, other), p.at + 1)
  m.receive(other, ack(p.seq, p.to), p.at + 1)
  m.tick(p.at + 200)
  const end = m.tick(p.at + 500)
  t.equal(m.member(p.to)!.state, 'suspect', 'none of those counted')
  t.equal(end.publish.length, 1)
})

t.test('no ack by the end of the period: suspect, published and told to the suspect', async (t) => {
  for (const nacks of [0, 1, 3]) {
    const m = cluster('a', peersOf(9))
    const p = probe(m)
    const reqs = bodies(m.tick(p.at + 200), 'pingReq')
    for (const r of reqs.slice(0, nacks)) m.receive(r.to, nack(p.seq, p.to), p.at + 400)
    m.receive('p9-stranger', nack(p.seq, p.to), p.at + 400)
    const fx = m.tick(p.at + 500)
    const name = `${nacks} nacks`
    t.equal(m.member(p.to)!.state, 'suspect', name)
    t.same(fx.changes, [{ node: p.to, from: 'alive', to: 'suspect', incarnation: 1, reporter: 'a' }], `${name}: change`)
    t.equal(fx.publish.length, 1, `${name}: published once`)
    const pub = fx.publish[0]!
    t.equal(pub.topic, 'members')
    t.ok(pub.body.case === 'member' && pub.body.value.node === p.to && pub.body.value.state === MemberState.SUSPECT &&
      pub.body.value.incarnation === 1 && pub.body.value.reporter === 'a', `${name}: SUSPECT at the target's incarnation, by us`)
    const buddy = bodies(fx, 'member')
    t.same(buddy.map((b) => [b.to, b.value.state, b.value.incarnation]), [[p.to, MemberState.SUSPECT, 1]], `${name}: buddy system`)
    t.equal(m.healthScore, 3 - nacks, `${name}: each missing nack raises our score (Lifeguard)`)
    t.equal(bodies(fx, 'ping').length, 1, `${name}: and the next probe starts`)
    t.equal(m.counters.failed, 1)
  }
})

t.test('a probe that fails after the target refuted or died does not suspect', async (t) => {
  for (const [name, update] of [
    ['refuted', alive('x', 2)],
    ['died', create(MemberUpdateSchema, { node: 'x', state: MemberState.DEAD, incarnation: 1, reporter: 'z' })],
    ['left', create(MemberUpdateSchema, { node: 'x', state: MemberState.LEFT, incarnation: 1, reporter: 'x' })],
  ] as const) {
    const m = cluster('a', ['x'])
    const p = probe(m)
    m.apply(update, 'z', p.at + 100)
    m.tick(p.at + 200)
    const fx = m.tick(p.at + 500)
    t.same(fx.publish, [], `${name}: no suspicion`)
    t.not(m.member('x')!.state, 'suspect', name)
  }
})

t.test('probing a suspect also tells it of the suspicion (buddy system)', async (t) => {
  const m = cluster('a', ['x'])
  m.apply(create(MemberUpdateSchema, { node: 'x', state: MemberState.SUSPECT, incarnation: 1, reporter: 'z' }), 'z', 0)
  const p = probe(m)
  const buddy = bodies(p.fx, 'member')
  t.same(buddy.map((b) => [b.to, b.value.state, b.value.reporter]), [['x', MemberState.SUSPECT, 'a']])
})

t.test('our own failed probe of a suspect confirms it once', async (t) => {
  // awarenessMax 1: failures do not stretch the interval, so x comes round again soon.
  const m = cluster('a', ['x', 'y', 'z', 'w'], { ...CONFIG, awarenessMax: 1 })
  m.apply(create(MemberUpdateSchema, { node: 'x', state: MemberState.SUSPECT, incarnation: 1, reporter: 'z' }), 'z', 0)
  t.equal(m.suspicionDeadline('x'), 12_000, 'N 5: k 2, starts at max')
  let probesOfX = 0
  const ours = drive(m, 5600, (to) => {
    if (to === 'x') probesOfX++
    return to !== 'x'
  }).flatMap((fx) => fx.publish)
  t.ok(probesOfX >= 2, `x probed ${probesOfX} times`)
  t.equal(ours.length, 1, 'one confirmation, not one per failure')
  t.ok(ours[0]!.body.case === 'member' && ours[0]!.body.value.reporter === 'a' && ours[0]!.body.value.state === MemberState.SUSPECT)
  t.equal(m.suspicionDeadline('x'), 5690, 'the timer shrank to max − log 2 / log 3 × (max − min)')
})

t.test('relay: ping the target with our own seq, ack back to the requester', async (t) => {
  const m = cluster('a', ['b', 'c'])
  const req = create(PingReqSchema, { seq: 77, target: 'c' })
  const fx = m.receive('b', { case: 'pingReq', value: req }, 1000)
  const pings = bodies(fx, 'ping')
  t.equal(pings.length, 1)
  t.equal(pings[0]!.to, 'c')
  t.equal(pings[0]!.value.target, 'c')
  t.not(pings[0]!.value.seq, 77, 'our own seq')
  t.ok(m.nextWakeAt() <= 1200, 'wake for the relay timeout')
  t.same(m.receive('d', ack(pings[0]!.value.seq, 'c'), 1010).send, [], 'an ack from someone else is not the target\'s')
  const back = m.receive('c', ack(pings[0]!.value.seq, 'c'), 1010)
  t.same(bodies(back, 'ack').map((a) => [a.to, a.value.seq, a.value.target]), [['b', 77, 'c']])
  t.same(bodies(m.tick(1200), 'nack'), [], 'answered: no nack later')
  t.equal(m.counters.relayed, 1)
})

t.test('relay: no ack from the target by the probe timeout → nack to the requester', async (t) => {
  const m = cluster('a', ['b', 'c'])
  m.receive('b', { case: 'pingReq', value: create(PingReqSchema, { seq: 5, target: 'c' }) }, 1000)
  t.same(bodies(m.tick(1199), 'nack'), [])
  const fx = m.tick(1200)
  t.same(bodies(fx, 'nack').map((n) => [n.to, n.value.seq, n.value.target]), [['b', 5, 'c']])
  t.same(bodies(m.receive('c', ack(1, 'c'), 1300), 'ack'), [], 'a late ack goes nowhere')
})

t.test('relay: bounded; nonsense requests ignored', async (t) => {
  const m = cluster('a', ['b', 'c'], { ...CONFIG, maxRelays: 2 })
  const req = (target: string, seq: number): Body => ({ case: 'pingReq', value: create(PingReqSchema, { seq, target }) })
  t.equal(bodies(m.receive('b', req('c', 1), 0), 'ping').length, 1)
  t.equal(bodies(m.receive('b', req('d', 2), 0), 'ping').length, 1)
  t.same(m.receive('b', req('e', 3), 0).send, [], 'over maxRelays: dropped')
  t.equal(m.counters.relaysDropped, 1)
  t.same(m.receive('b', req('a', 4), 0).send, [], 'ping ourselves: no')
  t.same(m.receive('b', req('b', 5), 0).send, [], 'the requester itself: no')
  t.same(m.receive('b', req('', 6), 0).send, [], 'no target: no')
})

t.test('pings are answered with our own ack; pings for someone else are not', async (t) => {
  const m = cluster('a', ['b'])
  const fx = m.receive('b', { case: 'ping', value: create(PingSchema, { seq: 9, target: 'a' }) }, 0)
  t.same(bodies(fx, 'ack').map((a) => [a.to, a.value.seq, a.value.target]), [['b', 9, 'a']])
  t.same(m.receive('b', { case: 'ping', value: create(PingSchema, { seq: 9, target: 'z' }) }, 0).send, [], 'stale address')
  m.leave(1)
  t.equal(bodies(m.receive('b', { case: 'ping', value: create(PingSchema, { seq: 10, target: 'a' }) }, 2), 'ack').length, 1, 'still answered while leaving')
  t.same(m.receive('b', { case: 'health', value: {} as never }, 3), { send: [], publish: [], changes: [] }, 'other bodies: nothing')
})

t.test('awareness: failed probes stretch the interval, successes shrink it, bounded', async (t) => {
  const m = cluster('a', ['x'], { ...CONFIG, awarenessMax: 4 })
  let inc = 1
  const starts: number[] = []
  const scores: number[] = []
  while (starts.length < 7) {
    const at = m.nextWakeAt()
    const fx = m.tick(at)
    // x refutes every suspicion so it stays probe-able.
    if (m.member('x')!.state === 'suspect') m.apply(alive('x', ++inc), 'x', at)
    if (bodies(fx, 'ping').length === 1) {
      starts.push(at)
      scores.push(m.healthScore)
    }
  }
  t.same(scores, [0, 1, 2, 3, 3, 3, 3], 'no relay to nack: +1 per failure, capped at awarenessMax − 1')
  t.same(starts.slice(1).map((s, i) => s - starts[i]!), [500, 1000, 1500, 2000, 2000, 2000], 'a probe period is interval × (score + 1)')
  t.equal(m.nextWakeAt() - starts.at(-1)!, 800, 'and so is the probe timeout')
  m.tick(m.nextWakeAt())
  const down: number[] = []
  for (let i = 0; i < 5; i++) {
    const at = m.nextWakeAt()
    const fx = m.tick(at)
    if (m.member('x')!.state === 'suspect') m.apply(alive('x', ++inc), 'x', at)
    const ping = bodies(fx, 'ping')[0]!
    m.receive('x', ack(ping.value.seq, 'x'), at + 1)
    down.push(m.healthScore)
  }
  t.same(down, [2, 1, 0, 0, 0], 'each ack: −1, floor 0')
})

t.test('missing nacks count against us, received nacks do not', async (t) => {
  const m = cluster('a', ['x', 'y', 'z'])
  const p = probe(m)
  const reqs = bodies(m.tick(p.at + 200), 'pingReq')
  t.equal(reqs.length, 2, 'two others to ask')
  m.receive(reqs[0]!.to, nack(p.seq, p.to), p.at + 450)
  const fx = m.tick(p.at + 500)
  t.equal(m.healthScore, 1, 'one relay stayed silent')
  t.equal(bodies(fx, 'ping').length, 1, 'the next probe starts in the same tick')
  t.equal(m.nextWakeAt(), p.at + 500 + 400, 'with its timeout scaled by 2')
})

t.test('a stall across a probe makes it inconclusive: no suspicion, score +1', async (t) => {
  const m = cluster('a', ['x'])
  const p = probe(m)
  const fx = m.tick(p.at + 500 + 151)
  t.same(fx.publish, [], 'no suspicion')
  t.equal(m.member('x')!.state, 'alive')
  t.equal(m.counters.inconclusive, 1)
  t.equal(m.healthScore, 1)
  // The next probe started in that tick, with score 1: timeout 400, period 1000.
  t.equal(bodies(fx, 'ping').length, 1)
  const q = p.at + 651
  m.tick(q + 400 + 150)
  m.tick(q + 1000 + 150)
  t.equal(m.member('x')!.state, 'suspect', 'late by exactly stallMs: still a verdict')
})

t.test('time never goes back', async (t) => {
  const m = cluster('a', ['x'])
  m.tick(100)
  t.throws(() => m.tick(99), { name: 'AssertionError' })
})

t.test('steady state sends O(1): one ping per interval, no gossip', async (t) => {
  for (const n of [5, 50, 500]) {
    const m = cluster('a', peersOf(n))
    let sent = 0
    let published = 0
    for (let i = 0; i < 200; i++) {
      const p = probe(m)
      sent += p.fx.send.length
      published += p.fx.publish.length
      const r = m.receive(p.to, ack(p.seq, p.to), p.at + 1)
      sent += r.send.length
      // And answer one ping from someone else.
      sent += m.receive(p.to, { case: 'ping', value: create(PingSchema, { seq: i, target: 'a' }) }, p.at + 2).send.length
    }
    t.equal(sent, 400, `${n} peers: 2 messages per interval`)
    t.equal(published, 0, `${n} peers: nothing published`)
  }
})
