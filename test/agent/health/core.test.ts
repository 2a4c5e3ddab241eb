// The pure parts of agent/health, without NVML: history (increase, rate, count, bursts), the
// incident book, the policy compiler and its errors, the XID table, event classification and the
// NVLink5 decode of every worked example in reference/xid-catalog.md §6.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import {
  GpuEventKind, GpuEventSchema, HealthAction, HealthState, ReasonSchema, type GpuEvent, type Reason,
} from '../../../proto/gen/shoal_pb.js'
import { classifyNvidiaLine } from '../../../agent/gpu/kmsg/nvidia.js'
import { parseNvlink5Detail } from '../../../agent/gpu/kmsg/nvlink5.js'
import { classifyEvent } from '../../../agent/health/classify.js'
import { DEFAULT_HISTORY_LIMITS, GpuHistory } from '../../../agent/health/history.js'
import { IncidentBook } from '../../../agent/health/incidents.js'
import { decodeNvlink5 } from '../../../agent/health/nvlink5.js'
import { compilePolicy, POLICY_LIMITS, PolicyError, type PolicyProblem } from '../../../agent/health/policy.js'
import { eventSelectors, isEventSelector, ownSelector } from '../../../agent/health/selectors.js'
import { XID_UNKNOWN, xidCatalog, xidEntry } from '../../../agent/health/xid.js'
import { KMSG_FIXTURES } from '../gpu/fixtures/kmsg-lines.js'
import { DAY, DEFAULT_POLICY, HOUR, MINUTE, SECOND } from './fixtures/support.js'

const { NONE, WATCH, RESET, REBOOT, REPLACE } = HealthAction

// ---- history -----------------------------------------------------------------------------------

const counter = (window: number): GpuHistory => new GpuHistory(new Map([['c', window]]), 1, DEFAULT_HISTORY_LIMITS)
const push = (h: GpuHistory, t: number, v: number): void => h.recordNumbers(new Map([['c', v]]), t)

t.test('history: increase counts a drop as a reset, growth from zero', async (t) => {
  const h = counter(MINUTE)
  push(h, 0, 10)
  push(h, 1000, 15)
  push(h, 2000, 3) // driver reload: 3 new since
  push(h, 3000, 5)
  t.equal(h.increase('c', MINUTE, 3000), 5 + 3 + 2)
  t.equal(h.increase('not-tracked', MINUTE, 3000), 0, 'an untracked counter has no growth')
  push(h, 4000, 0)
  t.equal(h.increase('c', MINUTE, 4000), 10, 'a reset to 0 adds nothing')
})

t.test('history: increase over a window shorter than the history', async (t) => {
  const h = counter(MINUTE)
  for (let s = 0; s <= 100; s++) push(h, s * SECOND, 2 * s)
  t.equal(h.increase('c', 10 * SECOND, 100 * SECOND), 20, 'the last 10 s: 20')
  t.equal(h.increase('c', MINUTE, 100 * SECOND), 120, 'the tracked minute: 120')
  t.equal(h.increase('c', HOUR, 100 * SECOND), 120, 'beyond the tracked window: only what is kept (one minute)')
})

t.test('history: rate over the part of the window history covers', async (t) => {
  const h = counter(MINUTE)
  t.equal(h.rate('c', MINUTE, 0), 0, 'nothing recorded: 0')
  push(h, 0, 0)
  t.equal(h.rate('c', MINUTE, 0), 0, 'one point: 0, not a division by zero')
  push(h, 10 * SECOND, 20)
  t.equal(h.rate('c', MINUTE, 10 * SECOND), 2, '20 over the 10 s known, not over the minute asked')
  for (let s = 11; s <= 130; s++) push(h, s * SECOND, 20 + (s - 10))
  t.equal(h.rate('c', MINUTE, 130 * SECOND), 1, 'a full window: growth over the window')
})

t.test('history: thinning to the point budget keeps growth exact', async (t) => {
  const h = new GpuHistory(new Map([['c', 10 * SECOND]]), 1, { ...DEFAULT_HISTORY_LIMITS, maxPoints: 10 })
  let v = 0
  for (let ms = 0; ms <= 60_000; ms += 100) {
    v = ms === 30_000 ? 0 : v + 1 // one reset in the middle
    push(h, ms, v)
  }
  const g = h.increase('c', 10 * SECOND, 60_000)
  t.ok(g >= 100 && g <= 110, `10 s of 10 a second with points a second apart: ${g} in 100..110`)
  t.equal(h.increase('c', 100 * MINUTE, 60_000), g, 'older points are gone: the window bounds age')
})

