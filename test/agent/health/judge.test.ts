// HealthJudge as a state machine, on hand-made samples and events (no NVML): verdicts and their
// journal entries, `for` and `hold`, policy reloads, rule faults, the boot gate (runBootGate and
// its finding), a clock that steps back, and a seeded fuzz of 5,000 random inputs.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import {
  BootGateSchema, GpuEventKind, GpuEventSchema, GpuInfoSchema, GpuSampleSchema, HealthAction, HealthState,
  NvLinkState, type GpuEvent, type GpuInfo, type GpuSample, type RecoveryAction,
} from '../../../proto/gen/shoal_pb.js'
import { runBootGate } from '../../../agent/health/boot-gate.js'
import { DEFAULT_HISTORY_LIMITS } from '../../../agent/health/history.js'
import { DEFAULT_INCIDENT_LIMITS } from '../../../agent/health/incidents.js'
import { DEFAULT_JUDGE_CONFIG, HealthJudge, type JudgeEffects } from '../../../agent/health/judge.js'
import { compilePolicy } from '../../../agent/health/policy.js'
import { mulberry32 } from '../gpu/fixtures/support.js'
import {
  DAY, DEFAULT_POLICY, HOUR, MINUTE, SECOND, T0, healthySample, ruleKeys, short, verdictFromReasons,
} from './fixtures/support.js'

const xid = (code: number, gpuIndex?: number, detail = ''): GpuEvent =>
  create(GpuEventSchema, { kind: code === 79 ? GpuEventKind.GPU_LOST : GpuEventKind.XID, xid: code, gpuIndex, detail })
const verdictEntries = (fx: JudgeEffects): number => fx.journal.filter((j) => j.entry.case === 'verdict').length

t.test('verdict: unknown before any input; journaled only when it changes', async (t) => {
  const j = new HealthJudge(DEFAULT_POLICY)
  t.equal(j.verdict().state, HealthState.UNKNOWN)
  t.match(j.verdict().policy, /^shoal-default@[0-9a-f]{12}$/)
  let fx = j.samples([healthySample(0), healthySample(1)], T0)
  t.same(short(fx.verdict ?? j.verdict()), { state: 'healthy', action: 'none' })
  t.ok(fx.verdict !== undefined && verdictEntries(fx) === 1, 'the first verdict is journaled')
  for (let s = 1; s <= 5; s++) {
    fx = j.samples([healthySample(0), healthySample(1)], T0 + s * SECOND)
    t.equal(fx.verdict, undefined, `sample ${s}: no new verdict`)
    t.equal(verdictEntries(fx), 0, `sample ${s}: nothing journaled`)
  }
  fx = j.event(xid(48, 1), T0 + 6 * SECOND)
  t.same(fx.journal.map((e) => e.entry.case), ['event', 'incident', 'verdict'], 'event, then its incident, then the verdict')
  t.same(ruleKeys(fx.verdict?.reasons ?? []), ['xid-reset#1'])
  t.same(j.gpuSummaries().map((g) => [g.index, g.state, g.action]), [[0, HealthState.HEALTHY, HealthAction.NONE], [1, HealthState.UNHEALTHY, HealthAction.RESET]])
})

t.test('holds: an event finding expires on tick; forever stays', async (t) => {
  const j = new HealthJudge(DEFAULT_POLICY)
  j.samples([healthySample(0)], T0)
  j.event(xid(48, 0), T0)
  t.equal(j.tick(T0 + HOUR - 1).verdict, undefined, 'a millisecond before the hour: unchanged')
  const fx = j.tick(T0 + HOUR)
  t.same(short(fx.verdict ?? j.verdict()), { state: 'healthy', action: 'none' }, 'the hour: healthy')
  t.equal(verdictEntries(fx), 1)
  j.event(xid(79, 0), T0 + 2 * HOUR)
  j.tick(T0 + 400 * DAY)
  t.same(short(j.verdict()), { state: 'unhealthy', action: 'replace' }, 'hold forever: a year later, still replace')
})

