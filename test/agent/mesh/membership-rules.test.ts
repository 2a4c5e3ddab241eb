// Membership rules, one table each: precedence (memberlist state.go) for another node and for
// ourselves (refutation), the suspicion formulas (memberlist util.go, suspicion_test.go), the
// awareness score (awareness.go), config validation and malformed updates.
import t, { type Test } from 'tap'
import { update as member } from './fixtures/members.js'
import { create } from '@bufbuild/protobuf'
import { MemberState, MemberUpdateSchema, NodeMetaSchema, type MemberUpdate } from '../../../proto/gen/shoal_pb.js'
import { seededRng } from '../../../agent/lib/rng.js'
import { Awareness } from '../../../agent/mesh/membership/awareness.js'
import { DeadlineHeap } from '../../../agent/mesh/membership/deadlines.js'
import { ProbeRing } from '../../../agent/mesh/membership/probe-ring.js'
import {
  DEFAULT_MEMBERSHIP_CONFIG, MembershipConfigError, validateMembershipConfig, type MembershipConfig,
} from '../../../agent/mesh/membership/config.js'
import { Membership } from '../../../agent/mesh/membership/membership.js'
import { precedence, stateName } from '../../../agent/mesh/membership/records.js'
import {
  expectedConfirmations, Suspicion, suspicionBounds, suspicionTimeoutMinMs, suspicionTimeoutMs,
} from '../../../agent/mesh/membership/suspicion.js'
import type { MemberStateName } from '../../../agent/mesh/types.js'

/** Fixed here so the tables do not move when the defaults are retuned. */
const CONFIG: MembershipConfig = {
  ...DEFAULT_MEMBERSHIP_CONFIG, probeIntervalMs: 500, probeTimeoutMs: 200, indirectChecks: 3, suspicionMult: 4, suspicionMaxMult: 6, suspicionMinMs: 0,
}

function update (node: string, state: MemberStateName, incarnation: number, reporter: string): MemberUpdate {
  return member(node, state, incarnation, reporter, { addr: `/ip4/127.0.0.1/tcp/${incarnation}`, metaName: `${node}-${incarnation}` })
}

function node (id = 'a', incarnation = 1, config = CONFIG): Membership {
  return new Membership({ id, incarnation, addrs: ['/ip4/127.0.0.1/tcp/1'], meta: create(NodeMetaSchema, { name: id }) }, config, seededRng(id), 0)
}

type Held = 'unknown' | `${MemberStateName} 5`

/** Bring `x` to the held state on `m` the way gossip would. */
function hold (t: Test, m: Membership, held: Held): void {
  if (held === 'unknown') return
  const [state] = held.split(' ') as [MemberStateName]
  m.apply(update('x', 'alive', 5, 'x'), 'x', 0)
  if (state === 'suspect') m.apply(update('x', 'suspect', 5, 'r1'), 'r1', 0)
  if (state === 'dead') m.apply(update('x', 'dead', 5, 'r1'), 'r1', 0)
  if (state === 'left') m.apply(update('x', 'left', 5, 'x'), 'x', 0)
  t.equal(m.member('x')?.state, state, `setup: x is ${state}`)
}

t.test('precedence, pure: incarnation first, then dead/left > suspect > alive', async (t) => {
  const rows: Array<[string, string, string]> = [
    // current, update, outcome
    ['-', 'alive 1', 'accept'], ['-', 'dead 1', 'accept'],
    ['alive 5', 'alive 5', 'ignore'], ['alive 5', 'alive 6', 'accept'], ['alive 5', 'suspect 5', 'accept'],
    ['suspect 5', 'suspect 5', 'confirm'], ['suspect 5', 'alive 5', 'ignore'], ['suspect 5', 'dead 5', 'accept'],
    ['dead 5', 'left 5', 'ignore'], ['left 5', 'dead 5', 'ignore'], ['dead 5', 'suspect 6', 'accept'],
    ['dead 5', 'alive 4', 'ignore'], ['alive 5', 'dead 4', 'ignore'],
  ]
  const parse = (s: string): { state: MemberStateName, incarnation: number } => {
    const [state, inc] = s.split(' ') as [MemberStateName, string]
    return { state, incarnation: Number(inc) }
  }
  for (const [current, next, outcome] of rows) {
    t.equal(precedence(current === '-' ? undefined : parse(current), parse(next)), outcome, `${current} + ${next}`)
  }
})

