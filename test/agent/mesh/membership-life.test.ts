// A member's life on one node: suspicion timers (Lifeguard confirmations, expiry, the floor, the
// stall grace), refutation between two nodes, a restart beating its old death, join / setSelf /
// leave, tombstones and the member limit, and push-pull's updateFor.
import t from 'tap'
import { update } from './fixtures/members.js'
import { create } from '@bufbuild/protobuf'
import { AckSchema, MemberState, NodeMetaSchema, type MemberUpdate } from '../../../proto/gen/shoal_pb.js'
import { seededRng } from '../../../agent/lib/rng.js'
import { DEFAULT_MEMBERSHIP_CONFIG, type MembershipConfig } from '../../../agent/mesh/membership/config.js'
import { Membership, type MemberEffects } from '../../../agent/mesh/membership/membership.js'

const CONFIG: MembershipConfig = {
  ...DEFAULT_MEMBERSHIP_CONFIG,
  probeIntervalMs: 500, probeTimeoutMs: 200, indirectChecks: 3, suspicionMult: 4, suspicionMaxMult: 6, suspicionMinMs: 0, stallMs: 150,
}



function make (id: string, incarnation = 1, config = CONFIG, now = 0): Membership {
  return new Membership({ id, incarnation, addrs: [`/dns4/${id}.localhost/tcp/1`], meta: create(NodeMetaSchema, { name: id }) }, config, seededRng(id), now)
}

function cluster (self: string, peers: string[], config = CONFIG): Membership {
  const m = make(self, 1, config)
  for (const p of peers) m.apply(update(p, 'alive', 1, p), p, 0)
  return m
}

const peersOf = (n: number): string[] => Array.from({ length: n }, (_, i) => `p${i}`)

function memberPublishes (fx: MemberEffects): Array<[string, MemberState, number, string]> {
  return fx.publish.flatMap((p) => p.body.case === 'member' ? [[p.body.value.node, p.body.value.state, p.body.value.incarnation, p.body.value.reporter] as [string, MemberState, number, string]] : [])
}

t.test('a heard suspicion: starts at max, shrinks per distinct reporter, verified, dies quietly', async (t) => {
  // N = 10 live (us, x and 8 others): min 2 s, max 12 s, k 2.
  const m = cluster('a', ['x', ...peersOf(8)])
  t.equal(m.liveCount(), 10)
  const fx0 = m.apply(update('x', 'suspect', 1, 'r1'), 'r1', 1000)
  t.same(fx0.changes, [{ node: 'x', from: 'alive', to: 'suspect', incarnation: 1, reporter: 'r1' }])
  t.same(fx0.publish, [], 'a suspicion we only heard is not ours to publish')
  t.equal(m.suspicionDeadline('x'), 13_000)
  const steps: Array<[string, number]> = [['r1', 13_000], ['r2', 1000 + 5690], ['r2', 1000 + 5690], ['r3', 3000], ['r4', 3000]]
  for (const [reporter, deadline] of steps) {
    const fx = m.apply(update('x', 'suspect', 1, reporter), reporter, 1500)
    t.same([fx.changes, fx.publish], [[], []], `${reporter}: no change, nothing published`)
    t.equal(m.suspicionDeadline('x'), deadline, `${reporter} → deadline ${deadline}`)
  }
  t.ok(m.nextWakeAt() <= 3000, 'wakes for the suspicion')
  m.tick(2999)
  const expiry = m.tick(3000)
  t.equal(m.member('x')!.state, 'suspect', 'run out: not dead yet')
  // The verification's sends come last in a tick (after any round probe started by the same tick).
  const look = expiry.send.filter((s) => s.to === 'x').slice(-2)
  t.same(look.map((s) => s.body.case), ['ping', 'member'], 'one more ping, with the suspicion attached for the suspect to refute')
  const seq = look[0]!.body.case === 'ping' ? look[0]!.body.value.seq : -1
  t.ok(m.nextWakeAt() <= 3200, 'wakes for the verification\'s probe timeout')
  const relays = m.tick(3200).send.filter((s) => s.body.case === 'pingReq' && s.body.value.seq === seq)
  t.equal(relays.length, 3, 'and its indirect round')
  const fx = m.tick(3500)
  t.equal(m.member('x')!.state, 'dead', 'no answer by the end of the period: dead')
  t.same(fx.changes.filter((c) => c.node === 'x'), [{ node: 'x', from: 'suspect', to: 'dead', incarnation: 1, reporter: 'a' }])
  t.same(memberPublishes(fx), [], 'not a reporter: every node runs its own timer, so no DEAD from us')
  t.equal(m.counters.declaredDead, 1)
  t.equal(m.suspicionDeadline('x'), undefined)
  t.equal(m.liveCount(), 9)
})

