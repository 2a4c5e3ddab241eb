// Every rule of the election core, one at a time, on a single Election fed by hand: stale terms,
// one vote per term persisted with its reply, lease stickiness, the epoch check, majorities of
// 1, 3 and 5, lease expiry with drift and margin, founding, restart, observers and announcements.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import {
  CoordinatorAnnounceSchema, CouncilSchema, LeaseAckSchema, LeaseRenewSchema, VoteReplySchema, VoteRequestSchema,
  type CoordinatorAnnounce, type LeaseAck, type LeaseRenew, type VoteReply,
} from '../../../proto/gen/shoal_pb.js'
import { seededRng } from '../../../agent/lib/rng.js'
import {
  DEFAULT_ELECTION_CONFIG, Election, leaseUntilMs, type ElectionConfig, type ElectionEffects, type ElectionState,
} from '../../../agent/mesh/election/election.js'
import type { Body, NodeId } from '../../../agent/mesh/types.js'

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0]

const C = DEFAULT_ELECTION_CONFIG
const FIVE = ['a', 'b', 'c', 'd', 'e']
/** A restarted node refuses every vote for one lease; rules are exercised after that. */
const T0 = C.leaseMs

const council = (epoch: number, members: readonly string[]) => create(CouncilSchema, { epoch, members: [...members] })
const voteRequest = (term: number, candidate: string, epoch: number): Body =>
  ({ case: 'voteRequest', value: create(VoteRequestSchema, { term, candidate, epoch }) })
const voteReply = (term: number, voter: string, granted: boolean, epoch = 1): Body =>
  ({ case: 'voteReply', value: create(VoteReplySchema, { term, voter, granted, epoch }) })
const renew = (term: number, coordinator: string, leaseSeq: number, members: readonly string[], epoch = 1,
  proposed?: { epoch: number, members: readonly string[] }): Body =>
  ({
    case: 'leaseRenew',
    value: create(LeaseRenewSchema, {
      term, coordinator, leaseSeq, council: council(epoch, members),
      proposed: proposed === undefined ? undefined : council(proposed.epoch, proposed.members),
    }),
  })
const ack = (term: number, voter: string, leaseSeq: number, epoch = 1, granted = true): Body =>
  ({ case: 'leaseAck', value: create(LeaseAckSchema, { term, voter, leaseSeq, granted, epoch }) })
const announcement = (term: number, coordinator: string, members: readonly string[], epoch = 1): CoordinatorAnnounce =>
  create(CoordinatorAnnounceSchema, { term, coordinator, council: council(epoch, members), timeMs: 0 })

function make (self: NodeId, persisted: ElectionState | null, o: { found?: boolean, eligible?: boolean, config?: ElectionConfig, now?: number } = {}): Election {
  return new Election(self, { eligible: o.eligible ?? true, found: o.found ?? false }, o.config ?? C, persisted, seededRng(`rules-${self}`), o.now ?? 0)
}

function voter (self = 'b', term = 5, members: readonly string[] = FIVE, epoch = 1, votedFor: string | null = null): Election {
  return make(self, { term, votedFor, council: { epoch, members: [...members] } })
}

const replies = (e: ElectionEffects): VoteReply[] =>
  e.send.flatMap((s) => s.body.case === 'voteReply' ? [s.body.value] : [])
const acks = (e: ElectionEffects): LeaseAck[] =>
  e.send.flatMap((s) => s.body.case === 'leaseAck' ? [s.body.value] : [])
const renews = (e: ElectionEffects): Array<{ to: string, renew: LeaseRenew }> =>
  e.send.flatMap((s) => s.body.case === 'leaseRenew' ? [{ to: s.to, renew: s.body.value }] : [])
const requests = (e: ElectionEffects): string[] =>
  e.send.flatMap((s) => s.body.case === 'voteRequest' ? [s.to] : []).sort()
const kinds = (e: ElectionEffects): string[] => e.events.map((ev) => ev.kind)