t.test('precedence for another node: result, change, nothing re-published', async (t) => {
  // held state × update → resulting state, or '=' for "unchanged, no change emitted".
  const table: Array<[Held, string, string]> = [
    ['unknown', 'alive 5', 'alive 5'], ['unknown', 'suspect 5', 'suspect 5'],
    ['unknown', 'dead 5', 'dead 5'], ['unknown', 'left 5', 'left 5'],

    ['alive 5', 'alive 4', '='], ['alive 5', 'alive 5', '='], ['alive 5', 'alive 6', 'alive 6'],
    ['alive 5', 'suspect 4', '='], ['alive 5', 'suspect 5', 'suspect 5'], ['alive 5', 'suspect 6', 'suspect 6'],
    ['alive 5', 'dead 4', '='], ['alive 5', 'dead 5', 'dead 5'], ['alive 5', 'dead 6', 'dead 6'],
    ['alive 5', 'left 4', '='], ['alive 5', 'left 5', 'left 5'], ['alive 5', 'left 6', 'left 6'],

    ['suspect 5', 'alive 4', '='], ['suspect 5', 'alive 5', '='], ['suspect 5', 'alive 6', 'alive 6'],
    ['suspect 5', 'suspect 4', '='], ['suspect 5', 'suspect 5', '='], ['suspect 5', 'suspect 6', 'suspect 6'],
    ['suspect 5', 'dead 4', '='], ['suspect 5', 'dead 5', 'dead 5'], ['suspect 5', 'dead 6', 'dead 6'],
    ['suspect 5', 'left 4', '='], ['suspect 5', 'left 5', 'left 5'], ['suspect 5', 'left 6', 'left 6'],

    ['dead 5', 'alive 4', '='], ['dead 5', 'alive 5', '='], ['dead 5', 'alive 6', 'alive 6'],
    ['dead 5', 'suspect 4', '='], ['dead 5', 'suspect 5', '='], ['dead 5', 'suspect 6', 'suspect 6'],
    ['dead 5', 'dead 4', '='], ['dead 5', 'dead 5', '='], ['dead 5', 'dead 6', 'dead 6'],
    ['dead 5', 'left 4', '='], ['dead 5', 'left 5', '='], ['dead 5', 'left 6', 'left 6'],

    ['left 5', 'alive 4', '='], ['left 5', 'alive 5', '='], ['left 5', 'alive 6', 'alive 6'],
    ['left 5', 'suspect 4', '='], ['left 5', 'suspect 5', '='], ['left 5', 'suspect 6', 'suspect 6'],
    ['left 5', 'dead 4', '='], ['left 5', 'dead 5', '='], ['left 5', 'dead 6', 'dead 6'],
    ['left 5', 'left 4', '='], ['left 5', 'left 5', '='], ['left 5', 'left 6', 'left 6'],
  ]
  for (const [held, next, expected] of table) {
    const m = node()
    hold(t, m, held)
    const before = m.member('x')
    const [state, inc] = next.split(' ') as [MemberStateName, string]
    const reporter = state === 'alive' || state === 'left' ? 'x' : 'r2'
    const fx = m.apply(update('x', state, Number(inc), reporter), reporter, 10)
    const name = `${held} + ${next}`
    t.same(fx.publish, [], `${name}: nothing re-published (gossipsub already carried it to everyone)`)
    t.same(fx.send, [], `${name}: nothing sent`)
    t.equal(fx.persistIncarnation, undefined, `${name}: our incarnation untouched`)
    if (expected === '=') {
      t.same(fx.changes, [], `${name}: no change`)
      t.equal(m.member('x'), before, `${name}: record untouched`)
      continue
    }
    const after = m.member('x')!
    t.equal(`${after.state} ${after.incarnation}`, expected, `${name} → ${expected}`)
    t.same(fx.changes, [{ node: 'x', from: before?.state, to: after.state, incarnation: after.incarnation, reporter }], `${name}: one change`)
    t.equal(after.changedMs, 10, `${name}: changedMs`)
    t.equal(after.reporter, reporter, `${name}: reporter kept`)
  }
})

