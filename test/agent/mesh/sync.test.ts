// Push-pull repair helpers: the digest hash, what the other side lacks, and its bounds.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import { DigestEntrySchema, HealthUpdateSchema, MemberState, MemberUpdateSchema, type DigestEntry, type HealthUpdate, type MemberUpdate } from '../../../proto/gen/shoal_pb.js'
import { MAX_SYNC_HEALTH, MAX_SYNC_MEMBERS, digestHash, digestOf, memberRank, whatTheyLack, type SyncSource } from '../../../agent/mesh/sync.js'

interface Entry { id: string, state: MemberState, incarnation: number, health?: [number, number] }

function source (entries: Entry[]): SyncSource {
  const health = new Map<string, HealthUpdate>()
  const members = new Map<string, MemberUpdate>()
  for (const e of entries) {
    members.set(e.id, create(MemberUpdateSchema, { node: e.id, state: e.state, incarnation: e.incarnation, reporter: e.id }))
    if (e.health !== undefined) health.set(e.id, create(HealthUpdateSchema, { node: e.id, incarnation: e.health[0], seq: e.health[1] }))
  }
  return {
    * memberEntries () { for (const e of entries) yield { id: e.id, state: e.state, incarnation: e.incarnation } },
    health: (id) => health.get(id),
    memberUpdate: (id) => members.get(id),
  }
}

function entry (node: string, state: MemberState, incarnation: number, healthIncarnation = 0, healthSeq = 0): DigestEntry {
  return create(DigestEntrySchema, { node, state, incarnation, healthIncarnation, healthSeq })
}

t.test('digestOf carries member and health versions', async (t) => {
  const d = digestOf(source([{ id: 'a', state: MemberState.ALIVE, incarnation: 3, health: [3, 9] }, { id: 'b', state: MemberState.SUSPECT, incarnation: 1 }]))
  t.same(d.map((e) => [e.node, e.state, e.incarnation, e.healthIncarnation, e.healthSeq]), [
    ['a', MemberState.ALIVE, 3, 3, 9],
    ['b', MemberState.SUSPECT, 1, 0, 0],
  ])
})

t.test('digestHash is order-independent and sees every field', async (t) => {
  const base = [entry('a', MemberState.ALIVE, 1, 1, 2), entry('b', MemberState.ALIVE, 2, 2, 5), entry('c', MemberState.SUSPECT, 4, 0, 0)]
  const h = digestHash(base)
  t.equal(digestHash([...base].reverse()), h, 'reversed')
  t.equal(digestHash([base[1]!, base[2]!, base[0]!]), h, 'rotated')
  t.ok(h >= 0 && h < 2 ** 48 && Number.isInteger(h), 'a 48-bit integer')
  t.equal(digestHash([]), 0, 'empty')
  const variants: Array<[string, DigestEntry]> = [
    ['node', entry('z', MemberState.ALIVE, 1, 1, 2)],
    ['state', entry('a', MemberState.SUSPECT, 1, 1, 2)],
    ['incarnation', entry('a', MemberState.ALIVE, 2, 1, 2)],
    ['healthIncarnation', entry('a', MemberState.ALIVE, 1, 2, 2)],
    ['healthSeq', entry('a', MemberState.ALIVE, 1, 1, 3)],
  ]
  for (const [field, changed] of variants) {
    t.not(digestHash([changed, base[1]!, base[2]!]), h, `changing ${field} changes the hash`)
  }
  t.not(digestHash(base.slice(0, 2)), h, 'a missing entry changes the hash')
})

t.test('memberRank: dead and left over suspect over alive', async (t) => {
  t.ok(memberRank(MemberState.DEAD) > memberRank(MemberState.SUSPECT))
  t.equal(memberRank(MemberState.LEFT), memberRank(MemberState.DEAD))
  t.ok(memberRank(MemberState.SUSPECT) > memberRank(MemberState.ALIVE))
})

