// The election's knobs and pure helpers: config relations, majorities, epochs, the next council
// change, wire councils, the failover arithmetic docs/election.md quotes, and a tidy check that
// the core stays a core (no clock, no randomness, no I/O).
import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { create } from '@bufbuild/protobuf'
import { CouncilSchema } from '../../../proto/gen/shoal_pb.js'
import {
  DEFAULT_ELECTION_CONFIG, ElectionConfigError, failoverBoundMs, usableLeaseMs, validateElectionConfig, type ElectionConfig,
} from '../../../agent/mesh/election/config.js'
import {
  councilFromWire, epochTerm, formatEpoch, hasMajority, majority, nextChange, nextEpoch,
} from '../../../agent/mesh/election/council.js'
import { isStaleTerm } from '../../../agent/mesh/election/term.js'

const C = DEFAULT_ELECTION_CONFIG

t.test('the defaults are valid and meet the failover target with room', async (t) => {
  t.equal(validateElectionConfig({ ...C }).councilSize, 5)
  t.equal(usableLeaseMs(C), 940)
  t.equal(failoverBoundMs(C, 1), 2252, 'renew interval + slowest timeout + two round trips (pre-vote, vote)')
  t.ok(failoverBoundMs(C, 1) <= 3000, 'DESIGN.md §10: ≤ 3 s')
  t.ok(Object.isFrozen(C))
})

t.test('docs/election.md quotes the figures the code computes', async (t) => {
  const doc = readFileSync(new URL('../../../docs/election.md', import.meta.url), 'utf8')
  for (const figure of ['940 ms', '2,252 ms', '1,200', '2,000', '250 ms', '10 s']) t.match(doc, figure, `mentions ${figure}`)
})

t.test('config relations: each broken rule is named', async (t) => {
  const rows: Array<[Partial<ElectionConfig>, RegExp]> = [
    [{ councilSize: 0 }, /councilSize must be an integer in \[1, 7\]/],
    [{ councilSize: 8 }, /councilSize must be an integer in \[1, 7\]/],
    [{ councilSize: 2.5 }, /councilSize/],
    [{ electionTimeoutMinMs: 1000 }, /electionTimeoutMinMs \(1000\) must exceed leaseMs \(1000\)/],
    [{ electionTimeoutMaxMs: 1200 }, /electionTimeoutMaxMs \(1200\) must exceed electionTimeoutMinMs/],
    [{ renewIntervalMs: 471 }, /renewIntervalMs \(471\) must be at most half the usable lease/],
    [{ maxClockDriftRatio: 0.5 }, /maxClockDriftRatio must be in \[0, 0.5\)/],
    [{ maxClockDriftRatio: Number.NaN }, /maxClockDriftRatio/],
    [{ stepDownAfterMs: 999 }, /stepDownAfterMs \(999\) must be at least leaseMs/],
    [{ announceIntervalMs: 0 }, /announceIntervalMs/],
    [{ driftMarginMs: -1 }, /driftMarginMs/],
  ]
  for (const [patch, message] of rows) {
    t.throws(() => validateElectionConfig({ ...C, ...patch }), { name: 'ElectionConfigError', message }, JSON.stringify(patch))
  }
  t.ok(new ElectionConfigError('x') instanceof RangeError)
  t.equal(validateElectionConfig({ ...C, renewIntervalMs: 470 }).renewIntervalMs, 470, '2 × 470 ≤ 940')
})

t.test('majorities', async (t) => {
  for (const [n, m] of [[1, 1], [2, 2], [3, 2], [4, 3], [5, 3], [6, 4], [7, 4]]) t.equal(majority(n!), m, `${n} → ${m}`)
  t.throws(() => majority(0))
  t.equal(hasMajority(['a', 'b', 'c'], new Set(['a', 'x', 'y'])), false, 'outsiders do not count')
  t.equal(hasMajority(['a', 'b', 'c'], new Set(['a', 'c'])), true)
})

t.test('epochs carry the term that proposed them', async (t) => {
  const rows: Array<[number, number, number | undefined]> = [
    [1, 1, 1001], // the founding council, first change of term 1
    [1001, 1, 1002],
    [1002, 3, 3001], // a new term starts its own range
    [3001, 3, 3002],
    [1998, 1, 1999],
    [1999, 1, undefined], // term 1 has made all the changes it may
    [1, 7, 7001],
  ]
  for (const [epoch, term, next] of rows) t.equal(nextEpoch(epoch, term), next, `after ${epoch} in term ${term}`)
  t.throws(() => nextEpoch(5001, 4), /from a term after/)
  t.equal(epochTerm(1), 0)
  t.equal(epochTerm(3002), 3)
  t.equal(formatEpoch(3002), '3002 (term 3, change 2)')
  t.equal(isStaleTerm(4, 5), true)
  t.equal(isStaleTerm(5, 5), false)
})

t.test('the next council change', async (t) => {
  const rows: Array<{ name: string, members: string[], candidates: string[], size?: number, want: unknown }> = [
    { name: 'grow: the first candidate not seated', members: ['a'], candidates: ['c', 'a', 'b'], want: { kind: 'add', node: 'c', members: ['a', 'c'] } },
    { name: 'full: nothing', members: ['a', 'b', 'c'], candidates: ['a', 'b', 'c', 'd'], size: 3, want: undefined },
    { name: 'removal first, even with a free seat', members: ['a', 'b', 'c'], candidates: ['a', 'c', 'd'], want: { kind: 'remove', node: 'b', members: ['a', 'c'] } },
    { name: 'the coordinator is never removed', members: ['a', 'b'], candidates: ['b'], want: undefined },
    { name: 'trim past the size, last seated first', members: ['a', 'b', 'c', 'd'], candidates: ['a', 'b', 'c', 'd'], size: 3, want: { kind: 'remove', node: 'd', members: ['a', 'b', 'c'] } },
    { name: 'no candidates left to add', members: ['a', 'b'], candidates: ['a', 'b'], want: undefined },
  ]
  for (const r of rows) {
    const change = nextChange({ epoch: 1, members: r.members }, new Set(r.candidates), r.candidates, 'a', r.size ?? 5)
    t.same(change, r.want, r.name)
  }
})

t.test('councils off the wire are checked', async (t) => {
  const council = (epoch: number, members: string[]) => create(CouncilSchema, { epoch, members })
  t.same(councilFromWire(council(3, ['a', 'b'])), { epoch: 3, members: ['a', 'b'] })
  for (const [name, c] of [
    ['epoch 0', council(0, ['a'])],
    ['fractional epoch', council(1.5, ['a'])],
    ['no members', council(1, [])],
    ['eight members', council(1, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'])],
    ['a member twice', council(1, ['a', 'a'])],
    ['an empty id', council(1, ['a', ''])],
  ] as const) t.equal(councilFromWire(c), undefined, name)
  t.equal(councilFromWire(undefined), undefined)
})

t.test('tidy: the election core reads no clock, draws no randomness and does no I/O', async (t) => {
  const dir = new URL('../../../agent/mesh/election/', import.meta.url)
  const banned = [/Date\.now/, /performance\.now/, /Math\.random/, /setTimeout|setInterval/, /from 'node:/, /libp2p/, /from 'level'/, /\bawait\b/, /process\.env/]
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'))
  t.ok(files.length >= 4)
  for (const f of files) {
    const text = readFileSync(new URL(f, dir), 'utf8')
    for (const b of banned) t.notMatch(text, b, `${f}: ${b}`)
  }
})