t.test('alive brings addrs and meta; the other states keep what was known', async (t) => {
  const m = node()
  m.apply(update('x', 'alive', 5, 'x'), 'x', 0)
  m.apply(update('x', 'dead', 5, 'r'), 'r', 0)
  t.same(m.member('x')!.addrs, ['/ip4/127.0.0.1/tcp/5'], 'dead keeps the last addresses')
  t.equal(m.member('x')!.meta?.name, 'x-5', 'and the meta')
  m.apply(update('x', 'alive', 6, 'x'), 'x', 0)
  t.same(m.member('x')!.addrs, ['/ip4/127.0.0.1/tcp/6'])
  t.equal(m.member('x')!.meta?.name, 'x-6')
  m.apply(update('y', 'dead', 2, 'r'), 'r', 0)
  t.same(m.member('y')!.addrs, [], 'an unknown node recorded dead has no addresses')
})

t.test('about ourselves: refute accusations at or above our incarnation', async (t) => {
  // our incarnation is 5; update → new incarnation, or '=' (and whether we answer the sender alone)
  const table: Array<[MemberStateName, number, number | '=', boolean]> = [
    ['alive', 4, '=', false], ['alive', 5, '=', false], ['alive', 6, 7, false],
    ['suspect', 4, '=', true], ['suspect', 5, 6, false], ['suspect', 9, 10, false],
    ['dead', 4, '=', true], ['dead', 5, 6, false], ['dead', 6, 7, false],
    ['left', 4, '=', true], ['left', 5, 6, false], ['left', 7, 8, false],
  ]
  for (const [state, inc, expected, answered] of table) {
    const m = node('a', 5)
    const name = `${state} ${inc} about us at 5`
    const fx = m.apply(update('a', state, inc, 'b'), 'b', 100)
    if (expected === '=') {
      t.equal(m.incarnation, 5, `${name}: incarnation stays`)
      t.same(fx.publish, [], `${name}: nothing published`)
      t.equal(fx.persistIncarnation, undefined)
      t.same(fx.send.map((s) => [s.to, s.body.case]), answered ? [['b', 'member']] : [],
        `${name}: ${answered ? 'the stale accuser alone hears our alive' : 'silence'}`)
      if (answered && fx.send[0]?.body.case === 'member') t.equal(fx.send[0].body.value.incarnation, 5)
      continue
    }
    t.equal(m.incarnation, expected, `${name}: bumped to ${expected}`)
    t.equal(fx.persistIncarnation, expected, `${name}: persisted before anything is sent`)
    t.equal(fx.publish.length, 1, `${name}: one publish`)
    const body = fx.publish[0]!.body
    t.ok(body.case === 'member' && body.value.state === MemberState.ALIVE && body.value.incarnation === expected &&
      body.value.reporter === 'a' && body.value.meta?.name === 'a' && body.value.addrs.length === 1, `${name}: alive with addrs and meta`)
    t.equal(fx.publish[0]!.topic, 'members')
    t.same(fx.changes, [{ node: 'a', from: 'alive', to: 'alive', incarnation: expected, reporter: 'a' }])
    t.equal(m.member('a')!.incarnation, expected, 'our own record follows')
    t.equal(m.healthScore, 1, `${name}: having to refute raises our health score`)
  }
})

t.test('a left node no longer refutes', async (t) => {
  const m = node('a', 5)
  m.leave(0)
  const fx = m.apply(update('a', 'dead', 5, 'b'), 'b', 1)
  t.same(fx, { send: [], publish: [], changes: [] })
  t.equal(m.incarnation, 5)
})