t.test('history: count and bursts, with the 180 s gap', async (t) => {
  const h = new GpuHistory(new Map(), DAY, DEFAULT_HISTORY_LIMITS)
  const at = (s: number, ...sel: string[]): void => h.recordEvent(sel, s * SECOND)
  at(0, 'xid', 'xid:13')
  at(60, 'xid', 'xid:13')
  at(240, 'xid', 'xid:13') // 180 s after the last: the same burst
  at(300, 'xid', 'xid:48')
  at(421, 'xid', 'xid:13') // 181 s after the last 13: a new burst of 13
  const now = 421 * SECOND
  t.equal(h.count('xid:13', DAY, now), 4)
  t.equal(h.bursts('xid:13', DAY, now), 2, 'a gap of exactly 180 s joins; 181 s splits')
  t.equal(h.bursts('xid', DAY, now), 1, 'the 48 between keeps "any XID" in one burst')
  t.equal(h.count('xid:13', 200 * SECOND, now), 2, 'a window counts what is inside it')
  t.equal(h.bursts('xid:13', 200 * SECOND, now), 2)
  t.equal(h.count('xid:79', DAY, now), 0)
  t.equal(h.bursts('xid:79', DAY, now), 0)
})

t.test('history: events are bounded in number and in age', async (t) => {
  const h = new GpuHistory(new Map(), DAY, { ...DEFAULT_HISTORY_LIMITS, maxEvents: 5 })
  for (let i = 0; i < 10; i++) h.recordEvent(['xid'], i)
  t.equal(h.count('xid', DAY, 10), 5, 'the last 5 kept')
  const aged = new GpuHistory(new Map(), HOUR, DEFAULT_HISTORY_LIMITS)
  aged.recordEvent(['xid'], 0)
  aged.recordEvent(['xid'], HOUR + 1)
  t.equal(aged.count('xid', DAY, HOUR + 1), 1, 'older than the longest window any rule reads: forgotten')
})

// ---- incidents ---------------------------------------------------------------------------------

const xidEvent = (xid: number): GpuEvent => create(GpuEventSchema, { kind: GpuEventKind.XID, xid })
const finding = (rule: string, action: HealthAction, state: HealthState, gpu?: number, cls = 'gpu'): Reason =>
  create(ReasonSchema, { rule, action, state, gpuIndex: gpu, incidentClass: cls })

t.test('incidents: one per burst, split after more than the gap of quiet', async (t) => {
  const book = new IncidentBook({ burstGapMs: 180_000, maxMembers: 32, keepClosed: 8 })
  t.equal(book.addEvent(xidEvent(62), 'gpu', 0).opened, true, 'the first record opens one')
  t.equal(book.addEvent(xidEvent(154), 'recovery', 100_000).opened, false)
  t.equal(book.addEvent(xidEvent(109), 'gpu', 280_000).opened, false, '180 s of quiet: still the same')
  t.equal(book.tick(460_000), undefined, 'tick at exactly the gap: open')
  const closed = book.tick(460_001)
  t.equal(closed?.open, false, 'closed once quiet for longer than the gap')
  t.equal(closed?.eventCount, 3)
  t.same([closed?.firstMs, closed?.lastMs], [0, 280_000])
  t.equal(book.open, undefined)
  const next = book.addEvent(xidEvent(13), 'app', 470_000)
  t.ok(next.opened, 'the next record opens a new one')
  t.not(next.incident.id, closed?.id, 'with its own id')
  t.same(book.recent(10).map((i) => i.open), [true, false], 'most recent first')
})