/** A node of `members` that has stood and won; returns it and when it sent its vote requests. */
function elected (members: readonly string[], self = 'a', term = 5): { e: Election, s: number } {
  const e = make(self, { term, votedFor: null, council: { epoch: 1, members: [...members] } })
  const s = e.nextWakeAt()
  t.ok(s >= C.electionTimeoutMinMs && s <= C.electionTimeoutMaxMs, 'a restarted voter stands only after an election timeout')
  e.tick(s)
  for (const m of members.filter((m) => m !== self)) e.receive(m, voteReply(term + 1, m, true), s + 1)
  t.equal(e.status(s + 1).role, 'coordinator')
  return { e, s }
}

t.test('stale terms are refused: vote requests, renews, announcements, observed terms', async (t) => {
  const rows: Array<{ name: string, run: (e: Election) => ElectionEffects, check: (t: TapTest, fx: ElectionEffects, e: Election) => void }> = [
    {
      name: 'vote request from term 4 at term 5',
      run: (e) => e.receive('c', voteRequest(4, 'c', 1), T0),
      check: (t, fx) => { t.same(replies(fx).map((r) => [r.term, r.granted]), [[5, false]]) },
    },
    {
      name: 'renew from term 4 at term 5: refused with our term, no promise, no coordinator',
      run: (e) => e.receive('c', renew(4, 'c', 1, FIVE), T0),
      check: (t, fx, e) => {
        t.same(acks(fx).map((a) => [a.term, a.granted]), [[5, false]])
        t.equal(e.status(T0).coordinator, undefined)
      },
    },
    {
      name: 'announcement from term 4 at term 5: ignored',
      run: (e) => e.announce('c', announcement(4, 'c', FIVE), T0),
      check: (t, fx, e) => { t.same(fx.send, []); t.equal(e.status(T0).coordinator, undefined); t.equal(e.announcement(), undefined) },
    },
    {
      name: 'observeTerm(4) at term 5: nothing',
      run: (e) => e.observeTerm(4, T0),
      check: (t, fx) => { t.same(fx.events, []) },
    },
    {
      name: 'observeTerm(5) at term 5: nothing',
      run: (e) => e.observeTerm(5, T0),
      check: (t, fx) => { t.same(fx.events, []) },
    },
  ]
  for (const row of rows) {
    const e = voter()
    const fx = row.run(e)
    t.equal(fx.persist, undefined, `${row.name}: nothing persisted`)
    t.equal(e.term, 5, `${row.name}: term unchanged`)
    row.check(t, fx, e)
  }
})

t.test('a higher term is adopted and persisted, with no vote in it yet', async (t) => {
  const e = voter('b', 5, FIVE, 1, 'c')
  const fx = e.observeTerm(9, T0)
  t.same(fx.persist, { term: 9, votedFor: null, council: { epoch: 1, members: FIVE } })
  t.same(kinds(fx), ['term'])
  t.equal(e.term, 9)
  t.equal(e.observeTerm(Number.NaN, T0).persist, undefined, 'a malformed term is ignored')
})

t.test('one vote per term, persisted in the same effects as the reply that grants it', async (t) => {
  const e = voter()
  const first = e.receive('c', voteRequest(6, 'c', 1), T0)
  t.same(replies(first).map((r) => [r.term, r.voter, r.granted]), [[6, 'b', true]])
  t.same(first.persist, { term: 6, votedFor: 'c', council: { epoch: 1, members: FIVE } }, 'the vote is durable before the reply leaves')
  // Another candidate in the same term, after the promise the vote carried has run out.
  const later = T0 + C.leaseMs
  const second = e.receive('d', voteRequest(6, 'd', 1), later)
  t.same(replies(second).map((r) => r.granted), [false])
  t.equal(second.persist, undefined)
  const again = e.receive('c', voteRequest(6, 'c', 1), later)
  t.same(replies(again).map((r) => r.granted), [true], 'a repeated request from the same candidate is granted again')
  // The repeated grant renewed the promise to c: d waits for it to run out.
  t.same(replies(e.receive('d', voteRequest(7, 'd', 1), later + C.leaseMs - 1)).map((r) => r.granted), [false])
  const next = e.receive('d', voteRequest(7, 'd', 1), later + C.leaseMs)
  t.same(replies(next).map((r) => [r.term, r.granted]), [[7, true]], 'a new term, a new vote')
  t.same(next.persist?.votedFor, 'd')
})