t.test('malformed updates are ignored and counted', async (t) => {
  const bad: Array<[string, MemberUpdate]> = [
    ['no node', create(MemberUpdateSchema, { node: '', state: MemberState.ALIVE, incarnation: 1, reporter: 'x' })],
    ['no state', create(MemberUpdateSchema, { node: 'x', state: MemberState.UNSPECIFIED, incarnation: 1 })],
    ['negative incarnation', create(MemberUpdateSchema, { node: 'x', state: MemberState.ALIVE, incarnation: -1 })],
    ['fractional incarnation', create(MemberUpdateSchema, { node: 'x', state: MemberState.ALIVE, incarnation: 1.5 })],
    ['huge incarnation', create(MemberUpdateSchema, { node: 'x', state: MemberState.DEAD, incarnation: 2 ** 60 })],
    ['NaN incarnation', create(MemberUpdateSchema, { node: 'x', state: MemberState.DEAD, incarnation: NaN })],
    ['too many addresses', create(MemberUpdateSchema, {
      node: 'x', state: MemberState.ALIVE, incarnation: 1, addrs: Array.from({ length: CONFIG.maxAddrs + 1 }, (_, i) => `/ip4/127.0.0.1/tcp/${i}`),
    })],
  ]
  const m = node()
  for (const [name, u] of bad) {
    t.same(m.apply(u, 'x', 0), { send: [], publish: [], changes: [] }, name)
    t.equal(m.member('x'), undefined, `${name}: not recorded`)
  }
  t.equal(m.counters.ignored, bad.length)
  t.equal(stateName(MemberState.UNSPECIFIED), undefined)
})

t.test('a missing reporter is the sender', async (t) => {
  const m = node()
  m.apply(update('x', 'alive', 1, 'x'), 'x', 0)
  m.apply(create(MemberUpdateSchema, { node: 'x', state: MemberState.SUSPECT, incarnation: 1 }), 'b', 0)
  t.equal(m.member('x')!.reporter, 'b')
})

t.test('suspicion min and max by fleet size (memberlist suspicionTimeout)', async (t) => {
  const rows: Array<[number, number, number, number, number]> = [
    // mult, N, interval, min, max (× 6)
    [4, 1, 500, 2000, 12_000],
    [4, 10, 500, 2000, 12_000],
    [4, 100, 500, 4000, 24_000],
    [4, 1000, 500, 6000, 36_000],
    [3, 0, 250, 750, 4500],
    [3, 100, 250, 1500, 9000],
    [3, 1000, 250, 2250, 13_500],
    // reference/mesh.md §1.1, memberlist LAN (mult 4, 1 s): 8 / 12 / 16 s and 48 / 72 / 96 s.
    [4, 100, 1000, 8000, 48_000],
    [4, 1000, 1000, 12_000, 72_000],
    [4, 10_000, 1000, 16_000, 96_000],
  ]
  for (const [mult, n, interval, min, max] of rows) {
    t.equal(suspicionTimeoutMinMs(mult, n, interval), min, `min: mult ${mult}, N ${n}, ${interval} ms`)
    t.equal(6 * suspicionTimeoutMinMs(mult, n, interval), max, `max: mult ${mult}, N ${n}`)
  }
})

t.test('the figures the config documents, from the defaults', async (t) => {
  const d = DEFAULT_MEMBERSHIP_CONFIG
  const bounds = (n: number): [number, number, number] => {
    const b = suspicionBounds(d.suspicionMult, d.suspicionMaxMult, d.suspicionMinMs, n, d.probeIntervalMs)
    return [b.minMs, b.maxMs, b.k]
  }
  t.same(bounds(3), [2000, 12_000, 0], '3 agents: the 2 s floor, no confirmations to wait for')
  t.same(bounds(10), [2000, 12_000, 2], '10 agents: the floor (the formula gives 1 s)')
  t.same(bounds(100), [2000, 12_000, 2], '100 agents: min 2 s, max 12 s')
  t.same(bounds(1000), [3000, 18_000, 2], '1,000 agents: min 3 s, max 18 s')
  t.same(bounds(10_000), [4000, 24_000, 2], '10,000 agents: min 4 s')
  t.equal(2 * 1000 / d.probeIntervalMs, 8, 'a ping and an ack per interval: 8 messages per second')
  t.ok(2 * d.probeTimeoutMs <= d.probeIntervalMs)
  t.equal(d.deadProbeEvery * d.probeIntervalMs, 2000, 'a member dead for less than the window is pinged every 2 s')
  t.equal(d.deadProbeWindowMs / (d.deadProbeEvery * d.probeIntervalMs), 150, 'a real death costs each agent 150 pings over 5 min')
  t.equal(d.deadNoticeIntervalMs, 4 * d.probeIntervalMs, 'a dead-held prober is told once per four of its probes')
  t.equal(d.joinAnnounceDelayMs, d.probeIntervalMs, 'a joiner announces again one probe interval after its first connection')
})