t.test('incidents: the action is the most severe finding; the first at that severity is primary', async (t) => {
  const book = new IncidentBook({ burstGapMs: 180_000, maxMembers: 32, keepClosed: 8 })
  book.addEvent(xidEvent(145), 'nvlink', 0)
  t.equal(book.open?.class, 'nvlink', 'before findings: the first event\'s class')
  book.addEvent(xidEvent(45), 'app', 1)
  t.equal(book.open?.class, 'nvlink', 'a later event does not change it')
  let r = book.addFinding(finding('xid-watch', WATCH, HealthState.DEGRADED, 8, 'nvlink'), 2)
  t.ok(r.changed)
  t.same([r.incident.action, r.incident.primary], [WATCH, 'xid-watch (GPU 8)'])
  r = book.addFinding(finding('xid-reset', RESET, HealthState.DEGRADED, 10, 'nvlink'), 3)
  t.ok(r.changed, 'more severe: changed')
  r = book.addFinding(finding('row-remap', RESET, HealthState.UNHEALTHY, 9, 'hbm'), 4)
  t.ok(r.changed, 'same action, worse state: changed')
  t.same([r.incident.action, r.incident.state, r.incident.primary, r.incident.class], [RESET, HealthState.UNHEALTHY, 'row-remap (GPU 9)', 'hbm'])
  r = book.addFinding(finding('xid-reset', RESET, HealthState.UNHEALTHY, 11), 5)
  t.notOk(r.changed, 'as severe as the primary: the first stays primary')
  r = book.addFinding(finding('hw-slowdown', WATCH, HealthState.DEGRADED, 2), 6)
  t.notOk(r.changed, 'milder: nothing changes')
  t.equal(book.open?.primary, 'row-remap (GPU 9)')
  r = book.addFinding(finding('boot-gate', REPLACE, HealthState.UNHEALTHY, undefined, 'boot'), 7)
  t.same([r.incident.action, r.incident.primary, r.incident.class], [REPLACE, 'boot-gate', 'boot'], 'node-wide: no GPU in the primary')
})

t.test('incidents: members are bounded, the counts go on', async (t) => {
  const book = new IncidentBook({ burstGapMs: 180_000, maxMembers: 3, keepClosed: 2 })
  for (let i = 0; i < 10; i++) book.addEvent(xidEvent(13), 'app', i)
  for (let i = 0; i < 9; i++) book.addFinding(finding(`r${i}`, WATCH, HealthState.DEGRADED), 10 + i)
  book.addFinding(finding('last', REPLACE, HealthState.UNHEALTHY), 20)
  const open = book.open
  t.equal(open?.events.length, 3, 'events kept: the bound')
  t.equal(open?.eventCount, 10, 'events counted: all')
  t.equal(open?.findings.length, 3, 'findings kept: the bound')
  t.same([open?.action, open?.primary], [REPLACE, 'last'], 'a finding past the bound still sets the action')
  for (let k = 1; k <= 3; k++) {
    book.tick(k * HOUR)
    book.addEvent(xidEvent(13), 'app', k * HOUR)
  }
  t.equal(book.recent(100).length, 3, 'closed incidents kept: 2, plus the open one')
  const copy = book.recent(1)[0]
  if (copy !== undefined) copy.eventCount = 999
  t.equal(book.open?.eventCount, 1, 'recent() hands out copies')
  t.throws(() => new IncidentBook({ burstGapMs: 0, maxMembers: 1, keepClosed: 1 }), /positive/)
})

// ---- policy ------------------------------------------------------------------------------------

function problemsOf (text: string): PolicyProblem[] {
  try {
    compilePolicy(text, 'test.yaml')
  } catch (err) {
    if (err instanceof PolicyError) return [...err.problems]
    throw err
  }
  return []
}

const rule = (when: string, extra: Record<string, string> = {}, on = 'sample', name = 'r1'): string =>
  `  - name: ${name}\n    on: ${on}\n    when: ${JSON.stringify(when)}\n    state: degraded\n` +
  Object.entries(extra).map(([k, v]) => `    ${k}: ${v}\n`).join('')
const policy = (...rules: string[]): string => `version: 1\nname: test\nrules:\n${rules.join('')}`