t.test('an expired suspicion whose suspect answers is re-armed, and its alive clears it', async (t) => {
  const m = cluster('a', ['x', 'y'])
  m.apply(update('x', 'suspect', 1, 'y'), 'y', 0)
  const due = m.suspicionDeadline('x')!
  const fx = m.tick(due)
  const ping = fx.send.filter((s) => s.to === 'x' && s.body.case === 'ping').at(-1)
  t.ok(ping !== undefined && ping.body.case === 'ping')
  if (ping?.body.case !== 'ping') return
  m.receive('x', { case: 'ack', value: create(AckSchema, { seq: ping.body.value.seq, target: 'x' }) }, due + 5)
  t.equal(m.member('x')!.state, 'suspect', 'an ack does not carry an incarnation: still suspect')
  t.equal(m.suspicionDeadline('x'), due + 5 + 2000, 're-armed for min')
  t.equal(m.counters.verifiedAlive, 1)
  const alive = m.apply(update('x', 'alive', 2, 'x'), 'x', due + 10)
  t.same(alive.changes.map((c) => [c.from, c.to]), [['suspect', 'alive']])
  m.tick(due + 5000)
  t.equal(m.member('x')!.state, 'alive')
})

t.test('a suspect that never heard of its suspicion refutes the verification', async (t) => {
  const x = cluster('x', ['a', 'y'])
  const a = cluster('a', ['x', 'y'])
  a.apply(update('x', 'suspect', 1, 'y'), 'y', 0)
  const fx = a.tick(a.suspicionDeadline('x')!)
  const buddy = fx.send.find((s) => s.to === 'x' && s.body.case === 'member')
  t.ok(buddy !== undefined)
  if (buddy === undefined) return
  const refute = x.receive('a', buddy.body, 10)
  t.equal(refute.persistIncarnation, 2)
  t.equal(refute.publish.length, 1, 'x publishes alive 2')
})

t.test('our own suspicion expires into a DEAD we publish', async (t) => {
  // Two nodes: k 0, so min from the start: 4 × 1 × 500 = 2 s.
  const m = cluster('a', ['x'])
  let suspectedAt = -1
  for (let i = 0; i < 20 && suspectedAt < 0; i++) {
    const at = m.nextWakeAt()
    const fx = m.tick(at)
    if (memberPublishes(fx).some(([node, state]) => node === 'x' && state === MemberState.SUSPECT)) suspectedAt = at
  }
  t.ok(suspectedAt > 0, `x suspected at ${suspectedAt}`)
  t.equal(m.suspicionDeadline('x'), suspectedAt + 2000)
  let dead: MemberEffects | undefined
  while (dead === undefined) {
    const fx = m.tick(m.nextWakeAt())
    if (m.member('x')!.state === 'dead') dead = fx
  }
  t.same(memberPublishes(dead), [['x', MemberState.DEAD, 1, 'a']], 'DEAD at the suspected incarnation, by us')
  // Round probes skip the dead; only the dead probe pings it, once per deadProbeEvery rounds.
  const every = CONFIG.deadProbeEvery
  const sends = []
  for (let i = 0; i < 2 * every; i++) sends.push(...m.tick(m.nextWakeAt()).send)
  t.same(sends.map((s) => `${s.body.case} ${s.to}`), ['ping x', 'ping x'], `two pings in ${2 * every} rounds, nothing else`)
})

t.test('the suspicion floor: a 3-node fleet does not kill a peer within a second', async (t) => {
  const config = { ...CONFIG, probeIntervalMs: 250, probeTimeoutMs: 100, suspicionMinMs: 2000 }
  const m = cluster('a', ['x', 'y'], config)
  m.apply(update('x', 'suspect', 1, 'y'), 'y', 100)
  t.equal(m.suspicionDeadline('x'), 2100, 'max(2 s, 4 × 1 × 250 ms), k 0 with one other')
  const bare = cluster('a', ['x', 'y'], { ...config, suspicionMinMs: 0 })
  bare.apply(update('x', 'suspect', 1, 'y'), 'y', 100)
  t.equal(bare.suspicionDeadline('x'), 1100, 'without the floor: memberlist\'s 1 s')
})

