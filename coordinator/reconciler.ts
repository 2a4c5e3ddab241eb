// The coordinator's loop as a deterministic core: when to list each provider, the planner's plan,
// which actions are already in flight, the scalers, and the pools report the coordinator gossips.
// It returns calls for the driver to make (the agent: real SDKs; the simulator: the fake cloud on
// virtual time) and is told how each went. Nothing here awaits or reads a clock.
import { create } from '@bufbuild/protobuf'
import { FleetEventSchema, PoolsReportSchema, PoolStatusSchema, type FleetEvent, type PoolStatus, type PoolsReport } from '../proto/gen/shoal_pb.js'
import { assert } from '../agent/lib/assert.js'
import { Scaler } from './autoscale/scaler.js'
import type { ObservedNode } from './observed.js'
import { DEFAULT_PLANNER_CONFIG, Planner, type Action, type NodeCommandKind, type PlannerConfig } from './planner.js'
import type { PoolSpec } from './pool.js'
import type { Instance, InstanceRef, Offering, ProviderErrorClass, ProvisionRequest } from './providers/provider.js'
import { offeringKey } from './backoff.js'

export interface ReconcilerConfig {
  /**
   * Plan this often while something is under way (a provision, a cordon, a drain, a scale-down:
   * each plan retries what has not landed), or while an autoscaler reads the pool's signals.
   * Default 1 s.
   */
  readonly planIntervalMs: number
  /**
   * With nothing under way and no autoscaler, the planner says until when its plan stands
   * (Plan.idleUntil: its next settle, grace or deadline); the next plan is then, or at the next
   * change (a member or health change, a call's answer, a listing that differs, an operator's
   * write), and at the latest this long after the last. A 10,000-node plan costs about 6 ms:
   * planning every interval when nothing changes was nearly all of a quiet coordinator's work.
   * Default 60 s, a backstop only.
   */
  readonly idlePlanMaxMs: number
  /**
   * List every provider this often. Listing is the truth about instances, but rate-limited
   * (Lambda: ~1 request/s for the whole account); between listings the planner trusts what the
   * driver reported. Default 30 s.
   */
  readonly listIntervalMs: number
  /**
   * Gossip the pools report at least this often, so agents and a successor stay current. It goes
   * to every agent; big pools leave their active slots out, so it stays a few KB. Default 30 s.
   */
  readonly reportIntervalMs: number
  /** A change is gossiped at most this often: during a burst of replacements, one report per 2 s, not one per plan. Default 2 s. */
  readonly reportMinIntervalMs: number
  /** Pools with more slots than this leave their active slots out of the report (a listing has them). Default 64. */
  readonly reportFullSlots: number
  /** A cordon or drain not reflected in the node's health after this long is asked again. Default 10 s. */
  readonly commandRetryMs: number
  /** Coordinator events carried per pools report (the rest are only in this agent's events). */
  readonly maxReportEvents: number
  readonly planner: PlannerConfig
}

export const DEFAULT_RECONCILER_CONFIG: ReconcilerConfig = {
  planIntervalMs: 1_000,
  idlePlanMaxMs: 60_000,
  listIntervalMs: 30_000,
  reportIntervalMs: 30_000,
  reportMinIntervalMs: 2_000,
  reportFullSlots: 64,
  commandRetryMs: 10_000,
  maxReportEvents: 32,
  planner: DEFAULT_PLANNER_CONFIG,
}

export type Call =
  | { readonly key: string, readonly kind: 'list', readonly provider: string }
  | {
    readonly key: string, readonly kind: 'provision', readonly provider: string, readonly request: ProvisionRequest, readonly action: Extract<Action, { kind: 'provision' }>
    /** A replacement: how long since the planner first saw the fault (ms). */
    readonly faultAgeMs: number | undefined
  }
  | { readonly key: string, readonly kind: 'terminate', readonly provider: string, readonly ref: InstanceRef, readonly action: Extract<Action, { kind: 'terminate' }> }

/** A coordinator event, and the webhook kind (coordinator/webhook.ts) it is, if any. */
export interface CoordinatorEvent { readonly event: FleetEvent, readonly pool: string, readonly hook: string | undefined }