t.test('policy: every compile error names the rule, field, expression and reason', async (t) => {
  type Want = Omit<Partial<PolicyProblem>, 'reason'> & { reason: RegExp }
  const cases: Array<[string, string, Want]> = [
    ['a syntax error', policy(rule('gpu.temperature_c >')), { rule: 'r1', field: 'when', expression: 'gpu.temperature_c >', reason: /unexpected|EOF/i }],
    ['an unknown signal', policy(rule('gpu.tempratur_c > 80')), { rule: 'r1', field: 'when', expression: 'gpu.tempratur_c > 80', reason: /tempratur_c/ }],
    ['a type error', policy(rule('gpu.temperature_c == 80.5')), { rule: 'r1', field: 'when', expression: 'gpu.temperature_c == 80.5', reason: /int == double/ }],
    ['a non-bool when', policy(rule('gpu.temperature_c + 1')), { rule: 'r1', field: 'when', reason: /must be a bool, this is int/ }],
    ['an unknown function', policy(rule('frobnicate(gpu.temperature_c)')), { rule: 'r1', field: 'when', reason: /frobnicate/ }],
    ['`for` on an event rule', policy(rule('event.xid == 48', { for: '30s' }, 'event')), { rule: 'r1', field: 'for', reason: /sample rules only/ }],
    ['increase() of a non-numeric signal', policy(rule('increase("uuid", duration("10m")) > 0.0')), { rule: 'r1', field: 'when', reason: /"uuid" is not a numeric GPU signal/ }],
    ['increase() of an unknown signal', policy(rule('increase("ecc.nope", duration("10m")) > 0.0')), { rule: 'r1', field: 'when', reason: /"ecc.nope" is not a numeric GPU signal/ }],
    ['rate() with a computed signal', policy(rule('rate(gpu.uuid, duration("1m")) > 0.0')), { rule: 'r1', reason: /literal signal name/ }],
    ['a non-literal window', policy(rule('increase("ecc.volatile_corrected", duration(gpu.uuid)) > 0.0')), { rule: 'r1', field: 'when', reason: /literal window/ }],
    ['a window over the limit', policy(rule('count("xid", duration("8d")) > 0', {}, 'event')), { rule: 'r1', reason: /outside 1ms\.\.7d/ }],
    ['an unknown selector', policy(rule('count("xyz", duration("1h")) > 0', {}, 'event')), { rule: 'r1', field: 'when', reason: /"xyz" is not an event selector/ }],
    ['event functions in a sample rule', policy(rule('event_count(duration("1h")) > 0')), { rule: 'r1', field: 'when', reason: /event_count/ }],
    ['a duplicate rule name', policy(rule('gpu.lost'), rule('gpu.lost')), { rule: 'r1', field: 'name', reason: /earlier rule/ }],
    ['an unknown YAML key', policy(rule('gpu.lost', { colour: 'red' })), { rule: 'r1', reason: /colour/ }],
    ['a bad duration', policy(rule('gpu.lost', { for: 'soon' })), { rule: 'r1', field: 'for', reason: /not a duration/ }],
    ['a bad action', policy(rule('gpu.lost', { action: 'explode' })), { rule: 'r1', field: 'action', reason: /./ }],
    ['a bad message template', policy(rule('gpu.lost', { message: '"GPU {gpu.nope}"' })), { rule: 'r1', field: 'message', expression: 'gpu.nope', reason: /nope/ }],
    ['a YAML syntax error', 'version: 1\nname: [test\nrules: x\n', { reason: /^YAML: / }],
    ['an oversize file', `# ${'x'.repeat(POLICY_LIMITS.maxBytes)}\n${policy(rule('gpu.lost'))}`, { reason: /over the 262144/ }],
    ['an alias bomb', 'version: 1\nname: t\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\nrules: []\n', { reason: /YAML: .*alias/i }],
    ['a wrong version', 'version: 2\nname: t\nrules:\n' + rule('gpu.lost'), { field: 'version', reason: /./ }],
  ]
  for (const [what, text, want] of cases) {
    const problems = problemsOf(text)
    t.equal(problems.length >= 1, true, `${what}: rejected`)
    const { reason, ...fields } = want
    t.match(problems[0], fields, `${what}: names ${Object.keys(fields).join(', ') || 'nothing more'}`)
    t.match(problems[0]?.reason ?? '', reason, `${what}: ${problems[0]?.reason ?? 'no reason'}`)
  }
  const err = (() => { try { compilePolicy(policy(rule('gpu.tempratur_c > 80')), 'fleet.yaml') } catch (e) { return e } })()
  t.ok(err instanceof PolicyError, 'a PolicyError')
  t.match((err as Error).message, /^fleet\.yaml: 1 problem in the health policy:\n {2}rule "r1": when: `gpu\.tempratur_c > 80` /, 'its message names the source, rule, field and expression')
  t.same(problemsOf(policy(rule('gpu.tempratur_c > 1', {}, 'sample', 'a'), rule('gpu.lost ||', {}, 'sample', 'b'))).map((p) => p.rule), ['a', 'b'], 'every bad rule, not just the first')
  t.same(problemsOf(policy(rule('gpu.lost', { for: 'x' }, 'sample', 'a'), rule('gpu.lost', { hold: 'y' }, 'sample', 'b'))).map((p) => p.rule), ['a', 'b'], 'every bad field, not just the first')
})

