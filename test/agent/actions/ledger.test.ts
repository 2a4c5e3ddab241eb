// agent/actions/ledger.ts: a command is applied once however often it is delivered, a stale term is
// refused (DESIGN.md §5), and the node's cordoned/draining/drained flags follow applied commands.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import { CommandAckSchema, CommandKind, CommandSchema, CommandStatus, type Command, type CommandAck } from '../../../proto/gen/shoal_pb.js'
import { CommandLedger } from '../../../agent/actions/ledger.js'
import { AssertionError } from '../../../agent/lib/assert.js'

const SELF = '12D3KooWSelf'
const OTHER = '12D3KooWOther'
const NOW = 1_700_000_000_000
const { CORDON, UNCORDON, DRAIN } = CommandKind
const { APPLIED, FAILED, REFUSED } = CommandStatus

function cmd (id: string, kind: CommandKind, term = 7, target = SELF): Command {
  return create(CommandSchema, { id, kind, term, target, coordinator: '12D3KooWCoord', reason: 'test', timeMs: NOW })
}

function ack (c: Command, status: CommandStatus, detail = ''): CommandAck {
  return create(CommandAckSchema, { id: c.id, term: c.term, node: SELF, status, detail, timeMs: NOW, kind: c.kind })
}

const ledger = (restored: CommandAck[] = [], maxEntries = 100): CommandLedger => new CommandLedger(restored, { maxEntries, self: SELF })

/** decide → started → record, as the driver does. */
function applyAll (l: CommandLedger, steps: Array<[Command, CommandStatus]>): void {
  for (const [c, status] of steps) {
    const d = l.decide(c, c.term, NOW)
    if (d.kind !== 'apply') throw new Error(`${c.id}: expected apply, got ${d.kind}`)
    l.started(c)
    l.record(ack(c, status))
  }
}

const flags = (l: CommandLedger): string => [l.cordoned ? 'cordoned' : '', l.draining ? 'draining' : '', l.drained ? 'drained' : ''].filter(Boolean).join(',') || 'none'

t.test('applied once: a redelivery while the hook runs is in-progress, afterwards a duplicate with the same ack', async (t) => {
  const l = ledger()
  const c = cmd('cordon-1', CORDON)
  t.same(l.decide(c, 7, NOW), { kind: 'apply' })
  l.started(c)
  t.same(l.decide(c, 7, NOW), { kind: 'in-progress' })
  t.equal(l.inProgress, 1)
  const a = ack(c, APPLIED, 'no hook configured')
  l.record(a)
  const again = l.decide(c, 7, NOW)
  t.equal(again.kind, 'duplicate')
  t.equal(again.kind === 'duplicate' && again.ack, a, 'the recorded ack itself')
  t.equal(l.inProgress, 0)
  t.equal(l.size, 1)
  // A duplicate is answered even from a term now stale: it was applied, and the ack is history.
  t.equal(l.decide(c, 9, NOW).kind, 'duplicate')
})

t.test('a failed command is final too: the redelivery gets the FAILED ack, not a second run', async (t) => {
  const l = ledger()
  const c = cmd('drain-1', DRAIN)
  applyAll(l, [[c, FAILED]])
  const d = l.decide(c, 7, NOW)
  t.equal(d.kind, 'duplicate')
  t.equal(d.kind === 'duplicate' && d.ack.status, FAILED)
})

