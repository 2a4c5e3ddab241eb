// SimGpus: every GPU fault kind through the real HealthJudge with the default policy. The table
// names, for each fault, the rule of agent/health/default-policy.ts that decides its worst action
// (checked against the compiled policy, so a policy edit fails here rather than drifting), when it
// fires, and what stands once the fault has played out. Then: expectOf agrees with what the model
// produced, sparse sampling gives the same health as sampling every interval, cascades follow the
// seed, forget drops the judge, wakes stop when nothing is left to do, and a 10,000-node fleet
// keeps judges only where faults landed.
import t from 'tap'
import { toJson } from '@bufbuild/protobuf'
import { GpuSummarySchema, HealthAction, type Incident } from '../../../proto/gen/shoal_pb.js'
import { actionName, stateName } from '../../../agent/health/action.js'
import { DEFAULT_POLICY_SOURCE, DEFAULT_POLICY_YAML } from '../../../agent/health/default-policy.js'
import { compilePolicy } from '../../../agent/health/policy.js'
import { seededRng, shuffle } from '../../../agent/lib/rng.js'
import type { OwnHealth } from '../../../agent/mesh/node.js'
import { DEFAULT_GPU_MODEL_CONFIG, SimGpus, expectOf, type GpuFault, type GpuModelConfig } from './gpu.js'

const POLICY = compilePolicy(DEFAULT_POLICY_YAML, DEFAULT_POLICY_SOURCE)
const ruleOf = (name: string) => {
  const r = POLICY.rules.find((x) => x.name === name)
  if (r === undefined) throw new Error(`no rule ${name} in the default policy`)
  return r
}

const S = 1000
const MIN = 60 * S
const P = DEFAULT_GPU_MODEL_CONFIG.sampleEveryMs
/** On the sampling grid, so the first sample sees a fault the moment it lands. */
const T0 = 1_000 * P

interface Step { t: number, health: OwnHealth }

/** Inject one fault at `at` and tick every wake until none is left (or `until`). */
function play (m: SimGpus, node: number, fault: GpuFault, at = T0, until = Infinity): Step[] {
  const steps: Step[] = []
  const h = m.inject(node, fault, at)
  if (h !== undefined) steps.push({ t: at, health: h })
  return [...steps, ...run(m, until)]
}

function run (m: SimGpus, until = Infinity): Step[] {
  const steps: Step[] = []
  for (let guard = 0; ; guard++) {
    const now = m.nextWakeAt()
    if (now === Infinity || now > until) return steps
    if (guard > 100_000) throw new Error('the model did not settle')
    for (const r of m.tick(now)) steps.push({ t: now, health: r.health })
  }
}

const act = (h: OwnHealth): string => actionName(h.verdict.action)
const rules = (h: OwnHealth): string[] => h.verdict.reasons.map((r) => r.rule)

interface Row {
  name: string
  fault: GpuFault
  /** The default policy's rule that decides the worst action (none: no rule fires). */
  rule?: string
  action: 'replace' | 'reset' | 'reboot' | 'watch' | 'none'
  /** When that action is first reached, after the fault. */
  afterMs?: number
  /** What stands once everything has played out. */
  settles: 'replace' | 'reset' | 'watch' | 'none'
  why: string
}