t.test('policy: a good user policy compiles to what it says', async (t) => {
  const p = compilePolicy(`version: 1
name: my-fleet
description: stricter thermal, any repeated 48 replaces
rules:
  - name: hot
    on: sample
    when: has(gpu.temperature_c) && gpu.temperature_c > 80
    for: 2m
    state: degraded
    action: watch
    class: thermal
    message: "GPU {gpu.index} at {gpu.temperature_c} C, {gpu.power_w} W; HBM {gpu.memory_temperature_c} C"
  - name: any-48
    on: event
    when: event.xid == 48 && count("xid:48", duration("7d")) >= 2
    state: unhealthy
    action: replace
    hold: forever
  - name: noisy-event
    on: event
    when: count(event.kind, duration("1h")) > 10
    state: degraded
  - name: replays
    on: sample
    when: rate("pcie.replay_counter", duration("5m")) > 1.0 || increase("pcie.replay_counter", duration("1h")) > 100.0
    state: degraded
`, '/etc/shoal/policy.yaml')
  t.same([p.name, p.source, p.rules.length], ['my-fleet', '/etc/shoal/policy.yaml', 4])
  t.match(p.digest, /^[0-9a-f]{12}$/)
  const [hot, any48, noisy, replays] = p.rules
  t.same([hot?.on, hot?.forMs, hot?.holdMs, hot?.action, hot?.state, hot?.class], ['sample', 120_000, 0, WATCH, HealthState.DEGRADED, 'thermal'])
  t.same([any48?.on, any48?.holdMs, any48?.action, any48?.class], ['event', Infinity, REPLACE, undefined])
  t.same([noisy?.holdMs, noisy?.action], [HOUR, NONE], 'an event finding holds an hour by default; action none')
  t.equal(replays?.holdMs, 0, 'a sample finding holds 0 by default')
  t.same([...p.tracked], [['pcie.replay_counter', HOUR]], 'each counter tracked over its longest window')
  t.equal(p.eventWindowMs, 7 * DAY, 'events are remembered for the longest window read: 7d (a computed selector needs a day)')
  const gpu = { index: 3n, temperature_c: 85n, power_w: 512.345 }
  t.equal(hot?.message({ gpu }), 'GPU 3 at 85 C, 512.35 W; HBM ? C', 'templates render; a part that fails (absent signal) is "?"')
  t.equal(hot?.test({ gpu }), true)
  t.equal(hot?.test({ gpu: { index: 3n } }), false, 'has() guards an absent signal')
  t.equal(any48?.message({}), 'any-48', 'no message: the name')
  const computed = compilePolicy(policy(rule('count(event.kind, duration("1h")) > 10', {}, 'event')), 'x')
  t.equal(computed.eventWindowMs, DAY, 'a computed selector alone: events remembered a day')
})

t.test('policy: the default compiles, and every rule name is unique and described', async (t) => {
  const names = DEFAULT_POLICY.rules.map((r) => r.name)
  t.equal(new Set(names).size, names.length)
  t.ok(DEFAULT_POLICY.rules.every((r) => r.description !== ''), 'every rule says why')
  t.same(new Map(DEFAULT_POLICY.tracked), new Map([
    ['ecc.volatile_uncorrected', 10 * MINUTE], ['ecc.sram_volatile_uncorrected', 10 * MINUTE],
    ['ecc.volatile_corrected', HOUR], ['pcie.replay_counter', 3 * MINUTE], ['nvlink.recovery', MINUTE],
    ['nvlink.replay', MINUTE], ['nvlink.crc_flit', MINUTE], ['nvlink.recovery_failed', 10 * MINUTE],
  ]))
  t.equal(DEFAULT_POLICY.eventWindowMs, DAY)
})