t.test('suspicion shrinks with confirmations (memberlist suspicion_test, min 2 s, max 30 s, k 3)', async (t) => {
  const rows: Array<[number, number]> = [[0, 30_000], [1, 16_000], [2, 7810], [3, 2000], [4, 2000], [5, 2000]]
  for (const [n, total] of rows) t.equal(suspicionTimeoutMs(n, 3, 2000, 30_000), total, `${n} confirmations`)
  t.equal(suspicionTimeoutMs(0, 0, 2000, 30_000), 2000, 'k < 1: min from the start')
  t.equal(suspicionTimeoutMs(1, 2, 2000, 12_000), 5690, 'k 2, one confirmation: 12000 − log 2 / log 3 × 10000')
  t.same([1, 2, 3, 4, 10].map((n) => expectedConfirmations(4, n)), [0, 0, 0, 2, 2], 'k = mult − 2, none with too few others')
  t.same([expectedConfirmations(2, 100), expectedConfirmations(1, 100)], [0, 0])
})

t.test('Suspicion: distinct reporters count, up to k', async (t) => {
  const s = new Suspicion('r1', 5, 2, 2000, 12_000, 1000)
  t.equal(s.deadlineMs, 13_000, 'starts at max')
  t.notOk(s.confirm('r1'), 'the first reporter again: not a confirmation')
  t.equal(s.deadlineMs, 13_000)
  t.ok(s.confirm('r2'))
  t.equal(s.deadlineMs, 1000 + 5690)
  t.notOk(s.confirm('r2'), 'a duplicate confirmation does not count')
  t.equal(s.confirmations, 1)
  t.ok(s.confirm('r3'))
  t.equal(s.deadlineMs, 3000, 'k confirmations: min')
  t.notOk(s.confirm('r4'), 'beyond k: not even recorded')
  t.notOk(s.hasReporter('r4'))
  t.equal(new Suspicion('r1', 5, 0, 2000, 12_000, 0).deadlineMs, 2000, 'k 0 starts at min')
})

t.test('awareness: rises, falls, bounded, scales timeouts', async (t) => {
  const a = new Awareness(8)
  t.equal(a.scale(500), 500)
  const steps: Array<[number, number]> = [[1, 1], [3, 4], [10, 7], [-2, 5], [-100, 0], [-1, 0], [7, 7], [1, 7]]
  for (const [delta, score] of steps) {
    a.applyDelta(delta)
    t.equal(a.score, score, `${delta > 0 ? '+' : ''}${delta} → ${score}`)
  }
  t.equal(a.scale(500), 4000, 'score 7: × 8')
  const one = new Awareness(1)
  one.applyDelta(5)
  t.equal(one.score, 0, 'max 1: always 0')
})