t.test('for: the pending time restarts when the condition breaks', async (t) => {
  const j = new HealthJudge(DEFAULT_POLICY)
  let now = T0
  const at = (reasons: number): string => {
    now += SECOND
    j.samples([healthySample(0, { clockEventReasons: reasons })], now)
    return short(j.verdict()).state
  }
  for (let i = 0; i < 30; i++) t.equal(at(0x8), 'healthy', 'not yet') // 0..29 s
  t.equal(at(0x1), 'healthy', 'broken at 30 s')
  const states: string[] = []
  for (let i = 0; i < 31; i++) states.push(at(0x8))
  t.equal(states.indexOf('degraded'), 30, 'fires 30 s after it started again, not before')
})

t.test('setPolicy: findings of rules that remain stand, others go; counters restart only when needed', async (t) => {
  const j = new HealthJudge(DEFAULT_POLICY)
  let now = T0
  const step = (samples: GpuSample[]): void => { now += SECOND; j.samples(samples, now) }
  for (let i = 0; i < 31; i++) step([healthySample(1, { clockEventReasons: 0x8 }), healthySample(2, { temperatureMarginC: 1 })])
  j.event(xid(48, 0), now)
  j.bootGate(create(BootGateSchema, { passed: false, failures: ['7 GPUs, the pool expects 8'] }), now)
  t.same(ruleKeys(j.verdict().reasons), ['boot-gate#-', 'hw-slowdown#1', 'xid-reset#0'], 'temperature is still pending (31 s of 60)')

  const slim = compilePolicy(`version: 1
name: slim
rules:
  - name: xid-reset
    on: event
    when: event.action == "reset"
    state: unhealthy
    action: reset
    hold: 1h
  - name: dbe-slow
    on: sample
    when: increase("ecc.volatile_uncorrected", duration("1h")) >= 3.0
    state: unhealthy
    action: replace
`, 'slim.yaml')
  const fx = j.setPolicy(slim, now)
  t.same(ruleKeys(fx.verdict?.reasons ?? []), ['boot-gate#-', 'xid-reset#0'], 'hw-slowdown dropped; xid-reset and the boot gate stand')
  t.match(fx.verdict?.policy, /^slim@/)

  // The counter was read over 10 minutes; slim reads it over an hour: its history starts again.
  step([healthySample(3, { ecc: { volatileUncorrected: 0 } })])
  step([healthySample(3, { ecc: { volatileUncorrected: 2 } })])
  j.setPolicy(DEFAULT_POLICY, now)
  t.same(ruleKeys(j.verdict().reasons), ['boot-gate#-', 'xid-reset#0'])
  step([healthySample(3, { ecc: { volatileUncorrected: 3 } })])
  t.notOk(j.verdict().reasons.some((r) => r.rule === 'dbe-rate'), 'the default reads it over 10 minutes, slim over an hour: restarted, 0 growth')
  j.setPolicy(compilePolicy(`version: 1
name: same-window
rules:
  - name: dbe-rate
    on: sample
    when: increase("ecc.volatile_uncorrected", duration("10m")) >= 2.0
    state: unhealthy
    action: replace
`, 'same.yaml'), now)
  step([healthySample(3, { ecc: { volatileUncorrected: 5 } })])
  t.ok(j.verdict().reasons.some((r) => r.rule === 'dbe-rate' && r.gpuIndex === 3), 'a window no longer than before: the history carries over (3 → 5)')

  j.setPolicy(DEFAULT_POLICY, now)
  const temps: string[] = []
  for (let i = 0; i < 61; i++) {
    step([healthySample(2, { temperatureMarginC: 1 })])
    temps.push(j.verdict().reasons.some((r) => r.rule === 'temperature-at-slowdown') ? 'y' : 'n')
  }
  t.equal(temps.indexOf('y'), 60, 'a pending `for` of a dropped rule starts over when the rule comes back')
})

t.test('uncorrectable ECC events: 3 within 10 minutes replace, 2 reset', async (t) => {
  const j = new HealthJudge(DEFAULT_POLICY)
  const dbe = create(GpuEventSchema, { kind: GpuEventKind.ECC_DOUBLE_BIT, gpuIndex: 4 })
  j.event(dbe, T0)
  j.event(dbe, T0 + 2 * MINUTE)
  t.same(short(j.verdict()), { state: 'unhealthy', action: 'reset' }, 'two in one burst: reset')
  t.same(ruleKeys(j.verdict().reasons), ['xid-reset#4'])
  j.event(dbe, T0 + 4 * MINUTE)
  t.same(ruleKeys(j.verdict().reasons), ['dbe-burst#4', 'xid-reset#4'], 'the third within 10 minutes, still one burst: dbe-burst')
  t.same(short(j.verdict()), { state: 'unhealthy', action: 'replace' })
  const k = new HealthJudge(DEFAULT_POLICY)
  for (const at of [0, 6, 12]) k.event(dbe, T0 + at * MINUTE)
  t.notOk(k.verdict().reasons.some((r) => r.rule === 'dbe-burst'), 'one every 6 minutes: never 3 within 10')
})