// ---- XID table, selectors and classification ---------------------------------------------------

t.test('XID table: all 172 codes, each with an action and a class', async (t) => {
  const all = xidCatalog()
  t.same(all.map((e) => e.code), Array.from({ length: 172 }, (_, i) => i + 1))
  const actions = new Set([NONE, WATCH, RESET, REBOOT, REPLACE])
  t.same(all.filter((e) => !actions.has(e.action) || !/^[a-z][a-z-]*$/.test(e.class) || e.name === '').map((e) => e.code), [])
  t.same(all.filter((e) => e.unused && e.action > WATCH).map((e) => e.code), [], 'no unused code does more than watch')
  t.same(all.filter((e) => e.app && (e.action > WATCH || e.escalate)).map((e) => e.code), [], 'no application XID acts or escalates')
  t.same(all.filter((e) => e.immediate === 'RESTART_APP' && !e.app).map((e) => e.code), [], 'every RESTART_APP code is application-level')
})

t.test('XID table: the codes the issue names', async (t) => {
  for (const code of [13, 31, 43, 45, 68, 69, 94]) {
    t.match(xidEntry(code), { app: true, action: WATCH, escalate: false }, `${code}: application-level, watch`)
  }
  for (const code of [79, 64, 54]) t.match(xidEntry(code), { action: REPLACE }, `${code}: replace`)
  for (const code of [48, 95, 119, 120]) t.match(xidEntry(code), { action: RESET, escalate: true, app: false }, `${code}: reset, replace if it recurs`)
  t.match(xidEntry(109), { action: RESET, escalate: false }, '109: reset, never escalated')
  t.match(xidEntry(63), { action: WATCH, class: 'hbm', escalate: false })
  t.match(xidEntry(79), { class: 'gpu-lost', immediate: 'RESTART_BM' })
  t.match(xidEntry(250), { code: 250, name: 'XID_250', action: WATCH, app: false, escalate: false }, 'a code past the catalog: watch')
  t.match(xidEntry(XID_UNKNOWN), { name: 'UNKNOWN', action: WATCH, escalate: false }, '999: watch')
  t.match(xidEntry(0), { action: WATCH, escalate: false })
})

t.test('selectors: kind, code and class', async (t) => {
  const e = create(GpuEventSchema, { kind: GpuEventKind.GPU_LOST, xid: 79 })
  t.same(eventSelectors(e, 'gpu-lost'), ['gpu_lost', 'class:gpu-lost', 'xid', 'xid:79'], 'a lost GPU is XID 79')
  t.equal(ownSelector(e), 'xid:79')
  const s = create(GpuEventSchema, { kind: GpuEventKind.SXID, xid: 20034 })
  t.same(eventSelectors(s, 'nvlink'), ['sxid', 'class:nvlink', 'sxid:20034'])
  t.equal(ownSelector(create(GpuEventSchema, { kind: GpuEventKind.ECC_DOUBLE_BIT })), 'ecc_double_bit')
  t.same(['xid', 'xid:48', 'sxid:20034', 'class:hbm', 'ecc_double_bit', 'gpu_unavailable'].filter(isEventSelector).length, 6)
  t.same(['', 'xid:', 'xid:abc', 'class:', 'Class:hbm', 'xid:1234567', 'unspecified-ish'].filter(isEventSelector), [])
})

function lineEvent (n: number): GpuEvent {
  const f = KMSG_FIXTURES.find((x) => x.n === n)
  const r = classifyNvidiaLine(f?.line ?? '')
  if (r?.ok !== true) throw new Error(`fixture #${n} did not parse`)
  return r.event
}

t.test('classification: XID 45 names its cause; XID 154 carries its action', async (t) => {
  t.match(classifyEvent(lineEvent(16)), { cause: 149, app: true, action: WATCH }, '45 caused by previous Xid 149')
  t.match(classifyEvent(create(GpuEventSchema, { kind: GpuEventKind.XID, xid: 45 })), { cause: 0 }, '45 solo')
  const expect154: Array<[number, HealthAction]> = [[20, RESET], [46, RESET], [47, RESET], [48, REBOOT]]
  for (const [n, action] of expect154) t.equal(classifyEvent(lineEvent(n)).action, action, `fixture #${n}`)
  const with154 = (detail: string): HealthAction => classifyEvent(create(GpuEventSchema, { kind: GpuEventKind.XID, xid: 154, detail })).action
  t.equal(with154('GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)'), NONE)
  t.equal(with154('GPU recovery action changed from 0x0 (None) to 0x5 (Recover IMEX Domain)'), REBOOT)
  t.equal(with154('GPU recovery action changed from 0x0 (None) to 0x3f (Something New)'), WATCH, 'an action NVML does not define: watch')
  t.equal(with154(''), WATCH, 'no text (NVML): watch; the sampled field 230 decides')
})