t.test('config: the defaults pass; each rule names its field', async (t) => {
  t.equal(validateMembershipConfig({ ...DEFAULT_MEMBERSHIP_CONFIG }).probeIntervalMs, DEFAULT_MEMBERSHIP_CONFIG.probeIntervalMs)
  t.ok(Object.isFrozen(DEFAULT_MEMBERSHIP_CONFIG))
  const bad: Array<[Partial<MembershipConfig>, RegExp]> = [
    [{ probeIntervalMs: 0 }, /probeIntervalMs must be an integer in \[10, 60000\], got 0/],
    [{ probeIntervalMs: 1.5 }, /probeIntervalMs/],
    [{ probeTimeoutMs: NaN }, /probeTimeoutMs/],
    [{ indirectChecks: -1 }, /indirectChecks/],
    [{ suspicionMult: 0 }, /suspicionMult/],
    [{ awarenessMax: 0 }, /awarenessMax/],
    [{ maxMembers: 1 }, /maxMembers/],
    [{ probeIntervalMs: 300, probeTimeoutMs: 200 }, /probeTimeoutMs \(200\) must be at most half of probeIntervalMs \(300\)/],
    [{ deadRetentionMs: 1000 }, /deadRetentionMs \(1000\) must outlast the longest suspicion \(25806 ms at maxMembers\)/],
    [{ deadProbeEvery: -1 }, /deadProbeEvery must be an integer in \[0, 10000\], got -1/],
    [{ deadProbeWindowMs: 1.5 }, /deadProbeWindowMs/],
    [{ deadNoticeIntervalMs: -1 }, /deadNoticeIntervalMs/],
    [{ deadNoticeGossipFanout: -1 }, /deadNoticeGossipFanout/],
    [{ syncRegossipMax: 0.5 }, /syncRegossipMax/],
    [{ joinAnnounceDelayMs: 60_001 }, /joinAnnounceDelayMs must be an integer in \[0, 60000\], got 60001/],
    [{ probeIntervalMs: 250, typo: 1 } as Partial<MembershipConfig>, /membership.typo is not a membership setting/],
  ]
  for (const [patch, message] of bad) {
    t.throws(() => validateMembershipConfig({ ...DEFAULT_MEMBERSHIP_CONFIG, ...patch }), { name: 'MembershipConfigError', message }, JSON.stringify(patch))
    t.throws(() => node('a', 1, { ...DEFAULT_MEMBERSHIP_CONFIG, ...patch }), MembershipConfigError, 'the constructor validates too')
  }
})

t.test('DeadlineHeap pops in time order (seeded, against a sort); retain; bounded', async (t) => {
  const rng = seededRng('heap')
  const heap = new DeadlineHeap<number>(1000)
  const all: number[] = []
  for (let i = 0; i < 500; i++) {
    const at = Math.floor(rng.next() * 100)
    heap.push(at, i)
    all.push(at)
  }
  heap.retain((e) => e.item % 2 === 0)
  const popped: number[] = []
  for (let e = heap.pop(); e !== undefined; e = heap.pop()) {
    t.equal(e.item % 2, 0)
    popped.push(e.at)
  }
  t.same(popped, all.filter((_, i) => i % 2 === 0).sort((a, b) => a - b))
  const small = new DeadlineHeap<string>(1)
  small.push(1, 'a')
  t.throws(() => small.push(2, 'b'), { name: 'AssertionError' })
})

t.test('ProbeRing: passes, skips, a newcomer lands ahead, k-sampling on a large ring', async (t) => {
  const ring = new ProbeRing(seededRng('ring'))
  for (const id of ['a', 'b', 'c', 'd']) ring.insert(id)
  ring.insert('a')
  t.equal(ring.size, 4, 'no duplicates')
  const dead = new Set(['c'])
  const live = (id: string): boolean => !dead.has(id)
  const pass = [ring.next(live), ring.next(live), ring.next(live)]
  t.same([...pass].sort(), ['a', 'b', 'd'], 'one pass, the dead one skipped')
  ring.insert('e')
  t.equal(ring.next(live), 'e', 'a newcomer is inserted ahead, so this pass still reaches it')
  t.not(ring.next(live), undefined, 'next pass')
  t.equal(ring.size, 4, 'the dead one left at the reshuffle')
  t.notOk(ring.has('c'))
  t.equal(new ProbeRing(seededRng('x')).next(live), undefined, 'empty ring')
  const big = new ProbeRing(seededRng('big'))
  for (let i = 0; i < 1000; i++) big.insert(`n${i}`)
  const sample = big.sample(3, (id) => id !== 'n1' && Number(id.slice(1)) % 2 === 1)
  t.equal(sample.length, 3)
  t.equal(new Set(sample).size, 3)
  t.ok(sample.every((id) => id !== 'n1' && Number(id.slice(1)) % 2 === 1))
  t.same(big.sample(3, () => false), [], 'bounded tries when nothing qualifies')
})