t.test('refusals: stale term, another target, malformed commands (table)', async (t) => {
  const rows: Array<[string, Command, number, string]> = [
    ['stale term (Raft §5.1: a lower term is refused)', cmd('c-stale', CORDON, 6), 7, 'stale term 6: this node has seen term 7'],
    ['much older term', cmd('c-old', UNCORDON, 1), 12, 'stale term 1: this node has seen term 12'],
    ['another node\'s command', cmd('c-other', CORDON, 7, OTHER), 7, `the command is for ${OTHER}, not for this node (${SELF})`],
    ['no target', cmd('c-none', CORDON, 7, ''), 7, `the command is for (no target), not for this node (${SELF})`],
    ['empty id', cmd('', CORDON), 7, 'a command id is 1..256 characters, got 0'],
    ['id too long', cmd('x'.repeat(257), CORDON), 7, 'a command id is 1..256 characters, got 257'],
    ['unknown kind', cmd('c-kind', 99 as CommandKind), 7, 'unknown command kind 99 (this agent applies cordon, uncordon, drain)'],
    ['unspecified kind', cmd('c-unspec', CommandKind.UNSPECIFIED), 7, 'unknown command kind 0 (this agent applies cordon, uncordon, drain)'],
    ['term 0', cmd('c-t0', CORDON, 0), 0, 'a command\'s term is a whole number from 1, got 0'],
    ['fractional term', cmd('c-frac', CORDON, 7.5), 7, 'a command\'s term is a whole number from 1, got 7.5'],
  ]
  for (const [name, c, highest, detail] of rows) {
    const l = ledger()
    const d = l.decide(c, highest, NOW + 5)
    t.equal(d.kind, 'refuse', name)
    if (d.kind !== 'refuse') continue
    t.equal(d.ack.status, REFUSED, name)
    t.equal(d.ack.detail, detail, name)
    t.same([d.ack.id, d.ack.term, d.ack.node, d.ack.kind, d.ack.timeMs], [c.id, c.term, SELF, c.kind, NOW + 5], `${name}: the ack names the command, this node and now`)
    t.equal(l.size, 0, `${name}: nothing recorded`)
  }
})

t.test('terms: the current term and newer ones apply', async (t) => {
  const l = ledger()
  t.equal(l.decide(cmd('a', CORDON, 7), 7, NOW).kind, 'apply', 'same term')
  t.equal(l.decide(cmd('b', CORDON, 8), 7, NOW).kind, 'apply', 'a newer term (the caller folds it into highestTerm first, but either way)')
})

t.test('a refusal is about one delivery: the same id in a current term applies later', async (t) => {
  const l = ledger()
  const stale = cmd('cordon-x', CORDON, 5)
  t.equal(l.decide(stale, 6, NOW).kind, 'refuse')
  t.equal(l.decide(cmd('cordon-x', CORDON, 6), 6, NOW).kind, 'apply')
})

t.test('one id, one intent: the same id for another kind is refused', async (t) => {
  const l = ledger()
  applyAll(l, [[cmd('id-1', CORDON), APPLIED]])
  const d = l.decide(cmd('id-1', UNCORDON), 7, NOW)
  t.equal(d.kind, 'refuse')
  t.equal(d.kind === 'refuse' && d.ack.detail, 'command id id-1 was already used for a cordon')
})

t.test('without self, targets are not checked and refusals name the target', async (t) => {
  const l = new CommandLedger([], { maxEntries: 10 })
  t.equal(l.decide(cmd('a', CORDON, 7, OTHER), 7, NOW).kind, 'apply')
  const d = l.decide(cmd('b', CORDON, 3, OTHER), 7, NOW)
  t.equal(d.kind === 'refuse' && d.ack.node, OTHER)
})

// Each row: commands applied in order (kind, final status), and the flags after. A drain's flags
// while it runs are checked separately below.
const flagRows: Array<[string, Array<[CommandKind, CommandStatus]>, string]> = [
  ['nothing yet', [], 'none'],
  ['cordon', [[CORDON, APPLIED]], 'cordoned'],
  ['a failed cordon changes nothing', [[CORDON, FAILED]], 'none'],
  ['uncordon after cordon', [[CORDON, APPLIED], [UNCORDON, APPLIED]], 'none'],
  ['a failed uncordon leaves the cordon', [[CORDON, APPLIED], [UNCORDON, FAILED]], 'cordoned'],
  ['drain: cordoned, draining, and drained once applied', [[DRAIN, APPLIED]], 'cordoned,draining,drained'],
  ['a failed drain changes nothing', [[DRAIN, FAILED]], 'none'],
  ['a failed drain after a cordon stays cordoned', [[CORDON, APPLIED], [DRAIN, FAILED]], 'cordoned'],
  ['uncordon ends a drain', [[DRAIN, APPLIED], [UNCORDON, APPLIED]], 'none'],
  ['cordon during a drained state keeps it', [[DRAIN, APPLIED], [CORDON, APPLIED]], 'cordoned,draining,drained'],
  ['drain, uncordon, cordon', [[DRAIN, APPLIED], [UNCORDON, APPLIED], [CORDON, APPLIED]], 'cordoned'],
]