export interface NodeCommand { readonly key: string, readonly kind: NodeCommandKind, readonly node: string, readonly reason: string }

export interface ReconcileEffects {
  calls: Call[]
  commands: NodeCommand[]
  /** Nodes held dead to probe once more before they are replaced (the mesh's lastLook). */
  looks: string[]
  /** Publish this on the coord topic. */
  report: PoolsReport | undefined
  events: FleetEvent[]
}

export type CallOutcome =
  | { readonly ok: true, readonly instance?: Instance, readonly instances?: Instance[], readonly offerings?: Offering[] }
  | { readonly ok: false, readonly errorClass: ProviderErrorClass, readonly code: string, readonly message: string }

/** Counters for metrics (coordinator/metrics.ts) and benchmarks. */
export interface ReconcilerStats {
  provisions: number
  provisionFailures: Partial<Record<ProviderErrorClass, number>>
  terminations: number
  backoffs: number
}

export interface ReconcilerOptions {
  readonly fleet: string
  readonly self: string
  readonly pools: readonly PoolSpec[]
  /** Provider names, in the order they are listed. */
  readonly providers: readonly string[]
  readonly config: ReconcilerConfig
}

/** Retry delays for a failed call (see #failed). */
const RETRY_BASE_MS = 1_000
const RETRY_MAX_MS = 5 * 60_000
const MAX_FAILURES = 4096

function emptyEffects (): ReconcileEffects {
  return { calls: [], commands: [], looks: [], report: undefined, events: [] }
}

export class Reconciler {
  readonly #o: ReconcilerOptions
  #planner: Planner
  #scalers = new Map<string, Scaler>()
  #term = 0
  #active = false
  #seq = 0
  #nextPlanAt = 0
  #nextReportAt = 0
  /** What the last report said, as reportKey() flattens it: a report repeats only when due. */
  #lastReportKey: readonly unknown[] | undefined
  #lastReportAt = -Infinity
  readonly #listed = new Map<string, Instance[]>()
  readonly #listedAt = new Map<string, number>()
  readonly #available = new Map<string, boolean>()
  /** When each provider's listing in #listed was taken (#listedAt also moves on a failed list, to pace retries). */
  readonly #takenAt = new Map<string, number>()
  readonly #listSentAt = new Map<string, number>()
  readonly #inFlight = new Map<string, Call>()
  readonly #commandsAt = new Map<string, number>()
  readonly #queue = new Map<string, { depth: number, at: number }>()
  readonly #scale = new Map<string, number>()
  /** When each scale write (or clear) was taken here. */
  readonly #scaleAt = new Map<string, number>()
  /** Provider calls that failed and may be retried (transient, rate-limited; terminates), and when. */
  readonly #failures = new Map<string, { n: number, until: number }>()
  readonly #pendingEvents: CoordinatorEvent[] = []
  /** Events since the last pools report, which carries them to every agent's `shoal events`. */
  readonly #reportEvents: FleetEvent[] = []
  /** Nodes whose replace-class fault the planner has seen, and since when (a provision's faultAgeMs). */
  readonly #faultSeen = new Map<string, number>()
  #lastPools: PoolStatus[] = []
  #seedReport: PoolsReport | undefined
  readonly stats: ReconcilerStats = { provisions: 0, provisionFailures: {}, terminations: 0, backoffs: 0 }

  constructor (o: ReconcilerOptions) {
    assert(new Set(o.pools.map((p) => p.name)).size === o.pools.length, 'pool names must be unique')
    this.#o = o
    this.#planner = new Planner(o.fleet, o.config.planner)
  }