t.test('a granted reply never leaves without its persisted vote (every path that grants)', async (t) => {
  for (const [name, e, req] of [
    ['fresh term', voter(), voteRequest(6, 'c', 1)],
    ['same term, no vote yet', voter('b', 6), voteRequest(6, 'c', 1)],
    ['newer epoch', voter(), voteRequest(6, 'c', 1005)],
  ] as const) {
    const fx = e.receive('c', req, T0)
    t.same(replies(fx).map((r) => r.granted), [true], name)
    t.equal(fx.persist?.votedFor, 'c', `${name}: votedFor persisted`)
    t.equal(fx.persist?.term, 6, `${name}: term persisted`)
  }
})

t.test('lease stickiness: no vote (and no new term) while honouring a lease; granted once it runs out', async (t) => {
  const e = voter()
  const r = T0 + 10
  t.same(acks(e.receive('a', renew(5, 'a', 1, FIVE), r)).map((a) => a.granted), [true])
  const during = e.receive('c', voteRequest(6, 'c', 1), r + C.leaseMs - 1)
  t.same(replies(during).map((x) => [x.term, x.granted]), [[5, false]])
  t.equal(e.term, 5, 'the term of a refused candidate is not adopted while the lease holds')
  t.equal(during.persist, undefined)
  const after = e.receive('c', voteRequest(6, 'c', 1), r + C.leaseMs)
  t.same(replies(after).map((x) => [x.term, x.granted]), [[6, true]])
  // The coordinator it promised may ask for a new term itself (it restarted): that is not "anyone else".
  const f = voter()
  f.receive('a', renew(5, 'a', 1, FIVE), r)
  t.same(replies(f.receive('a', voteRequest(6, 'a', 1), r + 1)).map((x) => x.granted), [true])
  // A granted vote binds the same way.
  const g = voter()
  g.receive('c', voteRequest(6, 'c', 1), r)
  t.same(replies(g.receive('d', voteRequest(7, 'd', 1), r + C.leaseMs - 1)).map((x) => x.granted), [false])
  t.same(replies(g.receive('d', voteRequest(7, 'd', 1), r + C.leaseMs)).map((x) => x.granted), [true])
})

t.test('epoch check: a candidate holding an older council is refused (its term still adopted)', async (t) => {
  for (const [epoch, granted] of [[1001, false], [1002, true], [1003, true], [2001, true]] as const) {
    const e = voter('b', 5, FIVE, 1002)
    const fx = e.receive('c', voteRequest(6, 'c', epoch), T0)
    t.same(replies(fx).map((r) => [r.granted, r.epoch]), [[granted, 1002]], `candidate epoch ${epoch} vs voter 1002`)
    t.equal(e.term, 6)
  }
})

t.test('observers and outsiders never vote', async (t) => {
  const outsider = voter('z')
  const fx = outsider.receive('c', voteRequest(6, 'c', 1), T0)
  t.same(replies(fx).map((r) => r.granted), [false])
  t.equal(outsider.term, 5, 'a node outside the council does not take part in elections')
  t.equal(outsider.status(T0).role, 'observer')
  const fresh = make('n', null)
  t.same(replies(fresh.receive('c', voteRequest(1, 'c', 1), 0)).map((r) => r.granted), [false])
  t.equal(fresh.nextWakeAt(), Infinity, 'an observer has no timers')
  t.same(fresh.tick(1e6), { send: [], publish: [], events: [] })
})

t.test('a candidate asks every other member, persisting its term and self-vote first', async (t) => {
  const e = voter('b')
  const at = e.nextWakeAt()
  t.same(e.tick(at - 1), { send: [], publish: [], events: [] }, 'nothing before the timeout')
  const fx = e.tick(at)
  t.same(requests(fx), ['a', 'c', 'd', 'e'])
  t.same(fx.persist, { term: 6, votedFor: 'b', council: { epoch: 1, members: FIVE } })
  t.equal(e.status(at).role, 'candidate')
  // Split vote: nobody wins; the next timeout starts a new term.
  const retry = e.nextWakeAt()
  t.ok(retry >= at + C.electionTimeoutMinMs && retry <= at + C.electionTimeoutMaxMs)
  const again = e.tick(retry)
  t.same(requests(again), ['a', 'c', 'd', 'e'])
  t.equal(again.persist?.term, 7)
})