const ROWS: Row[] = [
  { name: 'xid 79', fault: { kind: 'xid', gpu: 3, code: 79 }, rule: 'xid-replace', action: 'replace', afterMs: 0, settles: 'replace',
    why: 'catalog: RESTART_BM → action replace; "xid-replace": event.action == "replace", hold forever' },
  { name: 'xid 13', fault: { kind: 'xid', gpu: 3, code: 13 }, action: 'none', settles: 'none',
    why: 'catalog: RESTART_APP (app); "xid-watch" needs !event.app, "app-xid-repeat" needs 3 bursts in 24h' },
  { name: 'xid 48', fault: { kind: 'xid', gpu: 3, code: 48 }, rule: 'xid-reset', action: 'reset', afterMs: 0, settles: 'none',
    why: 'catalog: WORKFLOW_XID_48 → reset; "xid-reset" holds 1h' },
  { name: 'xid 63', fault: { kind: 'xid', gpu: 3, code: 63 }, rule: 'xid-watch', action: 'watch', afterMs: 0, settles: 'none',
    why: 'Shoal override: row remap scheduled is a note → watch; "xid-watch" holds 1h' },
  { name: 'xid 64', fault: { kind: 'xid', gpu: 3, code: 64 }, rule: 'xid-replace', action: 'replace', afterMs: 0, settles: 'replace',
    why: 'Shoal override: remap failure → replace' },
  { name: 'xid 119', fault: { kind: 'xid', gpu: 3, code: 119 }, rule: 'xid-reset', action: 'reset', afterMs: 0, settles: 'none',
    why: 'catalog: GSP RPC timeout, RESET_GPU → reset' },
  { name: 'gpu-lost', fault: { kind: 'gpu-lost', gpu: 3 }, rule: 'xid-replace', action: 'replace', afterMs: 0, settles: 'replace',
    why: 'GPU_LOST is XID 79 → "xid-replace"; the lost samples add "gpu-lost" (hold forever)' },
  { name: 'ecc-dbe', fault: { kind: 'ecc-dbe', gpu: 3 }, rule: 'dbe-burst', action: 'replace', afterMs: 2 * MIN, settles: 'replace',
    why: '"dbe-burst": the third ECC_DOUBLE_BIT within 10m (the first alone is "xid-reset")' },
  { name: 'row-remap-pending', fault: { kind: 'row-remap-pending', gpu: 3 }, rule: 'row-remap-pending', action: 'reset', afterMs: 0, settles: 'reset',
    why: '"row-remap-pending": degraded, reset, while the flag stands (nothing here resets the GPU)' },
  { name: 'row-remap-failure', fault: { kind: 'row-remap-failure', gpu: 3 }, rule: 'row-remap-failure', action: 'replace', afterMs: 0, settles: 'replace',
    why: '"row-remap-failure": replace, hold forever' },
  { name: 'sram', fault: { kind: 'sram', gpu: 3 }, rule: 'sram-uncorrectable', action: 'reset', afterMs: 0, settles: 'none',
    why: '"sram-uncorrectable": increase over 10m > 0 → reset, held 1h after the increase leaves the window' },
  { name: 'nvlink', fault: { kind: 'nvlink', gpu: 3 }, rule: 'xid-reset', action: 'reset', afterMs: 0, settles: 'reset',
    why: 'XID 74 is WORKFLOW_NVLINK_ERR → "xid-reset"; the link stays down: "nvlink-down" (30s) stands' },
  { name: 'thermal 5m', fault: { kind: 'thermal', gpu: 3, forMs: 5 * MIN }, rule: 'hw-slowdown', action: 'watch', afterMs: 30 * S, settles: 'none',
    why: '"hw-slowdown" for 30s → watch; "hw-slowdown-persistent" needs 10m' },
  { name: 'thermal 15m', fault: { kind: 'thermal', gpu: 3, forMs: 15 * MIN }, rule: 'hw-slowdown-persistent', action: 'replace', afterMs: 10 * MIN, settles: 'replace',
    why: '"hw-slowdown-persistent": slowdown held 10m → replace, hold forever' },
  { name: 'power-brake 2m', fault: { kind: 'power-brake', gpu: 3, forMs: 2 * MIN }, rule: 'power-brake', action: 'watch', afterMs: 30 * S, settles: 'none',
    why: '"power-brake" (and "hw-slowdown") for 30s → watch' },
  { name: 'power-brake 15m', fault: { kind: 'power-brake', gpu: 3, forMs: 15 * MIN }, rule: 'hw-slowdown-persistent', action: 'replace', afterMs: 10 * MIN, settles: 'replace',
    why: '"hw-slowdown-persistent" counts hw_power_brake too: a 10-minute brake replaces the node' },
  { name: 'pcie-replay', fault: { kind: 'pcie-replay', gpu: 3, forMs: 10 * MIN }, rule: 'pcie-replay-rate', action: 'watch', afterMs: P + 30 * S, settles: 'none',
    why: '"pcie-replay-rate": rate over 3m > 8/min for 30s (the rate needs two samples: one interval more)' },
  { name: 'pcie-downtrain', fault: { kind: 'pcie-downtrain', gpu: 3 }, rule: 'pcie-link-downtrained', action: 'watch', afterMs: 60 * S, settles: 'watch',
    why: '"pcie-link-downtrained": width below max for 60s → watch, while it lasts' },
  { name: 'sdc', fault: { kind: 'sdc', gpu: 3 }, action: 'none', settles: 'none',
    why: 'silent corruption: no signal at all' },
]