t.test('classification: NVML event kinds, SXIDs and lost GPUs', async (t) => {
  const kind = (k: GpuEventKind, extra = {}): HealthAction => classifyEvent(create(GpuEventSchema, { kind: k, ...extra })).action
  t.equal(kind(GpuEventKind.ECC_SINGLE_BIT), NONE)
  t.equal(kind(GpuEventKind.ECC_DOUBLE_BIT), RESET)
  t.equal(kind(GpuEventKind.DRAM_RETIREMENT_FAILURE), REPLACE)
  t.equal(kind(GpuEventKind.GPU_UNAVAILABLE), REPLACE)
  t.equal(kind(GpuEventKind.POISON_FATAL), RESET)
  t.equal(kind(GpuEventKind.WAIT_ERROR), NONE, 'the wait failing is not a GPU fault')
  t.equal(kind(GpuEventKind.GPU_LOST, { xid: 79 }), REPLACE)
  t.equal(kind(99 as GpuEventKind), NONE, 'a kind from the future: nothing')
  t.match(classifyEvent(lineEvent(53)), { action: RESET, class: 'nvlink', escalate: true }, 'fatal SXID')
  t.match(classifyEvent(lineEvent(51)), { action: NONE, class: 'nvlink' }, 'non-fatal SXID')
  t.match(classifyEvent(lineEvent(55)), { action: NONE }, 'continuation record')
})

t.test('NVLink5 decode: every worked example of xid-catalog.md §6', async (t) => {
  const words = (intrinfo: string, status: string): string => `(${intrinfo} ${status} 0x00000000 0x00000000 0x00000000 0x00000000)`
  const cases: Array<[string, string, HealthAction]> = [
    ['0x004505c6 NETIR_LINK_EVT: sub-code 4, reset', lineEvent(41).detail, RESET],
    ['0x025001c6: sub-code 37 (peer device), reset', lineEvent(45).detail, RESET],
    ['0x026001c6: sub-code 38, ignore', `NETIR_LINK_EVT Fatal XC0 i0 Link 04 ${words('0x026001c6', '0x00000000')}`, NONE],
    ['0x021425c6: sub-code 33, reset', lineEvent(42).detail, RESET],
    ['0x000fe406 NETIR, Link -1: reset', lineEvent(43).detail, RESET],
    ['0x0409a0c2 + 0x8: RLW_RXPIPE, ignore', lineEvent(39).detail, NONE],
    ['0x040988e2 + 0x8: RLW_SRC_TRACK, the 154 decides', lineEvent(40).detail, WATCH],
    ['SAW_MVB 0x8: ignore', lineEvent(38).detail, NONE],
    ['SAW_MVB 0x2: reset', `SAW_MVB Fatal XC0 i0 Link 0 ${words('0x00000021', '0x00000002')}`, RESET],
    ['NETIR_BER_EVENT 0x1: ignore', lineEvent(44).detail, NONE],
    ['NETIR_LINK_EVT sub-code 5, not in the sheet, logged Nonfatal: watch', `NETIR_LINK_EVT Nonfatal XC0 i0 Link 02 ${words('0x00500000', '0x0')}`, WATCH],
    ['an unknown unit logged Fatal: reset', `NEW_UNIT Fatal XC0 i0 Link 01 ${words('0x1', '0x1')}`, RESET],
    ['a known unit, unknown status, logged Nonfatal: watch', `RLW_CTRL Nonfatal XC0 i0 Link 01 ${words('0x62', '0x4')}`, WATCH],
    ['TLW/RX_PIPE0 (unit/sub-unit) 0x4: reset', `TLW/RX_PIPE0 Nonfatal XC1 i0 Link 07 ${words('0x143', '0x4')}`, RESET],
    ['TLW/RX_PIPE0 0x2: ignore', `TLW/RX_PIPE0 Nonfatal XC1 i0 Link 07 ${words('0x143', '0x2')}`, NONE],
    ['RLW_REMAP 0x1: the 154 decides', `RLW_REMAP Nonfatal XC0 i0 Link 03 ${words('0x82', '0x1')}`, WATCH],
    ['RLW_TAGSTATE 0x20000: reset', `RLW_TAGSTATE Fatal XC0 i0 Link 03 ${words('0x102', '0x00020000')}`, RESET],
    ['TREX 0x80000000: ignore', `TREX Nonfatal XC0 i0 Link 11 ${words('0x184', '0x80000000')}`, NONE],
    ['NVLPW_CTRL 0x80000000: ignore', `NVLPW_CTRL Nonfatal XC0 i0 Link 11 ${words('0x5', '0x80000000')}`, NONE],
    ['NETIR_MFDE_EVENT 0x3: ignore', `NETIR_MFDE_EVENT Fatal XC0 i0 Link 02 ${words('0x246', '0x3')}`, NONE],
    ['NETIR_MFDE_EVENT 0x5: reset', `NETIR_MFDE_EVENT Fatal XC0 i0 Link 02 ${words('0x246', '0x5')}`, RESET],
    ['MSE_WATCHDOG 0x0: reset', `MSE_WATCHDOG Fatal XC0 i0 Link -1 ${words('0x0', '0x0')}`, RESET],
  ]
  for (const [what, detail, action] of cases) {
    const d = parseNvlink5Detail(detail)
    t.ok(d !== undefined, `${what}: parses`)
    if (d !== undefined) t.equal(decodeNvlink5(d).action, action, what)
  }
  const e = lineEvent(41)
  t.match(classifyEvent(e), { action: RESET, why: /NETIR_LINK_EVT sub-code 4: reset/ }, 'classifyEvent uses the decode')
  const bare = create(GpuEventSchema, { kind: GpuEventKind.XID, xid: 145, detail: '' })
  t.match(classifyEvent(bare), { action: WATCH, escalate: false, why: /no text to decode yet/ },
    'no text to decode (an NVML event): watched until the kernel-log line decodes it')
})