t.test('majority counting: councils of 1, 3 and 5', async (t) => {
  for (const members of [['a'], ['a', 'b', 'c'], FIVE]) {
    const e = make('a', { term: 1, votedFor: null, council: { epoch: 1, members } })
    const s = e.nextWakeAt()
    const fx = e.tick(s)
    const others = members.filter((m) => m !== 'a')
    const need = Math.floor(members.length / 2) + 1 - 1
    if (need === 0) {
      t.equal(e.status(s).role, 'coordinator', 'a council of one elects itself at once')
      t.ok(kinds(fx).includes('lease-acquired'))
      continue
    }
    // Refusals, repeats and non-members do not count.
    e.receive(others[0]!, voteReply(2, others[0]!, false), s + 1)
    e.receive('z', voteReply(2, 'z', true), s + 1)
    e.receive(others[0]!, voteReply(1, others[0]!, true), s + 1)
    t.equal(e.status(s + 1).role, 'candidate', `${members.length}: refusals, outsiders and old terms do not count`)
    for (let i = 0; i < need; i++) {
      t.equal(e.status(s + 1).role, 'candidate', `${members.length}: still a candidate with ${i + 1} votes`)
      const v = others[i]!
      e.receive(v, voteReply(2, v, true), s + 1)
      if (i === 0 && need > 1) {
        e.receive(v, voteReply(2, v, true), s + 1)
        t.equal(e.status(s + 1).role, 'candidate', 'the same vote twice counts once')
      }
    }
    t.equal(e.status(s + 1).role, 'coordinator', `${members.length}: wins with ${need + 1} votes`)
  }
})

t.test('a candidate that sees a higher term or another coordinator of its term falls back', async (t) => {
  const e = voter('b')
  const s = e.nextWakeAt()
  e.tick(s)
  const fx = e.receive('c', voteReply(9, 'c', false), s + 1)
  t.equal(e.status(s + 1).role, 'voter')
  t.same(fx.persist, { term: 9, votedFor: null, council: { epoch: 1, members: FIVE } })
  const f = voter('b')
  const s2 = f.nextWakeAt()
  f.tick(s2)
  const r = f.receive('c', renew(6, 'c', 1, FIVE), s2 + 1)
  t.equal(f.status(s2 + 1).role, 'voter')
  t.equal(f.status(s2 + 1).coordinator, 'c')
  t.same(acks(r).map((a) => [a.term, a.granted]), [[6, true]])
})

t.test('the lease: acting right after winning, until exactly send + lease × (1 − drift) − margin', async (t) => {
  const { e, s } = elected(['a', 'b', 'c'])
  const until = s + 1000 * 0.99 - 50
  t.equal(until, s + 940)
  t.equal(leaseUntilMs(s, C), until)
  t.equal(e.acting(until - 1e-6), true, 'acting from the votes, counted from the requests')
  t.equal(e.acting(until), false, 'not at the computed instant')
  t.equal(e.status(s + 1).leaseUntilMs, until)
  // Renews go out every renewIntervalMs; nobody acks them.
  let lost: ElectionEffects | undefined
  for (let now = s + 1; now <= until; now = e.nextWakeAt()) {
    const fx = e.tick(now)
    if (kinds(fx).includes('lease-lost')) { lost = fx; t.equal(now, until, 'lease-lost is reported at the expiry instant'); break }
  }
  t.ok(lost, 'the lease is lost')
  t.equal(e.status(until).role, 'coordinator', 'still coordinator (renewing) but not acting')
  t.equal(e.status(until).acting, false)
  // A late majority ack for the renew sent at s + 750 brings the lease back until then + 940.
  const sentAt = s + 1 + 3 * C.renewIntervalMs
  const back = e.receive('b', ack(6, 'b', 4), until + 5)
  t.same(kinds(back), ['lease-acquired'])
  t.equal(e.acting(sentAt + 940 - 1e-6), true)
  t.equal(e.acting(sentAt + 940), false)
  // Renewals keep failing: step down stepDownAfterMs after the last renew a majority acked.
  let stepped = -1
  for (let now = e.nextWakeAt(); stepped < 0 && now < sentAt + 10_000; now = e.nextWakeAt()) {
    const fx = e.tick(now)
    if (kinds(fx).includes('stepped-down')) stepped = now
  }
  t.equal(stepped, sentAt + C.stepDownAfterMs)
  t.equal(e.status(stepped).role, 'voter')
  t.equal(e.acting(stepped), false)
})

