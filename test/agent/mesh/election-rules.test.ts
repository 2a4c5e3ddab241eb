// Every rule of the election core, one at a time, on a single Election fed by hand: stale terms,
// one vote per term persisted with its reply, lease stickiness, the epoch check, PreVote, majorities
// of 1, 3 and 5, lease expiry with drift and margin, founding, restart, observers, announcements,
// and the rejoin rule (a member whose term rose while cut off follows the newer council).
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
const voteRequest = (term: number, candidate: string, epoch: number, preVote = false): Body =>
  ({ case: 'voteRequest', value: create(VoteRequestSchema, { term, candidate, epoch, preVote }) })
const voteReply = (term: number, voter: string, granted: boolean, epoch = 1, preVote = false): Body =>
  ({ case: 'voteReply', value: create(VoteReplySchema, { term, voter, granted, epoch, preVote }) })
const preVoteRequest = (term: number, candidate: string, epoch: number): Body => voteRequest(term, candidate, epoch, true)
const preVoteReply = (term: number, voter: string, granted: boolean, epoch = 1): Body => voteReply(term, voter, granted, epoch, true)
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
  e.send.flatMap((s) => s.body.case === 'voteRequest' && !s.body.value.preVote ? [s.to] : []).sort()
const preRequests = (e: ElectionEffects): Array<{ to: string, term: number, epoch: number }> =>
  e.send.flatMap((s) => s.body.case === 'voteRequest' && s.body.value.preVote ? [{ to: s.to, term: s.body.value.term, epoch: s.body.value.epoch }] : [])
    .sort((x, y) => x.to.localeCompare(y.to))
const merge = (all: readonly ElectionEffects[]): ElectionEffects => {
  const out: ElectionEffects = { send: all.flatMap((f) => f.send), publish: all.flatMap((f) => f.publish), events: all.flatMap((f) => f.events) }
  const persisted = all.map((f) => f.persist).filter((p) => p !== undefined)
  if (persisted.length > 0) out.persist = persisted.at(-1)
  return out
}

/** Past its election timeout at `at`: it asks for pre-votes, `grant` grants them; all the effects. */
function stand (e: Election, at: number, grant: readonly string[]): ElectionEffects {
  const asked = e.tick(at)
  const term = preRequests(asked)[0]?.term ?? Number.NaN
  return merge([asked, ...grant.map((v) => e.receive(v, preVoteReply(term, v, true), at))])
}
const kinds = (e: ElectionEffects): string[] => e.events.map((ev) => ev.kind)

/** A node of `members` that has stood and won; returns it and when it sent its vote requests. */
function elected (members: readonly string[], self = 'a', term = 5): { e: Election, s: number } {
  const e = make(self, { term, votedFor: null, council: { epoch: 1, members: [...members] } })
  const s = e.nextWakeAt()
  t.ok(s >= C.electionTimeoutMinMs && s <= C.electionTimeoutMaxMs, 'a restarted voter stands only after an election timeout')
  const others = members.filter((m) => m !== self)
  stand(e, s, others)
  for (const m of others) e.receive(m, voteReply(term + 1, m, true), s + 1)
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
  const fx = stand(e, at, ['a', 'c'])
  t.same(requests(fx), ['a', 'c', 'd', 'e'])
  t.same(fx.persist, { term: 6, votedFor: 'b', council: { epoch: 1, members: FIVE } })
  t.equal(e.status(at).role, 'candidate')
  // Split vote: nobody wins; the next timeout asks for pre-votes again, then starts a new term.
  const retry = e.nextWakeAt()
  t.ok(retry >= at + C.electionTimeoutMinMs && retry <= at + C.electionTimeoutMaxMs)
  const asked = e.tick(retry)
  t.same(preRequests(asked).map((r) => [r.to, r.term]), [['a', 7], ['c', 7], ['d', 7], ['e', 7]], 'pre-votes for term 7')
  t.equal(asked.persist, undefined)
  t.equal(e.status(retry).role, 'voter', 'a pre-candidate is a voter: its term and vote stay')
  const again = merge(['a', 'c'].map((v) => e.receive(v, preVoteReply(7, v, true), retry)))
  t.same(requests(again), ['a', 'c', 'd', 'e'])
  t.equal(again.persist?.term, 7)
})