t.test('node flags follow applied commands (table)', async (t) => {
  for (const [name, steps, want] of flagRows) {
    const l = ledger()
    applyAll(l, steps.map(([kind, status], i) => [cmd(`${name}-${i}`, kind), status]))
    t.equal(flags(l), want, name)
  }
})

t.test('restored acks give the same flags and duplicates as living through them; refusals are skipped', async (t) => {
  for (const [name, steps, want] of flagRows) {
    const acks = steps.map(([kind, status], i) => ack(cmd(`${name}-${i}`, kind), status))
    const restored = ledger([...acks, ack(cmd('refused-1', CORDON), REFUSED)])
    t.equal(flags(restored), want, name)
    for (const a of acks) t.equal(restored.decide(cmd(a.id, a.kind), 7, NOW).kind, 'duplicate', `${name}: ${a.id} restored`)
    t.equal(restored.decide(cmd('refused-1', CORDON), 7, NOW).kind, 'apply', `${name}: a refusal is not a record`)
  }
})

t.test('a running drain reads cordoned and draining, not drained; the verdict comes with its ack', async (t) => {
  const l = ledger()
  const d = cmd('drain-9', DRAIN)
  t.equal(l.decide(d, 7, NOW).kind, 'apply')
  l.started(d)
  t.equal(flags(l), 'cordoned,draining')
  // A cordon applied meanwhile (a command per node at a time is not required).
  applyAll(l, [[cmd('cordon-9', CORDON), APPLIED]])
  t.equal(flags(l), 'cordoned,draining')
  l.record(ack(d, FAILED, '3 workloads still running after 10m'))
  t.equal(flags(l), 'cordoned', 'the failed drain is gone; the cordon stays')
})

t.test('bounded: the oldest acks are forgotten past maxEntries', async (t) => {
  const l = ledger([], 3)
  const cs = [1, 2, 3, 4].map((i) => cmd(`c${i}`, CORDON))
  applyAll(l, cs.map((c) => [c, APPLIED]))
  t.equal(l.size, 3)
  t.equal(l.ack('c1'), undefined)
  t.equal(l.decide(cs[0] as Command, 7, NOW).kind, 'apply', 'forgotten: applies again (maxEntries is sized so this never happens)')
  t.equal(l.decide(cs[3] as Command, 7, NOW).kind, 'duplicate')
  const restored = ledger(cs.map((c) => ack(c, APPLIED)), 2)
  t.equal(restored.size, 2)
  t.same([restored.ack('c3')?.id, restored.ack('c4')?.id], ['c3', 'c4'])
  t.equal(flags(restored), 'cordoned', 'flags come from every restored ack, kept or not')
})

t.test('commands in progress are bounded', async (t) => {
  const l = ledger([], 1000)
  for (let i = 0; i < 64; i++) {
    const c = cmd(`p${i}`, CORDON)
    t.equal(l.decide(c, 7, NOW).kind, 'apply')
    l.started(c)
  }
  const d = l.decide(cmd('p64', CORDON), 7, NOW)
  t.equal(d.kind === 'refuse' && d.ack.detail, '64 commands are already being applied here; try again')
})

t.test('driver bugs are assertions', async (t) => {
  const l = ledger()
  const c = cmd('a', CORDON)
  l.started(c)
  t.throws(() => { l.started(c) }, AssertionError, 'started twice')
  t.throws(() => { l.record(ack(c, REFUSED)) }, AssertionError, 'a refusal is not final')
  t.throws(() => { l.record(ack(cmd('a', DRAIN), APPLIED)) }, AssertionError, 'acked as another kind')
  l.record(ack(c, APPLIED))
  t.throws(() => { l.record(ack(c, APPLIED)) }, AssertionError, 'recorded twice')
  t.throws(() => { l.started(c) }, AssertionError, 'started after its ack')
  t.throws(() => new CommandLedger([], { maxEntries: 0 }), AssertionError)
  t.throws(() => new CommandLedger([], { maxEntries: 1.5 }), AssertionError)
})