t.test('lease arithmetic follows the knobs', async (t) => {
  const config: ElectionConfig = { ...C, leaseMs: 2000, maxClockDriftRatio: 0.05, driftMarginMs: 100, electionTimeoutMinMs: 2500, electionTimeoutMaxMs: 3000 }
  const e = make('a', { term: 1, votedFor: null, council: { epoch: 1, members: ['a'] } }, { config })
  const s = e.nextWakeAt()
  e.tick(s)
  t.equal(e.status(s).leaseUntilMs, s + 1800)
  t.equal(e.acting(s + 1800 - 1e-6), true)
  t.equal(e.acting(s + 1800), false)
})

t.test('renews: a majority of acks extends the lease from the renew send time; acks of others do not count', async (t) => {
  const { e, s } = elected(FIVE)
  const r1 = s + 1 + C.renewIntervalMs
  const fx = e.tick(r1)
  const out = renews(fx)
  t.same(out.map((x) => x.to).sort(), ['b', 'c', 'd', 'e'])
  const seq = out[0]!.renew.leaseSeq
  t.same(out[0]!.renew.council?.members, FIVE)
  e.receive('b', ack(6, 'b', seq), r1 + 1)
  e.receive('z', ack(6, 'z', seq), r1 + 1)
  e.receive('c', ack(6, 'c', seq, 1, false), r1 + 1)
  t.equal(e.status(r1 + 1).leaseUntilMs, s + 940, 'one ack, an outsider and a refusal are not a majority of five')
  e.receive('d', ack(6, 'd', seq), r1 + 2)
  t.equal(e.status(r1 + 2).leaseUntilMs, r1 + 940, 'counted from the renew send time')
  // A refusal with a higher term ends the reign.
  const down = e.receive('c', ack(8, 'c', seq, 1, false), r1 + 3)
  t.same(kinds(down), ['term', 'lease-lost', 'stepped-down'])
  t.equal(e.acting(r1 + 3), false)
  t.equal(down.persist?.term, 8)
})

t.test('a higher term seen by the coordinator, from any message, steps it down', async (t) => {
  const rows: Array<[string, (e: Election, now: number) => ElectionEffects]> = [
    ['vote request after the lease', (e, now) => e.receive('c', voteRequest(7, 'c', 1), now + C.leaseMs)],
    ['renew', (e, now) => e.receive('c', renew(7, 'c', 1, FIVE), now)],
    ['announcement', (e, now) => e.announce('c', announcement(7, 'c', FIVE), now)],
    ['observed on a command', (e, now) => e.observeTerm(7, now)],
    ['vote reply', (e, now) => e.receive('c', voteReply(7, 'c', false), now)],
  ]
  for (const [name, run] of rows) {
    const { e, s } = elected(FIVE)
    const fx = run(e, s + 2)
    t.ok(kinds(fx).includes('stepped-down'), name)
    t.equal(e.term, 7, name)
    t.not(e.status(s + 2).role, 'coordinator', name)
  }
  // While its lease holds, a coordinator ignores a candidate: no vote, no new term.
  const { e, s } = elected(FIVE)
  const fx = e.receive('c', voteRequest(7, 'c', 1), s + 2)
  t.same(replies(fx).map((r) => [r.term, r.granted]), [[6, false]])
  t.equal(e.status(s + 2).role, 'coordinator')
})