t.test('docs/health-policy.md tables are generated from the code and current', async (t) => {
  const { readFileSync } = await import('node:fs')
  const { renderHealthDocs } = await import('../../tools/health-docs.js')
  const doc = readFileSync(new URL('../../../docs/health-policy.md', import.meta.url), 'utf8')
  t.equal(renderHealthDocs(doc), doc, 'run: node --import tsx test/tools/health-docs.ts --write')
  t.match(doc, /`gpu\.remapped_rows\.failure`/, 'signals listed')
  t.match(doc, /\| 79 \| ROBUST_CHANNEL_GPU_HAS_FALLEN_OFF_THE_BUS \| RESTART_BM \| replace \| gpu-lost \|/, 'XID table')
})

t.test('shoal policy check: valid and invalid files, and the default', async (t) => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const { main } = await import('../../../agent/cli/shoal.js')
  const dir = mkdtempSync(join(tmpdir(), 'shoal-policy-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const run = async (...args: string[]): Promise<{ code: number, out: string, err: string }> => {
    let out = ''
    let err = ''
    const code = await main(args, { out: (s) => { out += s }, err: (s) => { err += s } }, {})
    return { code, out, err }
  }
  const def = await run('policy', 'default')
  t.equal(def.code, 0)
  const good = join(dir, 'good.yaml')
  writeFileSync(good, def.out)
  const ok = await run('policy', 'check', good)
  t.equal(ok.code, 0)
  t.match(ok.out, /policy shoal-default@[0-9a-f]{12} is valid, \d+ rules/)
  t.match(ok.out, /xid-replace +event +unhealthy +replace/)
  const bad = join(dir, 'bad.yaml')
  writeFileSync(bad, def.out.replace('when: gpu.lost', 'when: gpu.lots'))
  const no = await run('policy', 'check', bad)
  t.equal(no.code, 1)
  t.match(no.err, /rule "gpu-lost": when: `gpu.lots` No such key: lots/)
  t.equal((await run('policy', 'check', join(dir, 'missing.yaml'))).code, 1)
  t.equal((await run('policy', 'frobnicate')).code, 2)
})