t.test('a verification that spans our own stall re-arms instead of killing', async (t) => {
  const m = cluster('a', ['x', 'y'])
  m.apply(update('x', 'suspect', 1, 'y'), 'y', 0)
  const due = m.suspicionDeadline('x')!
  m.tick(due)
  m.tick(due + 500 + 1000)
  t.equal(m.member('x')!.state, 'suspect', 'the verification timed out during a stall: no verdict')
  t.ok(m.counters.inconclusive >= 1)
  t.ok(m.suspicionDeadline('x')! > due + 1500, 're-armed')
  // Later, with no stall and no answer, it dies.
  for (let i = 0; i < 40 && m.member('x')!.state === 'suspect'; i++) m.tick(m.nextWakeAt())
  t.equal(m.member('x')!.state, 'dead')
})

t.test('when too many suspicions run out at once, the excess dies unverified', async (t) => {
  const m = cluster('a', ['x', 'y', 'z', 'w'], { ...CONFIG, maxVerifications: 1 })
  m.apply(update('x', 'suspect', 1, 'w'), 'w', 0)
  m.apply(update('y', 'suspect', 1, 'w'), 'w', 0)
  const fx = m.tick(m.suspicionDeadline('x')!)
  t.same(fx.changes.map((c) => [c.node, c.to]), [['y', 'dead']], 'x is being verified, y could not be')
  t.equal(m.member('x')!.state, 'suspect')
})

t.test('refutation between two nodes: suspect → alive at a new incarnation', async (t) => {
  const a = cluster('a', ['b'])
  const b = cluster('b', ['a'])
  // a's probes of b go unanswered until a suspects b.
  let suspicion: MemberUpdate | undefined
  let buddy: MemberUpdate | undefined
  while (suspicion === undefined) {
    const fx = a.tick(a.nextWakeAt())
    for (const p of fx.publish) if (p.body.case === 'member' && p.body.value.state === MemberState.SUSPECT) suspicion = p.body.value
    for (const s of fx.send) if (s.body.case === 'member' && s.to === 'b') buddy = s.body.value
  }
  t.ok(buddy !== undefined, 'the suspect heard it directly too')
  const now = a.nextWakeAt()
  const fx = b.receive('a', { case: 'member', value: buddy! }, now)
  t.equal(fx.persistIncarnation, 2, 'persist first')
  t.equal(b.incarnation, 2)
  const alive = fx.publish[0]!.body
  t.ok(alive.case === 'member' && alive.value.state === MemberState.ALIVE && alive.value.incarnation === 2)
  if (alive.case !== 'member') return
  const back = a.apply(alive.value, 'b', now)
  t.same(back.changes, [{ node: 'b', from: 'suspect', to: 'alive', incarnation: 2, reporter: 'b' }])
  t.equal(a.suspicionDeadline('b'), undefined, 'the timer is gone')
  t.same(b.apply(suspicion!, 'a', now).publish, [], 'the same accusation again (gossip copy) is stale now')
})

t.test('a restart with the persisted incarnation + 1 beats its old death', async (t) => {
  const a = cluster('a', [])
  a.apply(update('b', 'alive', 3, 'b'), 'b', 0)
  a.apply(update('b', 'dead', 3, 'c'), 'c', 10)
  t.same(a.apply(update('b', 'alive', 3, 'b'), 'b', 20).changes, [], 'a late alive of the old life cannot resurrect it')
  const b = make('b', 4, CONFIG, 30) // persisted 3, so 4
  const join = b.join(30)
  t.equal(join.persistIncarnation, 4)
  t.same(join.changes, [{ node: 'b', from: undefined, to: 'alive', incarnation: 4, reporter: 'b' }], 'joined: the fleet view lists us')
  const body = join.publish[0]!.body
  t.ok(body.case === 'member' && body.value.incarnation === 4 && body.value.meta?.name === 'b')
  if (body.case !== 'member') return
  t.same(a.apply(body.value, 'b', 40).changes, [{ node: 'b', from: 'dead', to: 'alive', incarnation: 4, reporter: 'b' }])
  t.same(a.member('b')!.addrs, ['/dns4/b.localhost/tcp/1'])
  t.same(b.join(50).changes, [], 'join again: announces, no new change')
})