t.test('a rule that fails at run time is reported and judged false; nothing crashes', async (t) => {
  const p = compilePolicy(`version: 1
name: faulty
rules:
  - name: no-has
    on: sample
    when: gpu.temperature_c > 80
    state: degraded
  - name: divide
    on: sample
    when: 10 / (gpu.index - gpu.index) > 1
    state: degraded
  - name: event-link
    on: event
    when: event.link > 3
    state: degraded
  - name: fine
    on: sample
    when: gpu.lost
    state: unhealthy
    action: replace
`, 'faulty.yaml')
  const j = new HealthJudge(p)
  const fx = j.samples([create(GpuSampleSchema, { index: 2, lost: true })], T0)
  t.same(fx.faults.map((f) => [f.rule, f.gpu]).sort(), [['divide', 2], ['no-has', 2]])
  t.ok(fx.faults.every((f) => f.message !== ''), 'each with the error')
  t.same(ruleKeys(j.verdict().reasons), ['fine#2'], 'the rules that work still judge')
  const ev = j.event(xid(13, 2), T0 + 1)
  t.same(ev.faults.map((f) => f.rule), ['event-link'], 'an event without a link')
  t.same(short(j.verdict()), { state: 'unhealthy', action: 'replace' })
})

t.test('the boot gate: a failure replaces the node until a gate passes', async (t) => {
  const j = new HealthJudge(DEFAULT_POLICY)
  j.samples([healthySample(0)], T0)
  let fx = j.bootGate(create(BootGateSchema, { passed: false, failures: ['7 GPUs, the pool expects 8', 'GPU 3 did not answer (lost)'] }), T0)
  t.same(fx.journal.map((e) => e.entry.case), ['bootGate', 'incident', 'verdict'])
  t.same(short(j.verdict()), { state: 'unhealthy', action: 'replace' })
  t.match(j.verdict().reasons[0], { rule: 'boot-gate', gpuIndex: undefined, incidentClass: 'boot', message: '7 GPUs, the pool expects 8; GPU 3 did not answer (lost)' })
  t.equal(j.incidents(1)[0]?.class, 'boot')
  j.tick(T0 + 30 * DAY)
  t.same(short(j.verdict()), { state: 'unhealthy', action: 'replace' }, 'no hold expires it')
  fx = j.bootGate(create(BootGateSchema, { passed: true }), T0 + 30 * DAY)
  t.same(short(fx.verdict ?? j.verdict()), { state: 'healthy', action: 'none' }, 'a passing gate clears it')
})

t.test('the judge\'s clock never goes back: out-of-order inputs do not throw', async (t) => {
  const j = new HealthJudge(DEFAULT_POLICY)
  t.doesNotThrow(() => {
    j.samples([healthySample(0, { ecc: { volatileUncorrected: 0 } })], T0 + 2 * SECOND)
    j.event(xid(48, 0), T0 + 5 * SECOND)
    j.samples([healthySample(0, { ecc: { volatileUncorrected: 1 } })], T0 + 1 * SECOND)
    j.samples([healthySample(0, { ecc: { volatileUncorrected: 1 } })], T0 + 4 * SECOND)
    j.samples([healthySample(0, { ecc: { volatileUncorrected: 4 } })], T0 + 3 * SECOND)
  }, 'samples a few seconds back (an NTP step) are judged at the latest time seen')
  t.ok(j.verdict().reasons.some((r) => r.rule === 'dbe-rate'), 'and counted')
})