t.test('each GPU fault kind reaches the action its default-policy rule says', async (t) => {
  for (const row of ROWS) {
    const m = new SimGpus({ seed: 'table' })
    const steps = play(m, 7, row.fault)
    const worst = steps.reduce((w, s) => Math.max(w, s.health.verdict.action), HealthAction.NONE)
    t.equal(actionName(worst), row.action, `${row.name}: ${row.why}`)
    t.equal(expectOf(row.fault), row.action, `${row.name}: expectOf matches what inject and tick produced`)
    if (row.rule !== undefined) {
      t.equal(actionName(ruleOf(row.rule).action), row.action, `${row.name}: rule ${row.rule} says ${row.action} in the policy file`)
      const first = steps.find((s) => act(s.health) === row.action)
      t.ok(first !== undefined && rules(first.health).includes(row.rule), `${row.name}: ${row.rule} stands when ${row.action} is reached`)
      t.equal((first?.t ?? NaN) - T0, row.afterMs, `${row.name}: reached ${row.afterMs} ms after the fault`)
    }
    const last = steps.at(-1)?.health
    t.equal(last === undefined ? 'none' : act(last), row.settles, `${row.name}: settles at ${row.settles}`)
    t.equal(m.nextWakeAt(), Infinity, `${row.name}: nothing left to do`)
  }
})

t.test('sdc changes nothing and makes no judge', async (t) => {
  const m = new SimGpus({ seed: 1 })
  t.equal(m.inject(3, { kind: 'sdc', gpu: 0 }, T0), undefined)
  t.equal(m.tracked, 0)
  t.equal(m.nextWakeAt(), Infinity)
})

t.test('timed faults: the sample rules clear when the fault ends, on the next sample', async (t) => {
  const m = new SimGpus({ seed: 1 })
  const steps = play(m, 1, { kind: 'thermal', gpu: 2, forMs: 5 * MIN })
  const end = T0 + 5 * MIN
  const cleared = steps.find((s) => s.t >= end && stateName(s.health.verdict.state) === 'healthy')
  t.equal(cleared?.t, end, 'the first sample after the slowdown ends is healthy again (hold 0)')
  t.ok(steps.some((s) => rules(s.health).includes('temperature-at-slowdown')), 'thermal also sits at the slowdown temperature (60s rule)')
  // 0: until the end of the run; the 10-minute rule replaces and nothing more is scheduled.
  const forever = new SimGpus({ seed: 1 })
  const s2 = play(forever, 1, { kind: 'thermal', gpu: 2, forMs: 0 })
  t.equal(act(s2.at(-1)!.health), 'replace')
  t.equal(forever.nextWakeAt(), Infinity, 'a fault with no end still stops waking once the policy has decided')
})

t.test('sram: the finding holds 1h after the increase leaves the 10-minute window', async (t) => {
  const m = new SimGpus({ seed: 1 })
  const steps = play(m, 1, { kind: 'sram', gpu: 0 })
  const window = POLICY.tracked.get('ecc.sram_volatile_uncorrected')!
  const hold = ruleOf('sram-uncorrectable').holdMs
  t.equal(window, 10 * MIN)
  const healthy = steps.find((s) => act(s.health) === 'none' && s.t > T0)
  // The last sample the increase held on is one interval before the window ends.
  t.equal(healthy?.t, T0 + window - P + hold)
})

t.test('ecc-dbe: the first event resets, the third within 10 minutes replaces', async (t) => {
  const m = new SimGpus({ seed: 1 })
  const first = m.inject(0, { kind: 'ecc-dbe', gpu: 1 }, T0)!
  t.same(rules(first), ['xid-reset'])
  t.equal(act(first), 'reset')
  const steps = run(m)
  const burst = steps.find((s) => rules(s.health).includes('dbe-burst'))!
  t.equal(burst.t, T0 + 2 * DEFAULT_GPU_MODEL_CONFIG.dbeSpacingMs)
  t.equal(burst.health.incidents[0]?.eventCount, 3, 'three events in one incident')
})

t.test('xid 13 three times in separate bursts: app-xid-repeat watches', async (t) => {
  const m = new SimGpus({ seed: 1 })
  const f: GpuFault = { kind: 'xid', gpu: 4, code: 13 }
  t.equal(act(m.inject(2, f, T0)!), 'none')
  t.equal(act(m.inject(2, f, T0 + 10 * MIN)!), 'none')
  const third = m.inject(2, f, T0 + 20 * MIN)!
  t.equal(act(third), 'watch')
  t.same(rules(third), ['app-xid-repeat'])
})

