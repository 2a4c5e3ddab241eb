// HealthJudge: the health policy as a state machine (DESIGN.md §2). Samples, events, the boot gate
// and the passing of time go in; findings, a verdict, incidents and journal entries come out. No
// I/O, no clock: every input carries `now`, so a test or the simulator drives it line by line.
//
// A finding is one rule holding for one GPU (or the node). Sample rules fire after their
// condition has held `for`; event rules fire on the event. A finding stands until `hold` after it
// last held (Infinity: until the node is replaced). The verdict is the worst finding.
import { create } from '@bufbuild/protobuf'
import {
  GpuEventKind, GpuEventSource, GpuSummarySchema, HealthAction, HealthState, JournalEntrySchema, ReasonSchema,
  VerdictSchema, type BootGate, type GpuEvent, type GpuInfo, type GpuSample, type GpuSummary,
  type Incident, type JournalEntry, type Reason, type Verdict,
} from '../../proto/gen/shoal_pb.js'
import { assert } from '../lib/assert.js'
import { actionName } from './action.js'
import { classifyEvent, type EventClass } from './classify.js'
import { DEFAULT_HISTORY_LIMITS, GpuHistory, type HistoryLimits } from './history.js'
import { DEFAULT_INCIDENT_LIMITS, IncidentBook, type IncidentLimits } from './incidents.js'
import type { Activation, CompiledPolicy, CompiledRule, RuleScope } from './policy.js'
import { eventSelectors, kindName, ownSelector } from './selectors.js'
import { gpuObject, readNumbers } from './signals.js'

export interface JudgeConfig {
  history: HistoryLimits
  incidents: IncidentLimits
  /** The GPU count the pool expects, for `node.expected_gpus` in rules. */
  expectedGpus?: number | undefined
}

export const DEFAULT_JUDGE_CONFIG: JudgeConfig = {
  history: DEFAULT_HISTORY_LIMITS,
  incidents: DEFAULT_INCIDENT_LIMITS,
}

/** Index used for node-wide findings and events without a GPU. */
const NODE = -1

interface Finding {
  readonly rule: string
  readonly gpu: number
  reason: Reason
  /** When the condition last held. */
  lastMs: number
}

export interface RuleFault {
  readonly rule: string
  readonly gpu: number
  readonly message: string
}

export interface JudgeEffects {
  /** To be journaled, in order, before anything is said about them. */
  readonly journal: JournalEntry[]
  /** The new verdict, when it changed. */
  verdict: Verdict | undefined
  /** Incidents opened, changed in action, or closed. */
  readonly incidents: Incident[]
  /** Rules that failed to evaluate (a signal missing without has(), a division by zero...). */
  readonly faults: RuleFault[]
}

interface GpuState {
  info: GpuInfo | undefined
  history: GpuHistory
  last: GpuSample | undefined
  object: Record<string, unknown> | undefined
}

const BOOT_GATE_RULE = 'boot-gate'

export class HealthJudge {
  #policy: CompiledPolicy
  readonly #config: JudgeConfig
  readonly #gpus = new Map<number, GpuState>()
  readonly #findings = new Map<string, Finding>()
  /** Sample rules whose condition holds but not yet for long enough: key → since. */
  readonly #pending = new Map<string, number>()
  readonly #incidents: IncidentBook
  #verdictKey = ''
  #verdict: Verdict
  #seenInput = false
  #lastNow = -Infinity

  constructor (policy: CompiledPolicy, config: JudgeConfig = DEFAULT_JUDGE_CONFIG) {
    this.#policy = policy
    this.#config = config
    this.#incidents = new IncidentBook(config.incidents)
    this.#verdict = create(VerdictSchema, { state: HealthState.UNKNOWN, policy: this.#policyLabel() })
  }