t.test('a reading of NaN or Infinity is no reading: absent, not a crash', async (t) => {
  const j = new HealthJudge(DEFAULT_POLICY)
  let now = T0
  for (const bad of [NaN, Infinity, -Infinity]) {
    now += SECOND
    const fx = j.samples([healthySample(0, { clockEventReasons: bad, ecc: { volatileUncorrected: bad }, nvlinkTotals: { crcFlit: bad } })], now)
    t.same(fx.faults, [], `${bad}: no rule faults`)
  }
  now += SECOND
  j.samples([healthySample(0, { ecc: { volatileUncorrected: 0 } })], now)
  now += SECOND
  j.samples([healthySample(0, { ecc: { volatileUncorrected: 3 } })], now)
  t.ok(j.verdict().reasons.some((r) => r.rule === 'dbe-rate'), 'the counter\'s history was not poisoned')
})

// ---- runBootGate -------------------------------------------------------------------------------

const H100 = 'NVIDIA H100 80GB HBM3'
const infos = (n: number, name = H100): GpuInfo[] =>
  Array.from({ length: n }, (_, index) => create(GpuInfoSchema, { index, name, uuid: `GPU-${index}` }))
const samplesOf = (list: GpuInfo[]): GpuSample[] => list.map((g) => healthySample(g.index))

t.test('runBootGate', async (t) => {
  const eight = infos(8)
  let g = runBootGate({ inventory: eight, samples: samplesOf(eight), expect: { gpus: 8, model: 'H100' }, now: T0 })
  t.match(g, { passed: true, failures: [], gpuCount: 8, expectedGpuCount: 8, models: [H100], expectedModel: 'H100', timeMs: T0 })

  const seven = infos(7)
  g = runBootGate({ inventory: seven, samples: samplesOf(seven), expect: { gpus: 8 }, now: T0 })
  t.same([g.passed, g.failures], [false, ['7 GPUs, the pool expects 8']], 'count mismatch')

  const mixed = infos(8)
  mixed[3] = create(GpuInfoSchema, { index: 3, name: 'NVIDIA A100-SXM4-80GB' })
  g = runBootGate({ inventory: mixed, samples: samplesOf(mixed), expect: { gpus: 8, model: 'H100' }, now: T0 })
  t.same(g.failures, ['GPU 3 is "NVIDIA A100-SXM4-80GB", the pool expects H100'], 'model mismatch')
  t.same(g.models, [H100, 'NVIDIA A100-SXM4-80GB'])

  const lostAtStart = infos(8)
  lostAtStart[2] = create(GpuInfoSchema, { index: 2, name: H100, lost: true })
  const samples = samplesOf(eight)
  samples[5] = create(GpuSampleSchema, { index: 5, lost: true })
  samples[6] = create(GpuSampleSchema, { index: 6, resetRequired: true })
  g = runBootGate({ inventory: lostAtStart, samples: [...samples, samples[5]!], expect: { gpus: 8 }, now: T0 })
  t.same(g.failures, ['GPU 2 was lost when the agent started', 'GPU 5 did not answer (lost)', 'GPU 6 needs a reset'], 'lost and reset-required GPUs, each named once')

  g = runBootGate({ nvmlError: 'libnvidia-ml.so.1: cannot open shared object file', inventory: [], samples: [], expect: { gpus: 8 }, now: T0 })
  t.same(g.failures, ['NVML did not initialise: libnvidia-ml.so.1: cannot open shared object file'], 'NVML failed: that alone, not a count too')

  g = runBootGate({ inventory: [], samples: [], expect: {}, now: T0 })
  t.same([g.passed, g.failures], [false, ['no GPUs found']], 'no GPUs and no count expected')
  g = runBootGate({ inventory: infos(2), samples: samplesOf(infos(2)), expect: { model: '' }, now: T0 })
  t.equal(g.passed, true, 'any count of at least one, any model')
})

// ---- fuzz --------------------------------------------------------------------------------------

const MEMBERS = 8