/** What a health says that the sampling could change: everything the mesh gossips. */
function key (s: Step): string {
  const v = s.health.verdict
  const reasons = v.reasons.map((r) => `${r.rule}#${r.gpuIndex ?? '-'}:${r.state}:${r.action}:${r.sinceMs}`)
  const inc = s.health.incidents.map((i: Incident) => `${i.id}:${i.state}:${i.action}:${i.eventCount}:${i.open}:${i.firstMs}:${i.lastMs}:${i.primary}:${i.events.map((e) => e.xid).join('+')}`)
  const gpus = s.health.gpus.map((g) => `${g.index}:${g.state}:${g.action}:${g.lost}`)
  return `${s.t} ${stateName(v.state)}/${actionName(v.action)} [${reasons.join(',')}] {${inc.join(',')}} ${gpus.join(',')}`
}

t.test('sampling only where the answer can change gives the health sampling every interval gives', async (t) => {
  const horizon = T0 + 80 * MIN
  const config: Partial<GpuModelConfig> = { sampleEveryMs: 30 * S }
  const scenarios: Array<{ name: string, faults: Array<[number, GpuFault]> }> = [
    ...ROWS.filter((r) => r.fault.kind !== 'xid' && r.fault.kind !== 'sdc').map((r) => ({ name: r.name, faults: [[0, r.fault]] as Array<[number, GpuFault]> })),
    { name: 'thermal twice, overlapping', faults: [[0, { kind: 'thermal', gpu: 1, forMs: 6 * MIN }], [4 * MIN + 7 * S, { kind: 'thermal', gpu: 1, forMs: 4 * MIN }]] },
    { name: 'pcie-replay on a node with history', faults: [[0, { kind: 'xid', gpu: 0, code: 63 }], [5 * MIN + 3 * S, { kind: 'pcie-replay', gpu: 2, forMs: 7 * MIN }]] },
    { name: 'sram then row-remap-pending, off the grid', faults: [[13 * S, { kind: 'sram', gpu: 5 }], [17 * MIN + 1, { kind: 'row-remap-pending', gpu: 5 }]] },
    { name: 'nvlink cascade and a brake elsewhere', faults: [[0, { kind: 'nvlink', gpu: 2, cascade: true }], [MIN, { kind: 'power-brake', gpu: 6, forMs: 3 * MIN }]] },
  ]
  for (const sc of scenarios) {
    const trajectories = [false, true].map((everySample) => {
      const m = new SimGpus({ ...config, seed: 'same', everySample })
      const steps: Step[] = []
      for (const [after, f] of sc.faults) {
        steps.push(...run(m, T0 + after - 1))
        const h = m.inject(4, f, T0 + after)
        if (h !== undefined) steps.push({ t: T0 + after, health: h })
      }
      steps.push(...run(m, horizon))
      return steps.map(key)
    })
    t.ok(trajectories[0]!.length > 0, `${sc.name}: the fault shows`)
    t.same(trajectories[0], trajectories[1], `${sc.name}: same health, same times`)
  }
})

t.test('cascades: the same seed gives the same companions, another seed others', async (t) => {
  const cascade = (seed: string): string[] => {
    const m = new SimGpus({ seed })
    const steps: Step[] = []
    for (let node = 0; node < 8; node++) {
      const h = m.inject(node, { kind: 'nvlink', gpu: node % 8, cascade: true }, T0 + node * S)
      if (h !== undefined) steps.push({ t: T0 + node * S, health: h })
    }
    steps.push(...run(m, T0 + 30 * MIN))
    return steps.map(key)
  }
  const a = cascade('a')
  t.same(cascade('a'), a, 'deterministic for a seed')
  t.not(cascade('b').join('\n'), a.join('\n'), 'another seed draws other companions')
  const companions = a.join(' ').match(/\b(45|94|154)\b/g) ?? []
  t.ok(companions.length > 0, 'companion XIDs 45, 94 or 154 join the incidents')
  // Companions come 10 s to 3 min after the fault: one incident, never a second burst.
  const m = new SimGpus({ seed: 'a' })
  const steps = play(m, 0, { kind: 'nvlink', gpu: 0, cascade: true })
  const closed = steps.map((s) => s.health.incidents).at(-1)!
  t.equal(closed.length, 1, 'the cascade is one incident')
  t.ok(closed[0]!.eventCount >= 2 && closed[0]!.eventCount <= 1 + DEFAULT_GPU_MODEL_CONFIG.cascadeMaxCompanions)
  t.ok(closed[0]!.lastMs - closed[0]!.firstMs <= DEFAULT_GPU_MODEL_CONFIG.cascadeDelayMs[1])
  t.equal(expectOf({ kind: 'nvlink', gpu: 0, cascade: true }), 'reset')
})