t.test('majority counting: councils of 1, 3 and 5', async (t) => {
  for (const members of [['a'], ['a', 'b', 'c'], FIVE]) {
    const e = make('a', { term: 1, votedFor: null, council: { epoch: 1, members } })
    const s = e.nextWakeAt()
    const others = members.filter((m) => m !== 'a')
    const fx = stand(e, s, others)
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
  stand(e, s, ['a', 'c'])
  t.equal(e.status(s).role, 'candidate')
  const fx = e.receive('c', voteReply(9, 'c', false), s + 1)
  t.equal(e.status(s + 1).role, 'voter')
  t.same(fx.persist, { term: 9, votedFor: null, council: { epoch: 1, members: FIVE } })
  const f = voter('b')
  const s2 = f.nextWakeAt()
  stand(f, s2, ['a', 'c'])
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
  // A council of one: its own pre-vote is a majority, so it stands at the same instant.
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
  const fx = stand(was, at, ['b', 'c'])
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
  const num = (): number => pick([0, 1, 2, 3, 5, 6, 7, 16, 17, 1001, 2003, 5001, 6001, 7002, -1, 0.5, 2 ** 40, 2 ** 41, Number.NaN])
  const members = (): string[] => [...new Set(Array.from({ length: Math.floor(rng.next() * 8) }, () => pick(ids)))]
  const body = (from: string): Body => {
    switch (Math.floor(rng.next() * 4)) {
      case 0: return voteRequest(num(), rng.next() < 0.9 ? from : pick(ids), num(), rng.next() < 0.5)
      case 1: return voteReply(num(), rng.next() < 0.9 ? from : pick(ids), rng.next() < 0.5, num(), rng.next() < 0.5)
      case 2: return renew(num(), rng.next() < 0.9 ? from : pick(ids), num(), members(), num(), rng.next() < 0.5 ? { epoch: num(), members: members() } : undefined)
      default: return ack(num(), rng.next() < 0.9 ? from : pick(ids), num(), num(), rng.next() < 0.5)
    }
  }
  let thrown = 0
  for (let run = 0; run < 60; run++) {
    // Every role, and a member whose term rose while cut off (the rejoin rule's ground).
    const start = [() => elected(FIVE).e, () => voter(), () => make('a', null, { found: true }), () => inflated()][run % 4]!()
    let now = 2000
    for (let i = 0; i < 300; i++) {
      now += rng.next() * 200
      const from = pick(ids)
      try {
        const r = rng.next()
        if (r < 0.7) start.receive(from, body(from), now)
        else if (r < 0.8) {
          const a = announcement(num(), rng.next() < 0.9 ? from : pick(ids), members(), num())
          start.wantsAnnouncement(a)
          start.announce(from, a, now)
        }
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

// ---- PreVote (Raft thesis §9.6; etcd-io/raft PreVote) --------------------------------------------

interface PreVoteRow {
  name: string
  /** Builds the voter and brings it to the moment of the request; returns that moment. */
  setup: () => { e: Election, at: number }
  from: string
  term: number
  epoch: number
  granted: boolean
}

t.test('pre-vote rules: who grants and who refuses', async (t) => {
  const renewedAt = T0 + 10
  const promised = (): Election => { const e = voter(); e.receive('a', renew(5, 'a', 1, FIVE), renewedAt); return e }
  const rows: PreVoteRow[] = [
    { name: 'term + 1 above ours, same epoch, no coordinator heard', setup: () => ({ e: voter(), at: T0 }), from: 'c', term: 6, epoch: 1, granted: true },
    { name: 'a candidate further ahead', setup: () => ({ e: voter(), at: T0 }), from: 'c', term: 9, epoch: 1, granted: true },
    { name: 'a newer council epoch', setup: () => ({ e: voter(), at: T0 }), from: 'c', term: 6, epoch: 1003, granted: true },
    { name: 'an older council epoch (Raft §5.4.1 with the council as the log)', setup: () => ({ e: voter('b', 5, FIVE, 1002), at: T0 }), from: 'c', term: 6, epoch: 1001, granted: false },
    { name: 'term + 1 below ours: a stale candidate', setup: () => ({ e: voter(), at: T0 }), from: 'c', term: 5 - 1, epoch: 1, granted: false },
    { name: 'term + 1 equal to ours, no vote and no coordinator in it', setup: () => ({ e: voter(), at: T0 }), from: 'c', term: 5, epoch: 1, granted: true },
    { name: 'term + 1 equal to ours, our vote in it went to someone else', setup: () => ({ e: voter('b', 5, FIVE, 1, 'd'), at: T0 }), from: 'c', term: 5, epoch: 1, granted: false },
    { name: 'term + 1 equal to ours, our vote in it went to the asker', setup: () => ({ e: voter('b', 5, FIVE, 1, 'c'), at: T0 }), from: 'c', term: 5, epoch: 1, granted: true },
    { name: 'term + 1 equal to ours, whose coordinator we follow (its lease over)', setup: () => ({ e: promised(), at: renewedAt + C.leaseMs }), from: 'c', term: 5, epoch: 1, granted: false },
    { name: 'lease stickiness: a coordinator renewed within the lease', setup: () => ({ e: promised(), at: renewedAt + C.leaseMs - 1 }), from: 'c', term: 6, epoch: 1, granted: false },
    { name: 'lease stickiness ends with the promise', setup: () => ({ e: promised(), at: renewedAt + C.leaseMs }), from: 'c', term: 6, epoch: 1, granted: true },
    { name: 'the coordinator we promised may ask itself', setup: () => ({ e: promised(), at: renewedAt + 1 }), from: 'a', term: 6, epoch: 1, granted: true },
    { name: 'a vote we granted binds pre-votes too, for one lease', setup: () => { const e = voter(); e.receive('d', voteRequest(6, 'd', 1), T0); return { e, at: T0 + C.leaseMs - 1 } }, from: 'c', term: 7, epoch: 1, granted: false },
    { name: 'a restarted voter is quiet for one lease', setup: () => ({ e: voter(), at: T0 - 1 }), from: 'c', term: 6, epoch: 1, granted: false },
    { name: 'an outsider never takes part', setup: () => ({ e: voter('z'), at: T0 }), from: 'c', term: 6, epoch: 1, granted: false },
    { name: 'a node that knows no council', setup: () => ({ e: make('n', null), at: T0 }), from: 'c', term: 6, epoch: 1, granted: false },
    { name: 'a coordinator whose lease holds', setup: () => { const { e, s } = elected(FIVE, 'b'); return { e, at: s + 2 } }, from: 'c', term: 7, epoch: 1, granted: false },
    { name: 'a coordinator whose lease is gone (it still renews)', setup: () => { const { e, s } = elected(FIVE, 'b'); return { e, at: s + C.leaseMs } }, from: 'c', term: 7, epoch: 1, granted: true },
  ]
  for (const row of rows) {
    const { e, at } = row.setup()
    const before = { term: e.raftTerm, reported: e.term, wake: e.nextWakeAt(), status: e.status(at) }
    const fx = e.receive(row.from, preVoteRequest(row.term, row.from, row.epoch), at)
    const got = replies(fx)
    t.same(got.map((r) => [r.preVote, r.granted]), [[true, row.granted]], `${row.name}: ${row.granted ? 'granted' : 'refused'}`)
    t.equal(got[0]?.term, row.granted ? row.term : before.term, `${row.name}: a grant echoes the asked term, a refusal carries ours`)
    // Whatever it answers, nothing of the receiver changes.
    t.equal(fx.persist, undefined, `${row.name}: nothing persisted`)
    t.same(fx.events, [], `${row.name}: no events`)
    t.same(fx.publish, [], `${row.name}: nothing published`)
    t.equal(e.raftTerm, before.term, `${row.name}: term unchanged`)
    t.equal(e.term, before.reported, `${row.name}: reported term unchanged`)
    t.equal(e.nextWakeAt(), before.wake, `${row.name}: timers unchanged`)
    t.same(e.status(at), before.status, `${row.name}: role, coordinator, lease unchanged`)
  }
})

t.test('a pre-vote request or reply never changes the receiver\'s term, vote or promise', async (t) => {
  // A granted pre-vote binds nothing: another candidate still gets the real vote in that term.
  const e = voter()
  t.same(replies(e.receive('c', preVoteRequest(6, 'c', 1), T0)).map((r) => r.granted), [true])
  t.same(replies(e.receive('d', preVoteRequest(6, 'd', 1), T0)).map((r) => r.granted), [true], 'pre-votes are not one per term')
  const real = e.receive('d', voteRequest(6, 'd', 1), T0)
  t.same(replies(real).map((r) => [r.term, r.granted]), [[6, true]], 'the real vote goes to whoever asks first')
  // A pre-vote request far ahead does not raise the term (a real one would).
  const f = voter()
  f.receive('c', preVoteRequest(40, 'c', 1), T0)
  t.equal(f.raftTerm, 5)
  // A coordinator asked for a pre-vote with a higher term does not step down.
  const { e: k, s } = elected(FIVE)
  const fx = k.receive('c', preVoteRequest(40, 'c', 1), s + C.leaseMs)
  t.same(kinds(fx), [], 'no term event, no step-down')
  t.equal(k.status(s + C.leaseMs).role, 'coordinator')
  t.equal(k.raftTerm, 6)
  // A pre-candidate refused with a higher term keeps its own (it learns terms from coordinators).
  const p = voter()
  const at = p.nextWakeAt()
  p.tick(at)
  const refused = p.receive('c', preVoteReply(40, 'c', false), at + 1)
  t.equal(refused.persist, undefined)
  t.same(kinds(refused), [])
  t.equal(p.raftTerm, 5)
  // Pre-vote replies that do not count: wrong term, outsiders, refusals, repeats.
  p.receive('z', preVoteReply(6, 'z', true), at + 1)
  p.receive('c', preVoteReply(7, 'c', true), at + 1)
  p.receive('d', preVoteReply(6, 'd', false), at + 1)
  p.receive('a', preVoteReply(6, 'a', true), at + 1)
  const twice = p.receive('a', preVoteReply(6, 'a', true), at + 1)
  t.same(twice.send, [], 'the same grant twice counts once')
  t.equal(p.status(at + 1).role, 'voter', 'two of five (itself and a) is no majority')
  const go = p.receive('c', preVoteReply(6, 'c', true), at + 1)
  t.same(requests(go), ['a', 'c', 'd', 'e'], 'the third grant starts the real election')
  t.same(go.persist, { term: 6, votedFor: 'b', council: { epoch: 1, members: FIVE } })
  t.equal(p.status(at + 1).role, 'candidate')
  t.same(replies(p.receive('c', preVoteReply(6, 'c', true), at + 1)), [], 'a late pre-vote grant to a candidate is ignored')
})

t.test('a pre-election: asked at term + 1, nothing persisted until a majority grants; a live coordinator ends it', async (t) => {
  const e = voter('b')
  const at = e.nextWakeAt()
  const fx = e.tick(at)
  t.same(preRequests(fx), ['a', 'c', 'd', 'e'].map((to) => ({ to, term: 6, epoch: 1 })))
  t.same(requests(fx), [], 'no real vote request yet')
  t.equal(fx.persist, undefined, 'no term, no self-vote persisted')
  t.same(fx.events, [], 'no term event')
  t.same([e.raftTerm, e.status(at).role], [5, 'voter'])
  const retry = e.nextWakeAt()
  t.ok(retry >= at + C.electionTimeoutMinMs && retry <= at + C.electionTimeoutMaxMs, 'asks again after another timeout')
  // A renew from a coordinator meanwhile ends the pre-election: later grants count for nothing.
  e.receive('a', renew(5, 'a', 1, FIVE), at + 1)
  for (const v of ['c', 'd', 'e']) t.same(e.receive(v, preVoteReply(6, v, true), at + 2).send, [], `grant from ${v} after the renew`)
  t.same([e.raftTerm, e.status(at + 2).role, e.status(at + 2).coordinator], [5, 'voter', 'a'])
  // So does a higher term.
  const f = voter('b')
  const at2 = f.nextWakeAt()
  f.tick(at2)
  f.observeTerm(8, at2 + 1)
  t.same(merge(['a', 'c'].map((v) => f.receive(v, preVoteReply(6, v, true), at2 + 1))).send, [], 'grants for the old term are void')
  t.equal(f.raftTerm, 8)
  // And losing eligibility.
  const g = voter('b')
  const at3 = g.nextWakeAt()
  g.tick(at3)
  g.setEligible(false, at3 + 1)
  t.same(merge(['a', 'c'].map((v) => g.receive(v, preVoteReply(6, v, true), at3 + 1))).send, [])
  t.equal(g.nextWakeAt(), Infinity)
})

/**
 * Delivers among a few cores on one clock, instantly: direct sends, and announcements to everyone
 * (through wantsAnnouncement, as the driver does). `reach(a, b)`: whether a message from a gets to
 * b. `candidates(id)`: what the driver of `id` hands it at each tick while it acts (the members it
 * sees alive).
 */
function runCores (nodes: Map<string, Election>, from: number, until: number, reach: (a: string, b: string) => boolean,
  candidates?: (id: string) => string[]): ElectionEffects[] {
  const all: ElectionEffects[] = []
  let now = from
  for (;;) {
    let at = Infinity
    for (const e of nodes.values()) at = Math.min(at, e.nextWakeAt())
    if (at > until) return all
    now = Math.max(now, at)
    for (const [id, e] of nodes) {
      if (e.nextWakeAt() > now) continue
      const queue: Array<[string, ElectionEffects]> = [[id, e.tick(now)]]
      if (candidates !== undefined && e.acting(now)) queue.push([id, e.setCandidates(candidates(id), now)])
      while (queue.length > 0) {
        const [src, fx] = queue.shift()!
        all.push(fx)
        for (const s of fx.send) {
          const to = nodes.get(s.to)
          if (to !== undefined && reach(src, s.to)) queue.push([s.to, to.receive(src, s.body, now)])
        }
        for (const p of fx.publish) {
          if (p.body.case !== 'coordinator') continue
          for (const [id2, to] of nodes) {
            if (id2 !== src && reach(src, id2) && to.wantsAnnouncement(p.body.value)) queue.push([id2, to.announce(src, p.body.value, now)])
          }
        }
      }
    }
  }
}

t.test('a cut-off minority does not raise its term, however long the cut lasts', async (t) => {
  // The old coordinator a and voter b of FIVE, cut off from c, d, e: a keeps its term, b follows a.
  const { e: a, s } = elected(FIVE, 'a', 5)
  const b = voter('b', 6)
  b.receive('a', renew(6, 'a', 1, FIVE), s + 1)
  const nodes = new Map([['a', a], ['b', b]])
  const all = runCores(nodes, s + 1, s + 120_000, () => true)
  t.equal(a.raftTerm, 6, 'the old coordinator stays in term 6')
  t.equal(b.raftTerm, 6, 'its partner stays in term 6')
  t.equal(a.acting(s + 120_000), false, 'and nobody acts')
  t.same(all.filter((fx) => fx.persist !== undefined), [], 'two minutes of timeouts persist nothing')
  t.same(all.flatMap((fx) => fx.events).filter((ev) => ev.kind === 'term'), [], 'no term events')
  const pre = all.flatMap((fx) => fx.send).filter((x) => x.body.case === 'voteRequest' && x.body.value.preVote)
  t.ok(pre.length > 20, `they kept asking (${pre.length} pre-vote requests)`)
  t.same(all.flatMap((fx) => fx.send).filter((x) => x.body.case === 'voteRequest' && !x.body.value.preVote), [], 'and never stood')
  t.ok(pre.every((x) => x.body.case === 'voteRequest' && x.body.value.term === 7), 'always for term 7')
})

// ---- the rejoin rule: a newer council wins over a stale member's term ----------------------------

/** c of FIVE whose term rose to 16 while cut off (elections alone: no coordinator heard above 1). */
function inflated (): Election {
  const e = make('c', { term: 1, votedFor: null, council: { epoch: 1, members: FIVE } })
  // A real vote request it refuses (older epoch) still raises its term, as Raft says.
  e.receive('x', voteRequest(16, 'x', 0), T0)
  t.equal(e.raftTerm, 16)
  return e
}
/** The majority side's council after replacing c and one more member, in term 2. */
const NEW = ['a', 'b', 'd', 'f', 'g']

t.test('a stale member adopts the newer council, follows its coordinator in its term, and stops standing', async (t) => {
  const e = inflated()
  t.ok(e.wantsAnnouncement(announcement(2, 'b', NEW, 2003)), 'the driver must pass a lower-term announcement with a newer council')
  t.notOk(e.wantsAnnouncement(announcement(2, 'b', FIVE, 1)), 'but not one without')
  const fx = e.announce('b', announcement(2, 'b', NEW, 2003), T0 + 1)
  t.same(fx.persist, { term: 16, votedFor: null, council: { epoch: 2003, members: NEW } }, 'the council is persisted; the term is never lowered')
  t.same(kinds(fx), ['coordinator', 'council'])
  t.match(fx.events[0]?.detail, /following b in term 2 below our term 16/)
  const st = e.status(T0 + 1)
  t.same([st.role, st.coordinator, st.term, e.term, e.raftTerm], ['observer', 'b', 2, 2, 16], 'reports and fences in the coordinator\'s term')
  t.equal(e.nextWakeAt(), Infinity, 'no longer a member: never stands again')
  t.equal(e.announcement()?.term, 2, 'push-pull relays the announcement it follows')
  // Later announcements of that coordinator are current, and commands of its term are not stale.
  t.ok(e.wantsAnnouncement(announcement(2, 'b', NEW, 2004)))
  e.announce('b', announcement(2, 'b', [...NEW.slice(0, 4), 'h'], 2004), T0 + 2)
  t.same(e.status(T0 + 2).council?.epoch, 2004)
  t.same(e.observeTerm(2, T0 + 2), { send: [], publish: [], events: [] }, 'a command of term 2 raises nothing')
  t.equal(e.term, 2, 'so the ledger fences term-2 commands against 2, not 16')
  // An impostor of the same term is ignored; a later coordinator below our Raft term is followed.
  e.announce('d', announcement(2, 'd', NEW, 2004), T0 + 3)
  t.equal(e.status(T0 + 3).coordinator, 'b')
  e.announce('d', announcement(3, 'd', NEW, 2004), T0 + 4)
  t.same([e.status(T0 + 4).coordinator, e.term, e.raftTerm], ['d', 3, 16])
  t.notOk(e.wantsAnnouncement(announcement(2, 'b', NEW, 2005)), 'term 2 is stale now, newer council or not')
  // A command from a later term, still below 16: follow that term, coordinator unknown until it announces.
  e.observeTerm(5, T0 + 5)
  t.same([e.term, e.status(T0 + 5).coordinator], [5, undefined])
  // A coordinator of our own Raft term or above: following ends, one term again.
  e.announce('f', announcement(17, 'f', NEW, 2004), T0 + 6)
  t.same([e.term, e.raftTerm, e.status(T0 + 6).coordinator], [17, 17, 'f'])
})

t.test('the rejoin rule by renew: a member still seated follows and acks in the coordinator\'s term', async (t) => {
  const e = inflated()
  const seated = ['a', 'b', 'c', 'd', 'f']
  const fx = e.receive('b', renew(2, 'b', 7, FIVE, 1, { epoch: 2001, members: seated }), T0 + 1)
  t.same(acks(fx).map((a) => [a.term, a.granted, a.epoch]), [[2, true, 2001]], 'acked in term 2: its term 16 must not depose b')
  t.same(fx.persist, { term: 16, votedFor: null, council: { epoch: 2001, members: seated } })
  const st = e.status(T0 + 1)
  t.same([st.role, st.coordinator, st.term], ['voter', 'b', 2])
  t.ok(e.nextWakeAt() >= T0 + 1 + C.electionTimeoutMinMs, 'its timer restarts with each renew, as any follower\'s')
  // It promised b: no vote for anyone else while that holds, whatever the term.
  t.same(replies(e.receive('d', voteRequest(17, 'd', 2001), T0 + 2)).map((r) => r.granted), [false])
  t.equal(e.raftTerm, 16)
  // Its next candidacy (once b falls silent) is above its Raft term.
  const at = e.nextWakeAt()
  t.same(preRequests(e.tick(at)).map((r) => r.term), [17, 17, 17, 17])
  // A member the renew removes follows too, and its ack still counts towards the old council.
  const r = inflated()
  const out = r.receive('b', renew(2, 'b', 3, FIVE, 1, { epoch: 2001, members: ['a', 'b', 'd', 'e'] }), T0 + 1)
  t.same(acks(out).map((a) => [a.term, a.granted]), [[2, true]])
  t.same([r.status(T0 + 1).role, r.nextWakeAt()], ['observer', Infinity])
})

t.test('the rejoin rule applies only when nothing says the coordinator was deposed', async (t) => {
  // `wanted`: what the driver's freshness check says (it has no clock: the core decides the rest).
  const rows: Array<{ name: string, setup: () => Election, at: number, epoch: number, wanted: boolean }> = [
    { name: 'the council is not newer than ours', setup: () => inflated(), at: T0 + 1, epoch: 1, wanted: false },
    { name: 'we promised another coordinator and the promise holds', setup: () => { const e = inflated(); e.receive('e', renew(16, 'e', 1, FIVE), T0 + 1); return e }, at: T0 + 2, epoch: 2003, wanted: false },
    { name: 'we voted for a candidate and that promise holds', setup: () => { const e = inflated(); e.receive('d', voteRequest(17, 'd', 1), T0 + 1); return e }, at: T0 + 2, epoch: 2003, wanted: true },
    { name: 'we follow a coordinator of our own term', setup: () => { const e = inflated(); e.announce('e', announcement(16, 'e', FIVE), T0 + 1); return e }, at: T0 + C.leaseMs + 2, epoch: 2003, wanted: false },
    { name: 'we heard from a coordinator in a term above its own', setup: () => { const e = inflated(); e.observeTerm(9, T0); return e }, at: T0 + 1, epoch: 2003, wanted: false },
    { name: 'after a restart (it cannot tell where its term came from)', setup: () => make('c', { term: 16, votedFor: null, council: { epoch: 1, members: FIVE } }), at: T0 + 1, epoch: 2003, wanted: false },
  ]
  for (const row of rows) {
    const e = row.setup()
    const epoch = row.epoch
    const before = e.status(row.at)
    t.equal(e.wantsAnnouncement(announcement(2, 'b', NEW, epoch)), row.wanted, `${row.name}: wanted by the driver: ${row.wanted}`)
    const fx = e.announce('b', announcement(2, 'b', NEW, epoch), row.at)
    t.equal(fx.persist, undefined, `${row.name}: announcement ignored`)
    t.same(e.status(row.at), before, `${row.name}: nothing changed`)
    const r = e.receive('b', renew(2, 'b', 1, NEW, epoch), row.at)
    t.same(acks(r).map((a) => [a.granted, a.term]), [[false, e.term]], `${row.name}: a renew is refused with our term (Raft)`)
    t.not(e.status(row.at).coordinator, 'b', `${row.name}: b not followed`)
  }
})

t.test('rejoin end to end: replaced members whose terms rose while cut off follow the new coordinator, which keeps its term', async (t) => {
  // a coordinates FIVE in term 1; f and g are eligible spares. a and c are cut off; the other side
  // elects, and replaces a and c with f and g. Meanwhile a's and c's terms rise as they would have
  // without PreVote (a refused vote request from a long-gone candidate does it, as Raft says).
  const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g']
  const nodes = new Map(ids.map((id) => [id, make(id, null, { found: id === 'a' })]))
  let cut = new Set<string>()
  const reach = (x: string, y: string): boolean => cut.has(x) === cut.has(y)
  const alive = (self: string): string[] => ids.filter((id) => reach(self, id))
  runCores(nodes, 0, 5000, reach, () => FIVE)
  t.same(nodes.get('b')!.status(5000).council?.members, FIVE, 'a grew the council to five')
  cut = new Set(['a', 'c'])
  runCores(nodes, 5000, 20_000, reach, alive)
  const [b] = ids.filter((id) => nodes.get(id)!.acting(20_000))
  t.ok(b !== undefined && !cut.has(b), `the majority side elected ${b}`)
  const coordinator = nodes.get(b!)!
  const term = coordinator.raftTerm
  t.same([...coordinator.status(20_000).council!.members].sort(), ['b', 'd', 'e', 'f', 'g'], 'and replaced a and c')
  nodes.get('a')!.receive('x', voteRequest(16, 'x', 0), 20_000)
  nodes.get('c')!.receive('x', voteRequest(12, 'x', 0), 20_000)
  t.same([nodes.get('a')!.raftTerm, nodes.get('c')!.raftTerm], [16, 12])
  cut = new Set()
  const all = runCores(nodes, 20_000, 40_000, reach, alive)
  t.same(ids.filter((id) => nodes.get(id)!.acting(40_000)), [b], `${b} still acts`)
  t.equal(coordinator.raftTerm, term, 'no election after the heal: the coordinator kept its term')
  t.same(all.flatMap((fx) => fx.events).filter((ev) => ev.kind === 'stepped-down'), [], 'nobody stepped down')
  for (const id of ids) {
    const st = nodes.get(id)!.status(40_000)
    t.same([st.coordinator, st.term, st.council?.epoch], [b, term, coordinator.status(40_000).council?.epoch], `${id} names ${b} in term ${term}`)
  }
  t.same([nodes.get('a')!.status(40_000).role, nodes.get('c')!.status(40_000).role], ['observer', 'observer'], 'a and c no longer stand')
  t.same([nodes.get('a')!.raftTerm, nodes.get('c')!.raftTerm], [16, 12], 'their Raft terms are never lowered')
})