t.test('leave: LEFT at our incarnation; no probing afterwards; join again at a new incarnation', async (t) => {
  const b = cluster('b', ['a', 'c'])
  const fx = b.leave(100)
  t.same(memberPublishes(fx), [['b', MemberState.LEFT, 1, 'b']])
  t.same(fx.changes, [{ node: 'b', from: 'alive', to: 'left', incarnation: 1, reporter: 'b' }])
  t.same(b.leave(101), { send: [], publish: [], changes: [] }, 'twice: nothing')
  t.equal(b.liveCount(), 2, 'we no longer count ourselves')
  t.equal(b.nextWakeAt(), Infinity, 'nothing to wake for')
  t.same(b.tick(150).send, [])
  t.equal(b.member('b')!.state, 'left', 'our own record stays (never reaped)')
  const a = cluster('a', ['b'])
  const body = fx.publish[0]!.body
  if (body.case === 'member') t.same(a.apply(body.value, 'b', 100).changes, [{ node: 'b', from: 'alive', to: 'left', incarnation: 1, reporter: 'b' }])
  const again = b.join(200)
  t.equal(again.persistIncarnation, 2)
  t.same(again.changes, [{ node: 'b', from: 'left', to: 'alive', incarnation: 2, reporter: 'b' }])
  const back = again.publish[0]!.body
  if (back.case === 'member') t.same(a.apply(back.value, 'b', 200).changes.map((c) => c.to), ['alive'], 'alive 2 beats left 1')
  t.ok(b.nextWakeAt() < Infinity, 'probing again')
})

t.test('setSelf: new addrs and meta at a new incarnation, persisted first', async (t) => {
  const m = cluster('a', ['b'])
  const fx = m.setSelf(['/ip4/127.0.0.1/tcp/9'], create(NodeMetaSchema, { name: 'a', pool: 'h100' }), 10)
  t.equal(fx.persistIncarnation, 2)
  t.equal(m.incarnation, 2)
  const body = fx.publish[0]!.body
  t.ok(body.case === 'member' && body.value.incarnation === 2 && body.value.meta?.pool === 'h100' && body.value.addrs[0] === '/ip4/127.0.0.1/tcp/9')
  t.same(fx.changes, [{ node: 'a', from: 'alive', to: 'alive', incarnation: 2, reporter: 'a' }])
  t.equal(m.member('a')!.meta?.pool, 'h100')
  const many = Array.from({ length: 40 }, (_, i) => `/ip4/127.0.0.1/tcp/${i}`)
  const fx2 = m.setSelf(many, create(NodeMetaSchema, { name: 'a' }), 20)
  const b2 = fx2.publish[0]!.body
  t.ok(b2.case === 'member' && b2.value.addrs.length === CONFIG.maxAddrs, 'trimmed to what peers accept')
})

t.test('tombstones are reaped after deadRetentionMs, the newest death counting', async (t) => {
  const config = { ...CONFIG, deadRetentionMs: 60_000 }
  const m = cluster('a', ['x', 'y'], config)
  m.apply(update('x', 'dead', 1, 'r'), 'r', 1000)
  m.apply(update('y', 'left', 1, 'y'), 'y', 2000)
  m.apply(update('y', 'alive', 2, 'y'), 'y', 3000)
  m.apply(update('y', 'dead', 2, 'r'), 'r', 30_000)
  t.ok(m.nextWakeAt() <= 61_000)
  m.tick(60_999)
  t.ok(m.member('x'), 'x kept until its time')
  m.tick(61_000)
  t.equal(m.member('x'), undefined, 'x reaped')
  m.tick(62_000)
  t.equal(m.member('y')!.state, 'dead', 'y died again later: its first tombstone does not reap it')
  m.tick(90_000)
  t.equal(m.member('y'), undefined)
  t.same([...m.members()].map((r) => r.id), ['a'])
  t.same(m.apply(update('x', 'alive', 1, 'x'), 'x', 90_001).changes.map((c) => [c.from, c.to]), [[undefined, 'alive']], 'after reaping it is a stranger')
})