t.test('fuzz: 5,000 random events, samples, ticks, gates and reloads', async (t) => {
  const rnd = mulberry32(0x5ea1)
  const int = (n: number): number => Math.floor(rnd() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!
  const maybe = <T>(v: T): T | undefined => (int(8) === 0 ? undefined : v)
  const hex = (): string => `0x${int(0x1_0000_0000).toString(16).padStart(8, '0')}`
  const CHARS = 'abcXYZ0189 ,.:;()[]{}=_-/\\\'"\n\t\u00e9\u4e2d\u{1f525}'
  const UNITS = ['SAW_MVB', 'RLW_REMAP', 'RLW_SRC_TRACK', 'NETIR_LINK_EVT', 'NETIR', 'TLW_CTRL', 'MSE_WATCHDOG', 'NOT_A_UNIT', 'TREX']
  const detail = (): string => {
    switch (int(5)) {
      case 0: return Array.from({ length: int(201) }, () => pick([...CHARS])).join('').slice(0, 200)
      case 1: return `Ch 0000000${int(10)} caused by previous Xid ${int(10_000_000)}`
      case 2: return `GPU recovery action changed from 0x${int(8).toString(16)} (None) to 0x${int(0x1_0000_0000).toString(16)} (X)`
      case 3: return `${pick(UNITS)}${int(4) === 0 ? '/SUB' : ''} ${pick(['Fatal', 'Nonfatal'])} XC${int(2)} i${int(2)} Link ${int(40) - 1} (${hex()} ${hex()} ${hex()} 0x0 0x0 0x0)`
      default: return ''
    }
  }
  const event = (): GpuEvent => {
    const e = create(GpuEventSchema, {
      kind: int(20) as GpuEventKind,
      xid: int(2) === 0 ? int(1001) : pick([13, 31, 45, 48, 62, 63, 64, 74, 79, 94, 95, 109, 119, 144, 145, 149, 154, 999, 20034]),
      detail: detail(),
      source: int(3),
      continuation: int(5) === 0,
      uuid: int(2) === 0 ? '' : `GPU-${int(10)}`,
    })
    if (int(4) !== 0) e.gpuIndex = int(10)
    if (int(2) === 0) e.fatal = int(2) === 0
    if (int(3) === 0) e.link = int(40) - 1
    return e
  }
  const walk = new Map<string, number>()
  const counter = (key: string, step: number): number => {
    const v = int(100) === 0 ? 0 : (walk.get(key) ?? 0) + int(step) // an occasional reset
    walk.set(key, v)
    return v
  }
  const weird = (): number => pick([NaN, Infinity, -Infinity, -1, 2 ** 53, 1e300])
  const sample = (index: number): GpuSample => create(GpuSampleSchema, {
    index,
    uuid: `GPU-${index}`,
    lost: int(60) === 0,
    resetRequired: int(60) === 0,
    temperatureGpuC: maybe(int(120)),
    temperatureMemoryC: maybe(int(120)),
    temperatureMarginC: maybe(int(70) - 10),
    powerMw: maybe(int(1_000_000)),
    powerLimitMw: maybe(int(800_000)),
    clockEventReasons: int(200) === 0 ? weird() : maybe(pick([0x1, 0x4, 0x8, 0x20, 0x40, 0x80, 0x8 | 0x80, int(2 ** 32), 2 ** 40 + 8])),
    ecc: maybe({
      volatileCorrected: counter(`sbe${index}`, 40),
      volatileUncorrected: counter(`dbe${index}`, int(10) === 0 ? 3 : 1),
      sramVolatileUncorrected: counter(`sram${index}`, int(20) === 0 ? 2 : 1),
    }),
    remappedRows: maybe({ pending: int(20) === 0, failure: int(300) === 0, uncorrected: int(600), corrected: int(100) }),
    retiredPages: maybe({ pending: int(30) === 0 }),
    pcie: maybe({ replayCounter: counter(`pcie${index}`, 30), linkGen: 1 + int(5), linkWidth: pick([16, 16, 8]), maxLinkGen: 5, maxLinkWidth: 16 }),
    nvlinks: Array.from({ length: int(19) }, (_, link) => ({ link, state: int(30) === 0 ? NvLinkState.INACTIVE : NvLinkState.ACTIVE, replay: maybe(int(5)) })),
    nvlinkTotals: maybe({
      crcFlit: int(300) === 0 ? weird() : counter(`crc${index}`, 20_000),
      replay: counter(`nvr${index}`, 50),
      recovery: counter(`rec${index}`, int(20) === 0 ? 2 : 1),
      recoveryFailed: counter(`rf${index}`, int(50) === 0 ? 2 : 1),
    }),
    recoveryAction: maybe(int(9) as RecoveryAction),
    fabric: maybe({ state: int(4), status: int(30) }),
    violations: maybe({ powerNs: int(2) === 0 ? weird() : int(1e9) }),
  })
  const samples = (): GpuSample[] => {
    const ids = new Set(Array.from({ length: 1 + int(4) }, () => int(8)))
    return [...ids].map(sample)
  }
  const other = compilePolicy(`version: 1
name: other
rules:
  - name: xid-replace
    on: event
    when: event.action == "replace"
    state: unhealthy
    action: replace
    hold: forever
  - name: xid-storm
    on: event
    when: count("xid", duration("10m")) >= 5 && bursts("class:hbm", duration("1h")) >= 0
    state: degraded
    action: watch
  - name: dbe-hour
    on: sample
    when: increase("ecc.volatile_uncorrected", duration("1h")) >= 5.0 || rate("nvlink.crc_flit", duration("2m")) > 1000.0
    for: 10s
    state: unhealthy
    action: reset
`, 'other.yaml')
  const policies = [DEFAULT_POLICY, other]
  // A node that is replaced for good is a new node: every 250 steps, a new judge.
  const newJudge = (): HealthJudge => new HealthJudge(DEFAULT_POLICY, {
    ...DEFAULT_JUDGE_CONFIG,
    history: { ...DEFAULT_HISTORY_LIMITS, maxEvents: 200 },
    incidents: { ...DEFAULT_INCIDENT_LIMITS, maxMembers: MEMBERS },
  })
  let judge = newJudge()

  let now = T0
  const problems: string[] = []
  let defaultFaults = 0
  let fullEvents = 0
  let fullFindings = 0
  let incidentsSeen = 0
  const actionsSeen = new Set<string>()
  for (let step = 0; step < 5000; step++) {
    if (step % 250 === 0) judge = newJudge()
    now += pick([0, 1, 10, 1000, 1000, 1000, 5000, 30_000, 200_000, HOUR])
    if (int(40) === 0) now -= int(5000) // the wall clock steps back
    const r = rnd()
    let fx: JudgeEffects
    try {
      if (r < 0.55) fx = judge.event(event(), now)
      else if (r < 0.9) fx = judge.samples(samples(), now)
      else if (r < 0.95) fx = judge.tick(now)
      else if (r < 0.98) fx = judge.bootGate(create(BootGateSchema, { passed: int(2) === 0, failures: ['fuzz'] }), now)
      else fx = judge.setPolicy(pick(policies), now)
    } catch (err) {
      problems.push(`step ${step}: threw ${err instanceof Error ? err.message : String(err)}`)
      continue
    }
    if (judge.policy === DEFAULT_POLICY) defaultFaults += fx.faults.length
    const v = judge.verdict()
    const want = verdictFromReasons(v.reasons, true)
    if (short(v).action !== want.action || short(v).state !== want.state) {
      problems.push(`step ${step}: verdict ${JSON.stringify(short(v))} but its reasons make ${JSON.stringify(want)}`)
    }
    if (fx.verdict !== undefined && fx.verdict !== v) problems.push(`step ${step}: the reported verdict is not the current one`)
    actionsSeen.add(short(v).action)
    for (const i of [...fx.incidents, ...judge.incidents(3)]) {
      if (i.events.length > MEMBERS || i.findings.length > MEMBERS) {
        problems.push(`step ${step}: incident ${i.id} holds ${i.events.length} events and ${i.findings.length} findings`)
      }
      if (i.eventCount < i.events.length) problems.push(`step ${step}: incident ${i.id} counts fewer events than it holds`)
      if (i.events.length === MEMBERS) fullEvents++
      if (i.findings.length === MEMBERS) fullFindings++
    }
    incidentsSeen += fx.incidents.filter((i) => i.eventCount + i.findings.length === 1 && i.open).length
  }
  t.same(problems.slice(0, 10), [], `no problems in 5,000 steps (${problems.length})`)
  t.equal(defaultFaults, 0, 'the default policy never faults, whatever the input')
  t.ok(fullEvents > 0 && fullFindings > 0, 'incidents reached the member bound (so the bound was tested)')
  t.ok(incidentsSeen > 100, `many incidents opened (${incidentsSeen})`)
  t.same([...actionsSeen].sort(), ['none', 'reboot', 'replace', 'reset', 'watch'], 'every action was reached')
})