t.test('founding: a council of one, term 1, coordinator and acting at the first tick', async (t) => {
  const e = make('a', null, { found: true, now: 100 })
  t.equal(e.status(100).role, 'observer', 'nothing happens before the first tick')
  t.equal(e.nextWakeAt(), 100)
  const fx = e.tick(100)
  t.same(fx.persist, { term: 1, votedFor: 'a', council: { epoch: 1, members: ['a'] } })
  t.same(kinds(fx), ['council', 'term', 'coordinator', 'lease-acquired'])
  t.equal(fx.publish.length, 1)
  const a = fx.publish[0]!
  t.equal(a.topic, 'coord')
  t.same(a.body.case === 'coordinator' ? [a.body.value.term, a.body.value.coordinator, a.body.value.council?.epoch] : [], [1, 'a', 1])
  t.same(fx.send, [], 'nobody to ask')
  t.equal(e.acting(100), true)
  t.same(e.status(100), { role: 'coordinator', term: 1, coordinator: 'a', council: { epoch: 1, members: ['a'] }, acting: true, leaseUntilMs: 1040, sinceMs: 100 })
  // A council of one keeps its lease by itself.
  for (let now = e.nextWakeAt(); now < 60_000; now = e.nextWakeAt()) e.tick(now)
  t.equal(e.acting(60_000 - 1), true)
  t.throws(() => make('x', null, { found: true, eligible: false }), /only a coordinator-eligible node can found/)
  const restarted = make('a', { term: 1, votedFor: 'a', council: { epoch: 1, members: ['a'] } }, { found: true })
  t.equal(restarted.nextWakeAt() >= C.electionTimeoutMinMs, true, 'a persisted council is never founded again')
})

t.test('restart: keeps term, vote and council; starts as voter; never resumes as coordinator', async (t) => {
  const persisted: ElectionState = { term: 7, votedFor: 'c', council: { epoch: 1003, members: FIVE } }
  const e = make('a', persisted, { now: 50 })
  t.same(e.status(50), { role: 'voter', term: 7, coordinator: undefined, council: { epoch: 1003, members: FIVE }, acting: false, leaseUntilMs: 0, sinceMs: 50 })
  t.equal(e.term, 7)
  // Quiet for one lease: whatever the last life promised.
  t.same(replies(e.receive('c', voteRequest(8, 'c', 1003), 50 + C.leaseMs - 1)).map((r) => r.granted), [false])
  // Never twice in a term.
  t.same(replies(e.receive('d', voteRequest(7, 'd', 1003), 50 + C.leaseMs)).map((r) => r.granted), [false])
  t.same(replies(e.receive('c', voteRequest(7, 'c', 1003), 50 + C.leaseMs)).map((r) => r.granted), [true])
  // Our own announcement from before the restart does not make us coordinator.
  const was = make('a', { term: 9, votedFor: 'a', council: { epoch: 1003, members: FIVE } })
  was.announce('a', announcement(9, 'a', FIVE, 1003), 10)
  t.equal(was.status(10).role, 'voter')
  t.equal(was.status(10).coordinator, undefined)
  t.equal(was.acting(10), false)
  const at = was.nextWakeAt()
  t.ok(at >= C.electionTimeoutMinMs, 'stands only after a full election timeout')
  const fx = was.tick(at)
  t.equal(fx.persist?.term, 10, 'and then in a new term')
  // Persisted state is validated.
  t.throws(() => make('a', { term: 1, votedFor: null, council: { epoch: 1, members: ['a', 'a'] } }), /twice/)
})