  get active (): boolean { return this.#active }
  get pools (): readonly PoolStatus[] { return this.#lastPools }

  /** This agent became the acting coordinator of `term`; `last` is the last pools report it heard. */
  activate (term: number, last: PoolsReport | undefined, now: number): void {
    this.#active = true
    this.#term = term
    // Fresh soft state: what the predecessor knew comes back from the clouds, the mesh and its report.
    this.#planner = new Planner(this.#o.fleet, this.#o.config.planner)
    this.#scalers = new Map(this.#o.pools.map((p) => [p.name, new Scaler(p.autoscaler, p.minNodes, p.maxNodes)]))
    this.#inFlight.clear()
    this.#commandsAt.clear()
    this.#listed.clear()
    this.#listedAt.clear()
    this.#takenAt.clear()
    this.#lastPools = []
    this.#seedReport = last
    this.#faultSeen.clear()
    if (last !== undefined) {
      // The last report is the truth about operator settings, except writes this agent took after
      // it (acknowledged in the moment before this reconciler saw the lease): an older local one
      // may have been cleared since.
      for (const [pool, at] of this.#scaleAt) if (at <= last.timeMs) { this.#scale.delete(pool); this.#scaleAt.delete(pool) }
      for (const [pool, q] of this.#queue) if (q.at <= last.timeMs) this.#queue.delete(pool)
      this.#planner.seed(last)
      for (const [pool, at] of this.#scaleAt) if (at > last.timeMs) this.#planner.resetAttempts(pool)
      this.#seq = last.term === term ? last.seq : 0
      for (const p of last.pools) {
        if (p.scale !== undefined && !this.#scaleAt.has(p.name)) this.#scale.set(p.name, p.scale)
        if (p.queueDepth !== undefined && !this.#queue.has(p.name)) this.#queue.set(p.name, { depth: p.queueDepth, at: p.queueSetMs })
      }
    }
    for (const [pool, n] of this.#scale) this.#scalers.get(pool)?.setOverride(n, now)
    this.#nextPlanAt = now
    this.#nextReportAt = now
    this.#event(now, '', 'coordinator', `coordinating ${this.#o.pools.length} pools in term ${term}`)
  }

  /** Lost the lease: stop deciding. Calls still running finish; their results are ignored. */
  deactivate (now: number): void {
    if (!this.#active) return
    this.#active = false
    this.#inFlight.clear()
    this.#event(now, '', 'coordinator', `stopped coordinating (term ${this.#term})`)
  }

  /** `shoal scale POOL N` (undefined clears it). The caller checked the pool and the bounds. */
  setScale (pool: string, n: number | undefined, now: number): void {
    if (n === undefined) this.#scale.delete(pool)
    else this.#scale.set(pool, n)
    this.#scaleAt.set(pool, now)
    this.#planner.resetAttempts(pool) // the operator's word that the cause of failed slots is fixed
    this.#scalers.get(pool)?.setOverride(n, now)
    this.#nextPlanAt = now
    this.#nextReportAt = now
  }

  setQueue (pool: string, depth: number, now: number): void {
    const was = this.#queue.get(pool)?.depth
    this.#queue.set(pool, { depth, at: now })
    if (was === depth) return // a queue source repeating itself is not news
    this.#nextPlanAt = now
    this.#nextReportAt = now
  }

  /** Plan now rather than at the next interval (a health or member change arrived). */
  poke (now: number): void {
    this.#nextPlanAt = Math.min(this.#nextPlanAt, now)
  }

  nextWakeAt (): number {
    if (!this.#active) return Infinity
    let at = Math.min(this.#nextPlanAt, this.#nextReportAt)
    for (const p of this.#o.providers) if (!this.#inFlight.has(`list:${p}`)) at = Math.min(at, (this.#listedAt.get(p) ?? -Infinity) + this.#o.config.listIntervalMs)
    return at
  }

  tick (now: number, nodes: readonly ObservedNode[]): ReconcileEffects {
    const fx = emptyEffects()
    if (!this.#active) return fx
    for (const p of this.#o.providers) {
      const key = `list:${p}`
      if (this.#inFlight.has(key) || now < (this.#listedAt.get(p) ?? -Infinity) + this.#o.config.listIntervalMs) continue
      const call: Call = { key, kind: 'list', provider: p }
      this.#listSentAt.set(p, now)
      this.#inFlight.set(key, call)
      fx.calls.push(call)
    }
    // Never plan a pool on a partial picture: a provider not listed yet would look empty, and the
    // pool would be filled a second time. Pools whose providers are all listed go ahead (one
    // cloud's outage must not stop another's replacements).
    const ready = this.#o.pools.some((p) => this.#ready(p))
    if (ready && now >= this.#nextPlanAt) {
      this.#nextPlanAt = now + this.#o.config.planIntervalMs
      this.#plan(fx, now, nodes)
    }
    if (now >= this.#nextReportAt) this.#report(fx, now, true)
    return fx
  }

  done (call: Call, outcome: CallOutcome, now: number): ReconcileEffects {
    const fx = emptyEffects()
    if (this.#inFlight.get(call.key) !== call) return fx // from a previous term, or already answered
    this.#inFlight.delete(call.key)
    switch (call.kind) {
      case 'list':
        if (outcome.ok) {
          // A listing that differs, or one a remembered provision or terminate waits on, is news: plan on it now.
          if (this.#planner.remembering || !sameInstances(this.#listed.get(call.provider), outcome.instances ?? [])) this.#nextPlanAt = now
          this.#listed.set(call.provider, outcome.instances ?? [])
          this.#listedAt.set(call.provider, now)
          // A listing shows the world as of when it was asked for, not when it answered.
          this.#takenAt.set(call.provider, this.#listSentAt.get(call.provider) ?? now)
          // Advisory capacity, for the availability strategy: the provider's own word, refreshed with each listing.
          for (const o of outcome.offerings ?? []) this.#available.set(offeringKey({ provider: call.provider, region: o.region, zone: '', instanceType: o.instanceType }), o.available)
        } else {
          // Keep the last good listing and try again after a full interval; without one (nothing is
          // planned until every provider has been listed), after five plan intervals.
          this.#listedAt.set(call.provider, this.#listed.has(call.provider) ? now : now - this.#o.config.listIntervalMs + this.#o.config.planIntervalMs * 5)
          this.#event(now, '', 'provider', `${call.provider} list failed: ${outcome.errorClass} ${outcome.code}: ${outcome.message}`)
        }
        break
      case 'provision': {
        const a = call.action
        if (outcome.ok && outcome.instance !== undefined) {
          this.#failures.delete(call.key)
          this.stats.provisions++
          this.#planner.provisioned(a.token, outcome.instance, now)
          this.#event(now, a.replaces ?? '', 'provider', `${call.provider} provisioned ${outcome.instance.id} (${outcome.instance.name}) for ${a.pool} slot ${a.slot}`)
        } else if (!outcome.ok) {
          this.stats.provisionFailures[outcome.errorClass] = (this.stats.provisionFailures[outcome.errorClass] ?? 0) + 1
          if (outcome.errorClass === 'capacity' || outcome.errorClass === 'quota') this.stats.backoffs++
          // The same request again (pinned to its offer): not before a growing delay. A refusal
          // (capacity, quota, fatal, not-found) moves to another offering, which needs no delay.
          if (outcome.errorClass === 'transient' || outcome.errorClass === 'rate-limited') this.#failed(call.key, now)
          const note = this.#planner.provisionFailed(a.token, outcome.errorClass, `${outcome.code}: ${outcome.message}`, now)
          this.#event(now, a.replaces ?? '', 'provider', `${call.provider} provision for ${a.pool} slot ${a.slot} failed: ${note}`)
        }
        this.#nextPlanAt = now
        break
      }
      case 'terminate':
        if (outcome.ok || outcome.errorClass === 'not-found') {
          this.#failures.delete(call.key)
          this.stats.terminations++
          this.#planner.terminated(call.ref.id, now, call.provider)
          this.#event(now, call.action.node ?? '', 'provider', `${call.provider} terminated ${call.ref.id} (${call.action.cause}: ${call.action.reason})`,
            call.action.cause === 'replaced' ? 'replaced' : call.action.cause === 'dead-on-arrival' ? 'dead-on-arrival' : 'terminated', call.action.pool)
        } else {
          this.#failed(call.key, now)
          this.#event(now, call.action.node ?? '', 'provider', `${call.provider} terminate ${call.ref.id} failed: ${outcome.errorClass} ${outcome.code}: ${outcome.message}`)
        }
        this.#nextPlanAt = now
        break
    }
    return fx
  }

  #plan (fx: ReconcileEffects, now: number, nodes: readonly ObservedNode[]): void {
    const desired = new Map<string, number>()
    const autoscale = new Map<string, string>()
    for (const pool of this.#o.pools) {
      // One pass, summing in node order as a filter and reduce would.
      let members = 0
      let healthy = 0
      let utils = 0
      let sum = 0
      for (const n of nodes) {
        if (n.pool !== pool.name || (n.member !== 'alive' && n.member !== 'suspect')) continue
        members++
        if (n.health !== 'healthy' && n.health !== 'degraded') continue
        healthy++
        if (n.utilization === undefined) continue
        utils++
        sum += n.utilization
      }
      const d = this.#scalers.get(pool.name)!.decide({
        now: Math.floor(now), current: members, healthy, min: pool.minNodes, max: pool.maxNodes,
        utilization: utils === 0 ? undefined : sum / utils,
        queueDepth: this.#queue.get(pool.name)?.depth,
      })
      if (d.changed) this.#event(now, '', 'scale', `pool ${pool.name} desired ${d.desired}: ${d.reason}`, 'scaled', pool.name)
      desired.set(pool.name, d.desired)
      autoscale.set(pool.name, d.reason)
    }
    const instances: Instance[] = []
    for (const l of this.#listed.values()) for (const i of l) instances.push(i)
    const hold = new Set(this.#o.pools.filter((p) => !this.#ready(p)).map((p) => p.name))
    const plan = this.#planner.plan({ now, pools: this.#o.pools, desired, instances, nodes, available: this.#available, hold, listedAt: this.#takenAt })
    // A replacement waiting on time alone (a verdict settling, a dead node's grace) is planned when due, not at the next interval.
    this.#nextPlanAt = Math.min(this.#nextPlanAt, Math.max(plan.wakeAt, now + 1))
    // Nothing under way: the plan stands until idleUntil (or a change pokes it).
    if (plan.idleUntil > now && !this.#autoscaling()) this.#nextPlanAt = Math.max(now + 1, Math.min(plan.idleUntil, now + this.#o.config.idlePlanMaxMs))
    if (this.#faultSeen.size > 0) {
      const live = new Set(nodes.map((n) => n.id))
      for (const id of this.#faultSeen.keys()) if (!live.has(id)) this.#faultSeen.delete(id)
    }
    for (const [k, at] of this.#commandsAt) if (now - at > this.#o.config.commandRetryMs * 10) this.#commandsAt.delete(k)
    for (const n of nodes) {
      if (n.health === 'unhealthy' && n.action === 'replace' && !this.#faultSeen.has(n.id)) this.#faultSeen.set(n.id, now)
    }
    for (const a of plan.actions) this.#act(fx, a, now)
    // A pool held for an unlisted provider keeps its last known status (from this term or the
    // seeding report), so reports, `shoal pools` and a later successor do not lose it.
    const planned = new Map(plan.pools.map((p) => [p.name, p]))
    const previous = new Map([...(this.#seedReport?.pools ?? []), ...this.#lastPools].map((p) => [p.name, p]))
    const statuses = this.#o.pools.flatMap((p) => {
      const st = planned.get(p.name) ?? (hold.has(p.name) ? previous.get(p.name) : undefined)
      return st === undefined ? [] : [st]
    })
    this.#lastPools = statuses.map((p) => {
      if (!planned.has(p.name)) return p
      const q = this.#queue.get(p.name)
      const scaler = this.#scalers.get(p.name)!.snapshot()
      return Object.assign(p, {
        scale: this.#scale.get(p.name), queueDepth: q?.depth, queueSetMs: q?.at ?? 0,
        autoscaler: scaler.autoscaler, autoscalerReason: autoscale.get(p.name) ?? '',
        notices: plan.notices.filter((m) => m.startsWith(`pool ${p.name}:`) || !m.startsWith('pool ')),
      })
    })
    for (const m of plan.notices) this.#notice(now, m)
    this.#report(fx, now, false)
  }

  #autoscaling (): boolean {
    for (const s of this.#scalers.values()) if (s.autoscaling) return true
    return false
  }

  #ready (p: PoolSpec): boolean {
    return p.offers.every((o) => this.#listed.has(o.provider))
  }

  /** A call that failed waits 1 s, 2 s, 4 s … up to 5 min before it is made again (never a hot loop). */
  #failed (key: string, now: number): void {
    const n = (this.#failures.get(key)?.n ?? 0) + 1
    this.#failures.delete(key)
    this.#failures.set(key, { n, until: now + Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(n - 1, 20)) })
    if (this.#failures.size > MAX_FAILURES) this.#failures.delete(this.#failures.keys().next().value as string)
  }

  #act (fx: ReconcileEffects, a: Action, now: number): void {
    if (a.kind === 'cordon' || a.kind === 'drain' || a.kind === 'uncordon') {
      const last = this.#commandsAt.get(a.key)
      if (last !== undefined && now - last < this.#o.config.commandRetryMs) return
      this.#commandsAt.set(a.key, now)
      fx.commands.push({ key: a.key, kind: a.kind, node: a.node, reason: a.reason })
      return
    }
    // The mesh drops a look already in flight: asking again each plan is how an unanswered one is retried.
    if (a.kind === 'look') {
      fx.looks.push(a.node)
      return
    }
    if (this.#inFlight.has(a.key)) return
    if ((this.#failures.get(a.key)?.until ?? -Infinity) > now) return
    let call: Call
    if (a.kind === 'provision') {
      const seen = a.replaces === undefined ? undefined : this.#faultSeen.get(a.replaces)
      call = {
        faultAgeMs: seen === undefined ? undefined : now - seen,
        key: a.key, kind: 'provision', provider: a.offer.provider, action: a,
        request: {
          token: a.token, name: a.name, region: a.offer.region, zone: a.offer.zone, instanceType: a.offer.instanceType,
          tags: { fleet: this.#o.fleet, pool: a.pool, slot: a.slot, generation: a.generation, token: a.token },
          labels: this.#o.pools.find((p) => p.name === a.pool)?.labels ?? {},
        },
      }
      if (seen !== undefined) this.#faultSeen.delete(a.replaces!)
      this.#event(now, a.replaces ?? '', 'provider', `${a.offer.provider} provision ${a.name} (${a.offer.instanceType} in ${a.offer.region}) for ${a.pool} slot ${a.slot}: ${a.reason}`,
        a.replaces === undefined ? undefined : 'replacing', a.pool)
    } else if (a.kind === 'terminate') {
      call = { key: a.key, kind: 'terminate', provider: a.instance.provider, action: a, ref: { region: a.instance.region, zone: a.instance.zone, id: a.instance.id, name: a.instance.name } }
      this.#event(now, a.node ?? '', 'provider', `${a.instance.provider} terminate ${a.instance.id} (${a.cause}: ${a.reason})`)
    } else return
    this.#inFlight.set(a.key, call)
    fx.calls.push(call)
  }

  #noticed = new Map<string, number>()

  /** Notices repeat every plan; an operator needs each once (and again after a quiet hour). */
  #notice (now: number, message: string): void {
    const last = this.#noticed.get(message)
    if (last !== undefined && now - last < 3_600_000) return
    this.#noticed.set(message, now)
    if (this.#noticed.size > 1024) this.#noticed.delete(this.#noticed.keys().next().value as string)
    const hook = message.includes('breaker open') ? 'breaker-tripped' : message.startsWith('correlated silence') ? 'correlated-silence'
      : message.startsWith('orphan') ? 'orphan' : / failed \d+ (replacements|attempts)/.test(message) ? 'slot-failed' : undefined
    this.#event(now, '', 'notice', message, hook, /^pool ([^:]+):/.exec(message)?.[1] ?? '')
  }

  #event (now: number, node: string, kind: string, detail: string, hook?: string, pool = ''): void {
    const e = create(FleetEventSchema, { timeMs: now, node, kind, detail, term: this.#term })
    this.#pendingEvents.push({ event: e, pool, hook })
    if (this.#pendingEvents.length > this.#o.config.maxReportEvents * 8) this.#pendingEvents.shift()
    this.#reportEvents.push(e)
    if (this.#reportEvents.length > this.#o.config.maxReportEvents) this.#reportEvents.shift()
    this.#nextReportAt = Math.min(this.#nextReportAt, now + this.#o.config.planIntervalMs)
  }

  /** Events since the last call, for the driver to record and log (each once). */
  drainEvents (): CoordinatorEvent[] {
    return this.#pendingEvents.splice(0)
  }

  #report (fx: ReconcileEffects, now: number, due: boolean): void {
    if (!due && this.#reportEvents.length === 0 && this.#lastReportKey !== undefined && sameReportKey(this.#lastPools, this.#lastReportKey)) return
    const earliest = this.#lastReportAt + this.#o.config.reportMinIntervalMs
    if (now < earliest) {
      this.#nextReportAt = earliest
      return
    }
    this.#lastReportKey = reportKey(this.#lastPools)
    this.#lastReportAt = now
    this.#nextReportAt = now + this.#o.config.reportIntervalMs
    const pools = this.#lastPools.map((p) => p.slots.length <= this.#o.config.reportFullSlots ? p : compactSlots(p))
    fx.report = create(PoolsReportSchema, { term: this.#term, coordinator: this.#o.self, seq: ++this.#seq, timeMs: now, pools, events: this.#reportEvents.splice(0) })
  }
}

/**
 * What a report is compared on, flat: per pool its name, desired, current, healthy, unhealthy,
 * replacing, scale, queueDepth, breakerOpen and slot count, then per slot its state, generation,
 * instance and node. Values are as JSON would write them (undefined and non-finite numbers are
 * null), so two keys are equal exactly when the JSON of the nested lists is, without building and
 * comparing a string of every slot on every plan.
 */
function reportKey (pools: readonly PoolStatus[]): unknown[] {
  const out: unknown[] = []
  for (const p of pools) {
    out.push(jsonValue(p.name), jsonValue(p.desired), jsonValue(p.current), jsonValue(p.healthy), jsonValue(p.unhealthy), jsonValue(p.replacing),
      jsonValue(p.scale), jsonValue(p.queueDepth), jsonValue(p.breakerOpen), p.slots.length)
    for (const s of p.slots) out.push(jsonValue(s.state), jsonValue(s.generation), jsonValue(s.instanceId), jsonValue(s.node))
  }
  return out
}

/** reportKey(pools) equals `key`, compared in place. */
function sameReportKey (pools: readonly PoolStatus[], key: readonly unknown[]): boolean {
  let k = 0
  for (const p of pools) {
    if (k + 10 > key.length) return false
    if (key[k++] !== jsonValue(p.name) || key[k++] !== jsonValue(p.desired) || key[k++] !== jsonValue(p.current) || key[k++] !== jsonValue(p.healthy) ||
        key[k++] !== jsonValue(p.unhealthy) || key[k++] !== jsonValue(p.replacing) || key[k++] !== jsonValue(p.scale) || key[k++] !== jsonValue(p.queueDepth) ||
        key[k++] !== jsonValue(p.breakerOpen) || key[k++] !== p.slots.length) return false
    if (k + 4 * p.slots.length > key.length) return false
    for (const s of p.slots) {
      if (key[k++] !== jsonValue(s.state) || key[k++] !== jsonValue(s.generation) || key[k++] !== jsonValue(s.instanceId) || key[k++] !== jsonValue(s.node)) return false
    }
  }
  return k === key.length
}

/** Two listings the planner would read alike (what it reads of each instance, in order). */
function sameInstances (a: readonly Instance[] | undefined, b: readonly Instance[]): boolean {
  if (a === undefined || a.length !== b.length) return false
  for (let k = 0; k < a.length; k++) {
    const x = a[k]!
    const y = b[k]!
    if (x.id !== y.id || x.state !== y.state || x.name !== y.name || x.launchedMs !== y.launchedMs || x.provider !== y.provider ||
        x.region !== y.region || x.zone !== y.zone || x.instanceType !== y.instanceType) return false
    const s = x.tags
    const t = y.tags
    if (s !== t && (s === null || t === null || s.fleet !== t.fleet || s.pool !== t.pool || s.slot !== t.slot || s.generation !== t.generation || s.token !== t.token)) return false
  }
  return true
}

function jsonValue (v: unknown): unknown {
  return v === undefined || v === null || (typeof v === 'number' && !Number.isFinite(v)) ? null : v
}

/**
 * A big pool's report leaves its active slots out: their instances (and generations) are in every
 * listing a successor makes, and the counts say how many there are. What a successor cannot list
 * (replacements under way, dead-on-arrival attempts, failed slots) stays.
 */
function compactSlots (p: PoolStatus): PoolStatus {
  return create(PoolStatusSchema, { ...p, slots: p.slots.filter((s) => s.state !== 'active') })
}