t.test('forget drops the judge and its pending work; healthy() is what a judge says of a healthy node', async (t) => {
  const m = new SimGpus({ seed: 1 })
  m.inject(5, { kind: 'thermal', gpu: 0, forMs: 20 * MIN }, T0)
  const fatal = m.inject(6, { kind: 'xid', gpu: 3, code: 48 }, T0)!
  t.equal(m.tracked, 2)
  t.equal(act(m.current(6, T0)), 'reset', 'current() is the judge\'s while tracked')
  m.forget(5)
  m.forget(6)
  t.equal(m.tracked, 0)
  t.equal(m.nextWakeAt(), Infinity, 'no wake left for a forgotten node')
  t.same(m.tick(T0 + 60 * MIN), [])
  const h = m.healthy(6, T0)
  t.equal(stateName(h.verdict.state), 'healthy')
  t.equal(h.verdict.policy, fatal.verdict.policy, 'the same policy label as the judge')
  t.equal(h.bootGate?.passed, true)
  t.same(h.incidents, [])
  // The GPUs the fault did not touch read the same from the judge as from healthy().
  for (const i of [0, 1, 2, 4, 5, 6, 7]) {
    t.same(toJson(GpuSummarySchema, h.gpus[i]!), toJson(GpuSummarySchema, fatal.gpus[i]!), `GPU ${i}`)
  }
  t.equal(m.tracked, 0, 'healthy() makes no judge')
})

t.test('wakes: none with no fault; they stop once the policy has decided; a quiet judge is dropped', async (t) => {
  const m = new SimGpus({ seed: 1 })
  t.equal(m.nextWakeAt(), Infinity)
  t.same(m.tick(T0), [])
  m.inject(1, { kind: 'xid', gpu: 0, code: 79 }, T0)
  run(m)
  t.equal(m.nextWakeAt(), Infinity, 'replace forever, incident closed: nothing to tick')
  t.equal(m.tracked, 1, 'a node to be replaced keeps its judge until forgotten')
  m.inject(2, { kind: 'xid', gpu: 0, code: 48 }, T0)
  const steps = run(m)
  t.equal(act(steps.at(-1)!.health), 'none', 'the reset finding ends after its hold')
  t.equal(m.tracked, 1, 'node 2\'s judge is dropped once nothing it remembers is read by a rule')
  t.throws(() => m.inject(1, { kind: 'xid', gpu: 8, code: 79 }, T0), /GPU 8/)
  t.throws(() => m.inject(1, { kind: 'xid', gpu: 0 }, T0), /code/)
})

t.test('a 10,000-node fleet with 500 faults keeps at most 500 judges', async (t) => {
  const nodes = 10_000
  const m = new SimGpus({ seed: 'fleet' })
  const rng = seededRng('fleet-targets')
  const targets = shuffle(rng, Array.from({ length: nodes }, (_, i) => i)).slice(0, 500)
  const kinds: GpuFault[] = [
    { kind: 'xid', gpu: 0, code: 79 }, { kind: 'xid', gpu: 0, code: 13 }, { kind: 'xid', gpu: 0, code: 48 },
    { kind: 'gpu-lost', gpu: 0 }, { kind: 'thermal', gpu: 0, forMs: 3 * MIN }, { kind: 'sram', gpu: 0 },
    { kind: 'row-remap-failure', gpu: 0 }, { kind: 'sdc', gpu: 0 },
  ]
  let most = 0
  let changes = 0
  for (const [k, node] of targets.entries()) {
    const at = T0 + k * 7 * S
    changes += run(m, at - 1).length
    const f = kinds[k % kinds.length]!
    if (m.inject(node, { ...f, gpu: k % 8 }, at) !== undefined) changes++
    most = Math.max(most, m.tracked)
  }
  changes += run(m, T0 + 3 * 3600 * S).length
  t.ok(most <= 500, `${most} judges at most`)
  const sdc = targets.filter((_, k) => kinds[k % kinds.length]!.kind === 'sdc').length
  t.equal(most, 500 - sdc, 'one per faulted node, none for sdc')
  t.ok(changes > 500, `${changes} health changes`)
  const before = m.tracked
  const hit = new Set(targets)
  const untouched = Array.from({ length: nodes }, (_, i) => i).filter((i) => !hit.has(i))
  for (const n of untouched) m.healthy(n, T0)
  t.equal(m.tracked, before, `healthy() for the ${untouched.length} untouched nodes makes no judge`)
})