t.test('voters adopt councils: higher epochs, proposals before acking them, leftovers of older terms', async (t) => {
  const e = voter('b', 5, ['a', 'b', 'c'], 1)
  const fx = e.receive('a', renew(6, 'a', 1, ['a', 'b', 'c'], 1, { epoch: 6001, members: ['a', 'b', 'c', 'd'] }), T0)
  t.same(fx.persist, { term: 6, votedFor: null, council: { epoch: 6001, members: ['a', 'b', 'c', 'd'] } }, 'the proposal is held durably before the ack')
  t.same(acks(fx).map((a) => [a.granted, a.epoch]), [[true, 6001]])
  // A late renew of the same term carrying the older council does not undo it.
  const late = e.receive('a', renew(6, 'a', 0, ['a', 'b', 'c'], 1), T0 + 1)
  t.equal(late.persist, undefined)
  t.same(acks(late).map((a) => a.epoch), [6001])
  // A coordinator of a later term that holds the older council: the 6001 proposal never committed.
  const next = e.receive('c', renew(8, 'c', 1, ['a', 'b', 'c'], 1), T0 + C.leaseMs + 1)
  t.same(next.persist?.council, { epoch: 1, members: ['a', 'b', 'c'] })
  // A malformed council is ignored whole.
  for (const bad of [council(0, ['a']), council(2, []), council(2, ['a', 'a']), council(2, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'])]) {
    const f = voter('b', 5, ['a', 'b', 'c'])
    const r = f.receive('a', { case: 'leaseRenew', value: create(LeaseRenewSchema, { term: 6, coordinator: 'a', leaseSeq: 1, council: bad }) }, T0)
    t.same(r, { send: [], publish: [], events: [] })
  }
})

t.test('a newcomer learns the council from the renew that proposes it; a removed member becomes an observer', async (t) => {
  const n = make('d', null)
  t.equal(n.status(0).role, 'observer')
  const fx = n.receive('a', renew(3, 'a', 9, ['a', 'b', 'c'], 3001, { epoch: 3002, members: ['a', 'b', 'c', 'd'] }), 10)
  t.equal(n.status(10).role, 'voter')
  t.equal(n.status(10).coordinator, 'a')
  t.same(fx.persist, { term: 3, votedFor: null, council: { epoch: 3002, members: ['a', 'b', 'c', 'd'] } })
  t.same(acks(fx).map((a) => [a.term, a.leaseSeq, a.granted, a.epoch]), [[3, 9, true, 3002]])
  t.ok(n.nextWakeAt() <= 10 + C.electionTimeoutMaxMs, 'its election timer runs')
  const r = voter('c', 3, ['a', 'b', 'c'], 3001)
  const out = r.receive('a', renew(3, 'a', 1, ['a', 'b', 'c'], 3001, { epoch: 3002, members: ['a', 'b'] }), T0)
  t.equal(r.status(T0).role, 'observer')
  t.same(acks(out).map((a) => [a.granted, a.epoch]), [[true, 3002]], 'its ack still counts towards the old council majority')
  t.equal(r.nextWakeAt(), Infinity)
})

t.test('announcements: followed by highest term, lower terms and impostors ignored, repair reads the latest', async (t) => {
  const o = make('x', null)
  o.announce('a', announcement(3, 'a', ['a', 'b', 'c'], 1), 10)
  t.same([o.status(10).coordinator, o.term, o.status(10).council?.epoch, o.status(10).sinceMs], ['a', 3, 1, 10])
  t.equal(o.announcement()?.term, 3)
  o.announce('b', announcement(2, 'b', ['a', 'b', 'c'], 1), 20)
  t.equal(o.status(20).coordinator, 'a', 'lower term ignored')
  o.announce('c', announcement(4, 'b', ['a', 'b', 'c'], 1), 20)
  t.equal(o.status(20).coordinator, 'a', 'the signer must be the coordinator')
  o.announce('b', announcement(3, 'b', ['a', 'b', 'c'], 1), 20)
  t.equal(o.status(20).coordinator, 'a', 'a second coordinator for the same term is ignored')
  o.announce('a', announcement(3, 'a', ['a', 'b', 'c', 'x'], 3001), 30)
  t.equal(o.status(30).role, 'voter', 'an observer named in the council becomes a voter')
  t.equal(o.announcement()?.council?.epoch, 3001)
  const fx = o.announce('c', announcement(5, 'c', ['a', 'c', 'x'], 5001), 40)
  t.same([o.status(40).coordinator, o.term, o.status(40).sinceMs], ['c', 5, 40])
  t.same(fx.persist, { term: 5, votedFor: null, council: { epoch: 5001, members: ['a', 'c', 'x'] } })
  t.same(kinds(fx), ['term', 'coordinator', 'council'])
})

t.test('setEligible(false): the coordinator steps down and nobody ineligible stands', async (t) => {
  const { e, s } = elected(FIVE)
  const fx = e.setEligible(false, s + 2)
  t.same(kinds(fx), ['lease-lost', 'stepped-down'])
  t.equal(e.acting(s + 2), false)
  t.equal(e.nextWakeAt(), Infinity)
  const v = make('b', { term: 1, votedFor: null, council: { epoch: 1, members: FIVE } }, { eligible: false })
  t.equal(v.nextWakeAt(), Infinity, 'an ineligible voter never stands')
  t.same(replies(v.receive('c', voteRequest(2, 'c', 1), T0)).map((r) => r.granted), [true], 'but it votes')
  v.setEligible(true, T0)
  t.ok(v.nextWakeAt() < Infinity)
})

t.test('malformed peer input is ignored, never asserted', async (t) => {
  const rows: Array<[string, (e: Election) => ElectionEffects]> = [
    ['a term past MAX_TERM', (e) => e.receive('c', voteRequest(2 ** 41, 'c', 1), T0)],
    ['a fractional term', (e) => e.receive('c', voteRequest(6.5, 'c', 1), T0)],
    ['a request whose candidate is not the sender', (e) => e.receive('c', voteRequest(6, 'd', 1), T0)],
    ['a renew whose proposal is from a later term', (e) => e.receive('a', renew(6, 'a', 1, FIVE, 1, { epoch: 9001, members: FIVE }), T0)],
    ['a renew whose proposal is not newer than its council', (e) => e.receive('a', renew(6, 'a', 1, FIVE, 6002, { epoch: 6001, members: FIVE }), T0)],
    ['a renew whose coordinator is not the sender', (e) => e.receive('c', renew(6, 'a', 1, FIVE), T0)],
    ['an announcement whose council is from a later term', (e) => e.announce('a', announcement(6, 'a', FIVE, 7001), T0)],
    ['an announcement for term 0', (e) => e.announce('a', announcement(0, 'a', FIVE), T0)],
    ['an ack whose voter is not the sender', (e) => e.receive('c', ack(6, 'd', 1), T0)],
    ['a body the election does not handle', (e) => e.receive('c', { case: 'ping', value: create(VoteRequestSchema) as never }, T0)],
    ['a message from ourselves', (e) => e.receive('b', voteRequest(6, 'b', 1), T0)],
  ]
  for (const [name, run] of rows) {
    const e = voter()
    t.same(run(e), { send: [], publish: [], events: [] }, name)
    t.equal(e.term, 5, name)
  }
})

t.test('fuzz: random election messages to nodes in every role never break an invariant', async (t) => {
  const rng = seededRng('election-fuzz')
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!
  const ids = ['a', 'b', 'c', 'd', 'e', 'z']
  const num = (): number => pick([0, 1, 2, 5, 6, 7, 1001, 5001, 6001, 7002, -1, 0.5, 2 ** 40, 2 ** 41, Number.NaN])
  const members = (): string[] => [...new Set(Array.from({ length: Math.floor(rng.next() * 8) }, () => pick(ids)))]
  const body = (from: string): Body => {
    switch (Math.floor(rng.next() * 4)) {
      case 0: return voteRequest(num(), rng.next() < 0.9 ? from : pick(ids), num())
      case 1: return voteReply(num(), rng.next() < 0.9 ? from : pick(ids), rng.next() < 0.5, num())
      case 2: return renew(num(), rng.next() < 0.9 ? from : pick(ids), num(), members(), num(), rng.next() < 0.5 ? { epoch: num(), members: members() } : undefined)
      default: return ack(num(), rng.next() < 0.9 ? from : pick(ids), num(), num(), rng.next() < 0.5)
    }
  }
  let thrown = 0
  for (let run = 0; run < 40; run++) {
    const start = run % 3 === 0 ? elected(FIVE).e : run % 3 === 1 ? voter() : make('a', null, { found: true })
    let now = 2000
    for (let i = 0; i < 300; i++) {
      now += rng.next() * 200
      const from = pick(ids)
      try {
        const r = rng.next()
        if (r < 0.7) start.receive(from, body(from), now)
        else if (r < 0.8) start.announce(from, announcement(num(), rng.next() < 0.9 ? from : pick(ids), members(), num()), now)
        else if (r < 0.85) start.setCandidates(members(), now)
        else if (r < 0.9) start.observeTerm(num(), now)
        else start.tick(Math.max(now, start.nextWakeAt() === Infinity ? now : start.nextWakeAt()))
      } catch (err) {
        thrown++
        t.fail(`run ${run} step ${i}: ${String(err)}`)
        break
      }
    }
  }
  t.equal(thrown, 0)
})