  get policy (): CompiledPolicy { return this.#policy }

  verdict (): Verdict { return this.#verdict }

  incidents (limit: number): Incident[] { return this.#incidents.recent(limit) }

  /**
   * A new policy. Findings of rules it still has stand; the others go. Counter history restarts
   * only for counters the new policy reads over a longer window or did not read before.
   */
  setPolicy (policy: CompiledPolicy, now: number): JudgeEffects {
    const fx = this.#begin(now)
    const old = this.#policy
    this.#policy = policy
    const names = new Set(policy.rules.map((r) => r.name))
    for (const [key, f] of this.#findings) if (!names.has(f.rule) && f.rule !== BOOT_GATE_RULE) this.#findings.delete(key)
    for (const key of this.#pending.keys()) if (!names.has(key.split('#')[0]!)) this.#pending.delete(key)
    const sameTracking = [...policy.tracked].every(([p, w]) => (old.tracked.get(p) ?? -1) >= w) &&
      policy.eventWindowMs <= old.eventWindowMs
    if (!sameTracking) {
      for (const g of this.#gpus.values()) g.history = this.#newHistory()
    }
    return this.#finish(fx, now)
  }

  inventory (infos: readonly GpuInfo[]): void {
    for (const info of infos) this.#gpu(info.index).info = info
  }

  samples (samples: readonly GpuSample[], now: number): JudgeEffects {
    const fx = this.#begin(now)
    this.#seenInput = true
    const tracked = [...this.#policy.tracked.keys()]
    for (const s of samples) {
      const g = this.#gpu(s.index)
      g.last = s
      g.object = gpuObject(s, g.info)
      g.history.recordNumbers(readNumbers(s, g.info, tracked), this.#lastNow)
    }
    const node = this.#nodeObject()
    for (const s of samples) {
      const g = this.#gpu(s.index)
      const activation: Activation = { gpu: g.object, node }
      this.#policy.bind(this.#scope(g.history, undefined))
      for (const rule of this.#policy.rules) {
        if (rule.on !== 'sample') continue
        const held = this.#test(rule, s.index, activation, fx)
        this.#sampleRule(rule, s.index, held, activation, now, fx)
      }
    }
    return this.#finish(fx, now)
  }

  event (e: GpuEvent, now: number): JudgeEffects {
    const fx = this.#begin(now)
    this.#seenInput = true
    fx.journal.push(create(JournalEntrySchema, { timeMs: now, entry: { case: 'event', value: e } }))
    const cls = classifyEvent(e)
    const index = e.gpuIndex ?? NODE
    const g = this.#gpu(index)
    g.history.recordEvent(eventSelectors(e, cls.class), this.#lastNow)
    const opened = this.#incidents.addEvent(e, cls.class, now)
    if (opened.opened) fx.incidents.push(opened.incident)
    const activation: Activation = {
      event: eventObject(e, cls),
      gpu: g.object ?? { index: BigInt(Math.max(index, 0)), uuid: e.uuid },
      node: this.#nodeObject(),
    }
    this.#policy.bind(this.#scope(g.history, e))
    for (const rule of this.#policy.rules) {
      if (rule.on !== 'event') continue
      if (this.#test(rule, index, activation, fx)) {
        this.#fire(rule, index, activation, now, fx, rule.class ?? cls.class)
      }
    }
    return this.#finish(fx, now)
  }

  bootGate (gate: BootGate, now: number): JudgeEffects {
    const fx = this.#begin(now)
    this.#seenInput = true
    fx.journal.push(create(JournalEntrySchema, { timeMs: now, entry: { case: 'bootGate', value: gate } }))
    const key = `${BOOT_GATE_RULE}#${NODE}`
    if (gate.passed) {
      this.#findings.delete(key)
    } else {
      const reason = create(ReasonSchema, {
        rule: BOOT_GATE_RULE,
        message: gate.failures.join('; '),
        state: HealthState.UNHEALTHY,
        action: HealthAction.REPLACE,
        incidentClass: 'boot',
        sinceMs: now,
      })
      this.#findings.set(key, { rule: BOOT_GATE_RULE, gpu: NODE, reason, lastMs: now })
      this.#record(reason, now, fx)
    }
    return this.#finish(fx, now)
  }

  /** Time passes: holds expire, a quiet burst closes. */
  tick (now: number): JudgeEffects {
    return this.#finish(this.#begin(now), now)
  }

  gpuSummaries (): GpuSummary[] {
    const out: GpuSummary[] = []
    for (const [index, g] of [...this.#gpus].sort((a, b) => a[0] - b[0])) {
      if (index === NODE) continue
      let state = g.last === undefined ? HealthState.UNKNOWN : HealthState.HEALTHY
      let action = HealthAction.NONE
      for (const f of this.#findings.values()) {
        if (f.gpu !== index) continue
        state = Math.max(state, f.reason.state)
        action = Math.max(action, f.reason.action)
      }
      out.push(create(GpuSummarySchema, {
        index,
        uuid: g.last?.uuid ?? g.info?.uuid ?? '',
        name: g.info?.name ?? '',
        state,
        action,
        temperatureGpuC: g.last?.temperatureGpuC,
        powerMw: g.last?.powerMw,
        lost: g.last?.lost ?? false,
        utilizationPct: g.last?.utilizationGpuPct,
      }))
    }
    return out
  }

  #begin (now: number): JudgeEffects {
    assert(Number.isFinite(now), `judge: now is ${now}`)
    // Inputs from two sources (the sampler, the event thread) can arrive a few ms out of order;
    // history needs monotonic time, so the judge's clock never goes back.
    this.#lastNow = Math.max(this.#lastNow, now)
    return { journal: [], verdict: undefined, incidents: [], faults: [] }
  }

  /** The history functions for one GPU (and event), at the judge's time. */
  #scope (h: GpuHistory, e: GpuEvent | undefined): RuleScope {
    const t = this.#lastNow
    const own = e === undefined ? undefined : ownSelector(e)
    return {
      count: (s, w) => h.count(s, w, t),
      bursts: (s, w) => h.bursts(s, w, t),
      increase: (s, w) => h.increase(s, w, t),
      rate: (s, w) => h.rate(s, w, t),
      eventCount: (w) => own === undefined ? 0 : h.count(own, w, t),
      eventBursts: (w) => own === undefined ? 0 : h.bursts(own, w, t),
    }
  }

  #test (rule: CompiledRule, index: number, a: Activation, fx: JudgeEffects): boolean {
    try {
      return rule.test(a) === true
    } catch (err) {
      fx.faults.push({ rule: rule.name, gpu: index, message: err instanceof Error ? err.message.split('\n')[0]! : String(err) })
      return false
    }
  }

  #sampleRule (rule: CompiledRule, index: number, held: boolean, a: Activation, now: number, fx: JudgeEffects): void {
    const key = `${rule.name}#${index}`
    if (!held) {
      this.#pending.delete(key)
      const f = this.#findings.get(key)
      if (f !== undefined && rule.holdMs === 0) this.#findings.delete(key)
      return
    }
    const since = this.#pending.get(key) ?? now
    this.#pending.set(key, since)
    if (now - since < rule.forMs) return
    this.#fire(rule, index, a, now, fx, rule.class ?? 'gpu', since)
  }

  #fire (rule: CompiledRule, index: number, a: Activation, now: number, fx: JudgeEffects, cls: string, since = now): void {
    const key = `${rule.name}#${index}`
    const message = rule.message(a)
    const until = rule.holdMs === Infinity ? 0 : now + rule.holdMs
    const existing = this.#findings.get(key)
    if (existing !== undefined && rule.on === 'sample') {
      existing.lastMs = now
      existing.reason.message = message
      existing.reason.untilMs = until
      return
    }
    const reason = create(ReasonSchema, {
      rule: rule.name,
      message,
      gpuIndex: index === NODE ? undefined : index,
      gpuUuid: this.#gpus.get(index)?.last?.uuid ?? this.#gpus.get(index)?.info?.uuid ?? '',
      state: rule.state,
      action: rule.action,
      incidentClass: cls,
      sinceMs: existing?.reason.sinceMs ?? since,
      untilMs: until,
    })
    this.#findings.set(key, { rule: rule.name, gpu: index, reason, lastMs: now })
    this.#record(reason, now, fx)
  }

  #record (reason: Reason, now: number, fx: JudgeEffects): void {
    const r = this.#incidents.addFinding(reason, now)
    if (r.changed && !fx.incidents.includes(r.incident)) fx.incidents.push(r.incident)
  }

  #finish (fx: JudgeEffects, now: number): JudgeEffects {
    for (const [key, f] of this.#findings) {
      const rule = this.#policy.rules.find((r) => r.name === f.rule)
      if (rule === undefined || rule.holdMs === Infinity) continue
      const pendingHolds = rule.on === 'sample' && this.#pending.has(key)
      if (!pendingHolds && now >= f.lastMs + rule.holdMs && rule.holdMs > 0) this.#findings.delete(key)
    }
    const closed = this.#incidents.tick(now)
    if (closed !== undefined) fx.incidents.push(closed)
    for (const i of fx.incidents) {
      fx.journal.push(create(JournalEntrySchema, { timeMs: now, entry: { case: 'incident', value: i } }))
    }
    const v = this.#computeVerdict(now)
    const key = verdictKey(v)
    if (key !== this.#verdictKey) {
      this.#verdictKey = key
      this.#verdict = v
      fx.verdict = v
      fx.journal.push(create(JournalEntrySchema, { timeMs: now, entry: { case: 'verdict', value: v } }))
    } else {
      this.#verdict = v
    }
    return fx
  }

  #computeVerdict (now: number): Verdict {
    const reasons = [...this.#findings.values()].map((f) => f.reason).sort(byWorst)
    let state = this.#seenInput ? HealthState.HEALTHY : HealthState.UNKNOWN
    let action = HealthAction.NONE
    for (const r of reasons) {
      state = Math.max(state, r.state)
      action = Math.max(action, r.action)
    }
    return create(VerdictSchema, { state, action, reasons, timeMs: now, policy: this.#policyLabel() })
  }

  #policyLabel (): string { return `${this.#policy.name}@${this.#policy.digest}` }

  #nodeObject (): Record<string, bigint> {
    let gpus = 0
    let lost = 0
    for (const [index, g] of this.#gpus) {
      if (index === NODE || g.last === undefined) continue
      gpus++
      if (g.last.lost) lost++
    }
    const node: Record<string, bigint> = { gpus: BigInt(gpus), lost_gpus: BigInt(lost) }
    if (this.#config.expectedGpus !== undefined) node.expected_gpus = BigInt(this.#config.expectedGpus)
    return node
  }

  #gpu (index: number): GpuState {
    let g = this.#gpus.get(index)
    if (g === undefined) {
      g = { info: undefined, history: this.#newHistory(), last: undefined, object: undefined }
      this.#gpus.set(index, g)
    }
    return g
  }

  #newHistory (): GpuHistory {
    return new GpuHistory(this.#policy.tracked, Math.max(this.#policy.eventWindowMs, 1), this.#config.history)
  }
}

function byWorst (a: Reason, b: Reason): number {
  return b.state - a.state || b.action - a.action || a.rule.localeCompare(b.rule) ||
    (a.gpuIndex ?? -1) - (b.gpuIndex ?? -1)
}

function verdictKey (v: Verdict): string {
  return `${v.state}/${v.action}/` + v.reasons.map((r) => `${r.rule}#${r.gpuIndex ?? '-'}:${r.state}:${r.action}`).join(',')
}

function eventObject (e: GpuEvent, cls: EventClass): Record<string, unknown> {
  const o: Record<string, unknown> = {
    kind: kindName(e.kind),
    xid: BigInt(e.xid),
    source: e.source === GpuEventSource.KMSG ? 'kmsg' : e.source === GpuEventSource.NVML ? 'nvml' : 'unknown',
    detail: e.detail,
    action: actionName(cls.action),
    class: cls.class,
    app: cls.app,
    escalate: cls.escalate,
    cause: BigInt(cls.cause),
    xid_name: cls.xid?.name ?? (e.kind === GpuEventKind.SXID ? 'SXID' : ''),
    bucket: cls.xid?.immediate ?? '',
    unused: cls.xid?.unused ?? false,
  }
  if (e.fatal !== undefined) o.fatal = e.fatal
  if (e.link !== undefined) o.link = BigInt(e.link)
  return o
}