t.test('whatTheyLack: members', async (t) => {
  const A = MemberState.ALIVE; const S = MemberState.SUSPECT; const D = MemberState.DEAD; const L = MemberState.LEFT
  const cases: Array<{ name: string, ours: [MemberState, number], theirs?: [MemberState, number], sent: boolean }> = [
    { name: 'they lack it', ours: [A, 1], sent: true },
    { name: 'same', ours: [A, 3], theirs: [A, 3], sent: false },
    { name: 'ours has a higher incarnation', ours: [A, 4], theirs: [D, 3], sent: true },
    { name: 'theirs has a higher incarnation', ours: [D, 3], theirs: [A, 4], sent: false },
    { name: 'same incarnation, suspect beats alive', ours: [S, 2], theirs: [A, 2], sent: true },
    { name: 'same incarnation, dead beats suspect', ours: [D, 2], theirs: [S, 2], sent: true },
    { name: 'same incarnation, left beats alive', ours: [L, 2], theirs: [A, 2], sent: true },
    { name: 'same incarnation, alive loses to suspect', ours: [A, 2], theirs: [S, 2], sent: false },
    { name: 'same incarnation, dead vs left: a tie', ours: [D, 2], theirs: [L, 2], sent: false },
  ]
  for (const c of cases) {
    const theirs = c.theirs === undefined ? [] : [entry('x', c.theirs[0], c.theirs[1])]
    const lack = whatTheyLack(theirs, source([{ id: 'x', state: c.ours[0], incarnation: c.ours[1] }]))
    t.same(lack.members.map((m) => m.node), c.sent ? ['x'] : [], c.name)
    t.same(lack.health, [], `${c.name}: no health`)
  }
})

t.test('whatTheyLack: health by (incarnation, seq)', async (t) => {
  const cases: Array<{ name: string, ours: [number, number] | undefined, theirs: [number, number], sent: boolean }> = [
    { name: 'they have none', ours: [1, 1], theirs: [0, 0], sent: true },
    { name: 'higher seq', ours: [1, 5], theirs: [1, 4], sent: true },
    { name: 'higher incarnation, lower seq', ours: [2, 1], theirs: [1, 50], sent: true },
    { name: 'equal', ours: [2, 3], theirs: [2, 3], sent: false },
    { name: 'older seq', ours: [2, 3], theirs: [2, 4], sent: false },
    { name: 'older incarnation', ours: [1, 99], theirs: [2, 1], sent: false },
    { name: 'we have none', ours: undefined, theirs: [0, 0], sent: false },
  ]
  for (const c of cases) {
    const src = source([{ id: 'x', state: MemberState.ALIVE, incarnation: 1, ...(c.ours === undefined ? {} : { health: c.ours }) }])
    const lack = whatTheyLack([entry('x', MemberState.ALIVE, 1, c.theirs[0], c.theirs[1])], src)
    t.same(lack.health.map((h) => [h.incarnation, h.seq]), c.sent ? [c.ours] : [], c.name)
    t.same(lack.members, [], `${c.name}: member already known`)
  }
  const lack = whatTheyLack([], source([{ id: 'x', state: MemberState.ALIVE, incarnation: 1, health: [1, 1] }]))
  t.equal(lack.health.length, 1, 'a node they lack entirely: its health goes too')
})

t.test('whatTheyLack is bounded', async (t) => {
  const n = Math.max(MAX_SYNC_MEMBERS, MAX_SYNC_HEALTH) + 100
  const entries: Entry[] = []
  for (let i = 0; i < n; i++) entries.push({ id: `n${i}`, state: MemberState.ALIVE, incarnation: 1, health: [1, 1] })
  const lack = whatTheyLack([], source(entries))
  t.equal(lack.members.length, MAX_SYNC_MEMBERS)
  t.equal(lack.health.length, MAX_SYNC_HEALTH)
})