t.test('maxMembers: the oldest tombstone makes room; without one, strangers are ignored', async (t) => {
  const config = { ...CONFIG, maxMembers: 4 }
  const m = cluster('a', ['b', 'c', 'd'], config)
  t.same(m.apply(update('e', 'alive', 1, 'e'), 'e', 10).changes, [], 'full')
  t.equal(m.member('e'), undefined)
  t.equal(m.counters.ignored, 1)
  t.same(m.apply(update('d', 'alive', 2, 'd'), 'd', 10).changes.length, 1, 'known members still update when full')
  m.apply(update('b', 'dead', 1, 'r'), 'r', 20)
  m.apply(update('c', 'dead', 1, 'r'), 'r', 30)
  t.same(m.apply(update('e', 'alive', 1, 'e'), 'e', 40).changes.map((c) => [c.node, c.to]), [['e', 'alive']])
  t.equal(m.member('b'), undefined, 'b, the oldest tombstone, was evicted')
  t.ok(m.member('c'))
  t.equal([...m.members()].length, 4)
})

t.test('updateFor: our knowledge round-trips into another node', async (t) => {
  const a = cluster('a', ['x', 'y', 'z'])
  a.apply(update('y', 'suspect', 1, 'x'), 'x', 0)
  a.apply(update('z', 'dead', 1, 'x'), 'x', 0)
  const fresh = make('f')
  for (const r of [...a.members()]) fresh.apply(a.updateFor(r.id)!, 'a', 5)
  const view = (m: Membership): string[] => [...m.members()].filter((r) => r.id !== 'f').map((r) => `${r.id}:${r.state}:${r.incarnation}:${r.reporter}:${r.meta?.name ?? '-'}`).sort()
  t.same(view(fresh), view(a), 'same states, incarnations, reporters and meta')
  t.equal(fresh.member('y')!.addrs.length, 1, 'a suspect carries what we knew of its addresses')
  t.equal(a.updateFor('nobody'), undefined)
  t.equal(a.updateFor('a')!.state, MemberState.ALIVE)
  t.same(memberPublishes(fresh.apply(a.updateFor('a')!, 'a', 6)), [], 'repair never re-publishes')
})

t.test('liveCount: alive and suspect, ourselves included', async (t) => {
  const m = cluster('a', ['b', 'c', 'd', 'e'])
  t.equal(m.liveCount(), 5)
  m.apply(update('b', 'suspect', 1, 'c'), 'c', 0)
  t.equal(m.liveCount(), 5)
  m.apply(update('c', 'dead', 1, 'b'), 'b', 0)
  m.apply(update('d', 'left', 1, 'd'), 'd', 0)
  t.equal(m.liveCount(), 3)
  m.apply(update('c', 'alive', 2, 'c'), 'c', 0)
  t.equal(m.liveCount(), 4)
  m.apply(update('u', 'dead', 1, 'b'), 'b', 0)
  t.equal(m.liveCount(), 4, 'an unknown node recorded dead does not count')
})

t.test('nextWakeAt: the earliest of probe, relay, suspicion and reaping', async (t) => {
  const m = cluster('a', ['b'], { ...CONFIG, deadRetentionMs: 60_000 })
  const first = m.nextWakeAt()
  t.ok(first >= 0 && first < 500, 'first probe within one interval (jittered)')
  m.apply(update('z', 'dead', 1, 'b'), 'b', 0)
  m.apply(update('y', 'suspect', 1, 'b'), 'b', 0)
  t.equal(m.nextWakeAt(), first)
  m.tick(first)
  t.equal(m.nextWakeAt(), first + 200, 'the probe timeout')
})

t.test('a flapping node and a flood of confirmations stay bounded', async (t) => {
  const config = { ...CONFIG, maxMembers: 8, suspicionMult: 40, deadRetentionMs: 600_000 }
  const m = cluster('a', ['x', 'y', 'z'], config)
  for (let inc = 1; inc < 200; inc++) {
    m.apply(update('x', 'dead', inc, 'y'), 'y', inc)
    m.apply(update('x', 'alive', inc + 1, 'x'), 'x', inc)
  }
  t.equal(m.member('x')!.state, 'alive')
  for (let inc = 1; inc < 100; inc++) {
    m.apply(update('y', 'suspect', inc, 'r0'), 'r0', 1000)
    for (let r = 1; r < 40; r++) m.apply(update('y', 'suspect', inc, `r${r}`), `r${r}`, 1000)
  }
  t.equal(m.member('y')!.state, 'suspect')
  t.equal([...m.members()].length, 4)
  m.tick(700_000)
  t.equal(m.member('y')!.state, 'suspect', 'k = 38 confirmations: min, then a verification is out')
})
