// The harness proper, over either simulated world (world.ts): the scenario's faults scheduled on
// the world's queue, the invariants checked as it runs (the first violation stops the run with the
// seed, the time and the trace), detection and replacement latencies, series for the report. Same
// seed and scenario → the same report digest.
import { HealthAction, HealthState } from '../../../proto/gen/shoal_pb.js'
import { seededRng, type Rng } from '../../../agent/lib/rng.js'
import type { FakeInstance } from '../../../coordinator/providers/fake-cloud.js'
import type { Call, CallOutcome } from '../../../coordinator/reconciler.js'
import type { ReplacementRequest } from '../sim/cloud.js'
import { Recorder, ViolationStop, nodeLabel, quantile } from '../report/recorder.js'
import type { Expect, Report } from '../report/types.js'
import type { OwnHealth } from '../../../agent/mesh/node.js'
import type { FaultEvent, Target } from '../scenario/faults.js'
import { GPU_FAULTS, type GpuFaultKind } from '../scenario/faults.js'
import type { Scenario } from '../scenario/load.js'
import { sideGroups } from '../scenario/sides.js'
import { expandFailures, nodesOf, placeOf } from '../scenario/profile.js'
import { SimGpus, expectOf } from './gpu.js'
import type { World, WorldHooks } from './world.js'

export interface SimulateOptions {
  /** Called every virtual second or so: progress bars. */
  readonly onProgress?: (doneMs: number, totalMs: number) => void
  /** The command line that reruns this scenario (quoted by a violation). */
  readonly reproduce?: string
}

/** The harness's own knobs; a scenario does not change them. */
export const HARNESS_CONFIG = {
  /** Virtual time between invariant checks and detection polls. 100 ms: the planner's own tick. */
  stepMs: 100,
  /** Boot: the fleet must elect a coordinator and see every agent within this long. */
  maxBootMs: 120_000,
  /** A crash or pause shorter than dead_replace_after less this is not expected to be replaced. */
  detectMarginMs: 10_000,
  /**
   * A published fatal verdict, or a silent node, must be in the acting coordinator's view within
   * this long (no-ack-lost). 15 s: reference/fleet-failures.md §7's p99 for a silent node.
   */
  detectWithinMs: 15_000,
  /**
   * A node back from a long cut stays dead in the coordinator's view until news of it arrives: a
   * replacement requested within this long of the heal was decided on the cut. 10 s: a few
   * propagation delays and a SWIM refutation.
   */
  healNewsMs: 10_000,
}

const GPU = new Set<string>(GPU_FAULTS)

interface Open {
  readonly id: number
  readonly agent: number
  /** The replacement request is due by then (scenario time; pushed back while the planner holds). */
  deadline: number
  /** The fault must be in the coordinator's view by then (pushed back while nobody acts). */
  detectBy: number
}

/** Spare hosts a scenario gets when it names none: room for its expected replacements. */
export function defaultSpares (s: Scenario): number {
  return s.fleet.spares ?? Math.max(4, Math.ceil(expandFailures(s).length * 1.5))
}

/** Runs the scenario on the world `makeWorld` builds with the harness's hooks. */
export function runHarness (s: Scenario, makeWorld: (hooks: WorldHooks, gpus: SimGpus) => World, o: SimulateOptions = {}): Report {
  const wall0 = performance.now()
  const rec = new Recorder(s, 'simulate', o.reproduce ?? `npm run harness -- run ${s.file} --seed ${s.seed}`)
  const h = new Harness(s, rec, o, makeWorld)
  let end = 0
  try {
    end = h.run()
  } catch (err) {
    if (!(err instanceof ViolationStop)) throw err
    end = h.t
  }
  return rec.build({ events: h.world.events, wallS: (performance.now() - wall0) / 1000, endMs: end })
}

class Harness {
  readonly world: World
  readonly #s: Scenario
  readonly #rec: Recorder
  readonly #o: SimulateOptions
  readonly #gpus: SimGpus
  readonly #rng: Rng
  readonly #expected: FaultEvent[]
  #t0 = 0
  /** Replace-class faults waiting for their replacement request. */
  readonly #open = new Map<number, Open>()
  /** Faults by agent, for detection, replacement and termination. */
  readonly #byAgent = new Map<number, number[]>()
  readonly #tokens = new Map<string, string>()
  /** Pool agents cut off from the council's majority by a partition: since when, and until (undefined: still). */
  readonly #cut = new Map<number, { from: number, to: number | undefined }>()
  /** Agents whose replacement was requested while they were cut off long enough (a later, shorter cut does not undo it). */
  readonly #requestedCut = new Set<number>()
  /** Faults the policy should act on, not yet in the coordinator's view (an application XID or a network cut has nothing to detect). */
  readonly #undetected = new Map<number, number>()
  /** Agents replaced for no fault the scenario injected (a dead-on-arrival retry, a node that went unhealthy on its own). */
  readonly #unattributed = new Set<number>()
  readonly #partitions: Array<{ readonly id: number, readonly side: readonly number[] }> = []
  /** Agents whose host is gone: nothing brings them back (a crash's restart, a pause's end, power). */
  readonly #lost = new Set<number>()
  #partitionSeq = 0
  #acting = -1
  #actingTerm = 0
  #nextSample = 0
  readonly #sampleEvery: number

  constructor (s: Scenario, rec: Recorder, o: SimulateOptions, makeWorld: (hooks: WorldHooks, gpus: SimGpus) => World) {
    this.#s = s
    this.#rec = rec
    this.#o = o
    this.#rng = seededRng(`${s.seed}:targets`)
    this.#expected = expandFailures(s)
    this.#sampleEvery = s.report.sample_every > 0 ? s.report.sample_every : Math.max(1000, Math.floor(s.duration / 240))
    this.#gpus = new SimGpus({ gpusPerNode: s.fleet.gpus_per_node, seed: `${s.seed}:gpus` })
    this.world = makeWorld({
      call: (agent, call, answer, latency) => { this.#onCall(agent, call, answer, latency) },
      request: (r) => { this.#onRequest(r) },
      terminated: (agent, inst, cause, healthy) => { this.#onTerminated(agent, inst, cause, healthy) },
      created: (inst) => { this.#onCreated(inst) },
      booted: (agent) => { this.#gpus.forget(agent) },
    }, this.#gpus)
  }

  /** Scenario time. */
  get t (): number { return Math.max(0, this.world.sched.now - this.#t0) }

  run (): number {
    const w = this.world
    w.start()
    const bootBy = w.sched.now + HARNESS_CONFIG.maxBootMs
    while (!w.ready()) {
      if (w.sched.now >= bootBy) throw new Error(`seed ${this.#s.seed}: ${this.#s.name}: the fleet did not elect a coordinator and plan within ${HARNESS_CONFIG.maxBootMs} ms`)
      w.sched.runUntil(w.sched.now + 500)
    }
    this.#t0 = w.sched.now
    for (const e of this.#expected) w.sched.at(this.#t0 + e.at, () => { this.#inject(e) })
    const end = this.#t0 + this.#s.duration
    let lastProgress = -Infinity
    while (w.sched.now < end) {
      w.sched.runUntil(Math.min(end, w.sched.now + HARNESS_CONFIG.stepMs))
      this.#step()
      if (w.sched.now - lastProgress >= 1000) {
        lastProgress = w.sched.now
        this.#o.onProgress?.(this.t, this.#s.duration)
      }
    }
    this.#sample(true)
    this.#finalChecks()
    return this.t
  }

  // ---- faults ---------------------------------------------------------------------------------

  #inject (e: FaultEvent): void {
    const w = this.world
    const t = this.t
    try {
      if (GPU.has(e.fault)) {
        const ev = e as Extract<FaultEvent, { fault: GpuFaultKind }>
        for (const agent of this.#targets(ev.target, ev.count)) {
          const fault = {
            kind: ev.fault, gpu: ev.gpu ?? Math.floor(this.#rng.next() * this.#s.fleet.gpus_per_node),
            ...('code' in ev ? { code: ev.code } : {}), ...('for' in ev ? { forMs: ev.for } : {}), ...('cascade' in ev ? { cascade: ev.cascade } : {}),
          }
          const expect = expectOf(fault)
          const id = this.#record(agent, ev.fault, `gpu ${fault.gpu}${'code' in ev ? ` xid ${ev.code}` : ''}`, expect)
          if (expect === 'replace' || expect === 'reset' || expect === 'reboot') w.markFaulted(agent)
          // The clock starts when the node's own policy says replace (a DBE burst takes minutes).
          if (expect === 'replace') this.#expectReplacement(id, agent, Infinity)
          const h = this.#gpus.inject(agent, fault, w.sched.now)
          if (h !== undefined && w.isLive(agent)) this.#setHealth(agent, h)
        }
        return
      }
      switch (e.fault) {
        case 'host-loss':
          for (const agent of this.#targets(e.target, e.count)) {
            const id = this.#record(agent, e.fault, 'host gone; its instance keeps running', 'replace')
            w.markFaulted(agent)
            this.#lost.add(agent)
            // Already crashed or paused: it stays down, whatever was to bring it back.
            if (w.isLive(agent)) w.kill(agent)
            this.#expectReplacement(id, agent, t + this.#s.fleet.pool.dead_replace_after)
          }
          return
        case 'agent-crash':
          for (const agent of this.#targets(e.target, e.count)) this.#down(agent, e.fault, e.down, () => { w.kill(agent) }, () => { this.#restart(agent) })
          return
        case 'agent-pause':
          for (const agent of this.#targets(e.target, e.count)) this.#down(agent, e.fault, e.for, () => { w.pause(agent) }, () => { if (w.isPaused(agent) && !this.#lost.has(agent)) w.resume(agent) })
          return
        case 'clock-skew':
          for (const agent of this.#targets(e.target, e.count)) {
            this.#record(agent, e.fault, `clock ${e.offset_ms > 0 ? '+' : ''}${e.offset_ms} ms`, 'none')
            w.skew!(agent, e.offset_ms)
          }
          return
        case 'coordinator-kill': {
          const c = this.#acting
          if (c < 0 || !w.isLive(c)) { this.#rec.trace(t, 'fault coordinator-kill', 'no acting coordinator: skipped'); return }
          this.#record(null, e.fault, `council-${c} (term ${this.#actingTerm}) killed for ${e.down} ms`, 'none')
          w.kill(c)
          if (e.down > 0) w.sched.after(e.down, () => { if (!w.isLive(c) && !this.#lost.has(c)) w.restart(c, undefined) })
          return
        }
        case 'partition':
          this.#partition(this.#targets(e.target, e.count, true), e.for, `partition ${describe(e.target)}`)
          return
        case 'flap':
          for (let k = 0; k < e.times; k++) w.sched.after(k * e.period, () => { this.#partition(this.#targets(e.target, e.count, true), e.period / 2, `flap ${k + 1}/${e.times} ${describe(e.target)}`) })
          return
        case 'loss': this.#linkWindow(e.fault, e.for, () => { w.link!.setLoss(Math.min(e.rate, 0.99)) }, `${e.rate}`); return
        case 'duplication': this.#linkWindow(e.fault, e.for, () => { w.link!.setDuplication(e.rate) }, `${e.rate}`); return
        case 'delay':
          this.#linkWindow(e.fault, e.for, () => { w.link!.setDelay(e.median, Math.max(e.median, e.p99)) }, `median ${e.median} ms, p99 ${e.p99} ms`)
          return
        case 'rack-outage':
        case 'zone-outage': {
          const target = e.target.kind === 'random' ? this.#randomPlace(e.fault === 'rack-outage' ? 'rack' : 'zone') : e.target
          const agents = this.#targets(target, 1)
          const cause = e.fault === 'rack-outage' ? e.cause : 'power'
          this.#record(null, e.fault, `${describe(target)} (${agents.length} nodes, ${cause}) for ${e.for} ms`, 'network')
          for (const a of agents) this.#rec.nodeEvent(t, this.#label(a), e.fault, cause)
          if (cause === 'network') this.#partition(agents, e.for, `${e.fault} ${describe(target)}`)
          else {
            for (const a of agents) { w.markFaulted(a); w.kill(a) }
            if (e.for > 0) w.sched.after(e.for, () => { for (const a of agents) if (!w.isLive(a)) this.#restart(a) })
          }
          return
        }
        default:
          this.#providerFault(e as Extract<FaultEvent, { provider: string }>)
      }
    } catch (err) {
      if (err instanceof ViolationStop) throw err
      this.#rec.violate('no-crash', t, `injecting ${e.fault}: ${(err as Error).stack ?? String(err)}`)
    }
  }

  #providerFault (e: Extract<FaultEvent, { provider: string }>): void {
    const clouds = [...this.world.clouds.entries()].filter(([name]) => e.provider === '' || e.provider === name)
    const f = this.world
    this.#record(null, e.fault, e.provider === '' ? 'every provider' : e.provider, 'none')
    for (const [, cloud] of clouds) {
      switch (e.fault) {
        case 'provider-capacity':
        case 'provider-quota':
        case 'provider-rate-limit': {
          const kind = e.fault === 'provider-capacity' ? 'capacity' : e.fault === 'provider-quota' ? 'quota' : 'rate-limited'
          cloud.injectFault({ kind, times: Infinity, ...(kind === 'rate-limited' ? { retryAfterMs: 1000 } : {}) })
          if (e.for > 0) f.sched.after(e.for, () => { cloud.clearFaults() })
          break
        }
        case 'provider-latency': {
          const before = { latencyMsMin: cloud.config.latencyMsMin, latencyMsMax: cloud.config.latencyMsMax }
          cloud.tune({ latencyMsMin: e.min, latencyMsMax: e.max })
          if (e.for > 0) f.sched.after(e.for, () => { cloud.tune(before) })
          break
        }
        case 'provider-doa': {
          const before = cloud.config.doaRate
          cloud.tune({ doaRate: e.rate })
          if (e.for > 0) f.sched.after(e.for, () => { cloud.tune({ doaRate: before }) })
          break
        }
        case 'provider-hang':
          cloud.injectFault({ kind: 'hang', times: e.times })
          break
      }
    }
  }

  /** A crash or pause: expected to be replaced only if it outlasts dead_replace_after. */
  #down (agent: number, fault: string, forMs: number, stop: () => void, resume: () => void): void {
    if (!this.world.isLive(agent) || this.world.isPaused(agent)) {
      this.#rec.trace(this.t, `fault ${fault}`, `${this.#label(agent)} is already down: skipped`)
      return
    }
    const deadAfter = this.#s.fleet.pool.dead_replace_after
    const replaced = forMs === 0 || forMs + HARNESS_CONFIG.detectMarginMs >= deadAfter
    const id = this.#record(agent, fault, forMs === 0 ? 'for good' : `for ${forMs} ms`, replaced ? 'replace' : 'host')
    if (replaced) { this.world.markFaulted(agent); this.#expectReplacement(id, agent, this.t + deadAfter) }
    stop()
    if (forMs > 0) {
      this.world.sched.after(forMs, () => {
        resume()
        // Back within the coordinator's grace (it counts from when it declared the node dead): no replacement owed.
        if (this.#rec.fault$(id)?.requested_ms === null) this.#open.delete(id)
      })
    }
  }

  #restart (agent: number): void {
    const w = this.world
    const inst = w.instanceOf(agent)
    if (inst === undefined || inst.terminatedMs !== null || this.#lost.has(agent)) return
    // The agent's journal keeps its incidents: a faulted GPU is still faulted after a restart.
    w.restart(agent, this.#gpus.current(agent, w.sched.now))
  }

  #partition (side: readonly number[], forMs: number, what: string): void {
    const f = this.world
    const id = this.#partitionSeq++
    this.#partitions.push({ id, side })
    this.#record(null, 'partition', `${what}: ${side.length} agents cut off${forMs > 0 ? ` for ${forMs} ms` : ''}`, 'network')
    this.#applyPartitions()
    if (forMs > 0) {
      f.sched.after(forMs, () => {
        const k = this.#partitions.findIndex((p) => p.id === id)
        if (k >= 0) this.#partitions.splice(k, 1)
        this.#applyPartitions()
      })
    }
  }

  /** Overlapping partitions: each agent's side is the set of cuts it is inside. */
  #applyPartitions (): void {
    const f = this.world
    if (this.#partitions.length === 0) { f.partition!([]); this.#updateCut(); return }
    f.partition!(sideGroups(this.#partitions).map((g) => g.sort((x, y) => x - y)))
    this.#updateCut()
  }

  /**
   * Which pool agents a partition cuts off from the council's majority (where a coordinator can
   * be), from when. Measured against the majority, not the acting coordinator: a successor
   * elected on the majority side saw them silent from the moment of the cut.
   */
  #updateCut (): void {
    const w = this.world
    const council = Array.from({ length: this.#s.fleet.council }, (_, i) => i)
    const anchor = council.find((c) => council.filter((d) => w.sameSide(c, d)).length > council.length / 2)
    const healed = this.#partitions.length === 0
    // No side holds a council majority: nobody can coordinate, and who is cut from whom is moot; keep the intervals running.
    if (anchor === undefined && !healed) return
    for (const a of w.poolAgents()) {
      const cut = !healed && !w.sameSide(a, anchor!)
      const c = this.#cut.get(a)
      if (cut && (c === undefined || c.to !== undefined)) {
        // A cut within a few seconds of the last one continues it (flapping).
        this.#cut.set(a, c !== undefined && c.to !== undefined && this.t - c.to < 5_000 ? { from: c.from, to: undefined } : { from: this.t, to: undefined })
      } else if (!cut && c !== undefined && c.to === undefined) c.to = this.t
    }
  }

  #linkWindow (fault: string, forMs: number, apply: () => void, detail: string): void {
    const w = this.world
    this.#record(null, fault, `${detail}${forMs > 0 ? ` for ${forMs} ms` : ''}`, 'network')
    apply()
    if (forMs > 0) w.sched.after(forMs, () => { w.link!.reset() })
  }

  /** Agents a target names now: pool nodes by slot, random live pool agents, or (partitions) any agents. */
  #targets (t: Target, count: number, anyAgent = false): number[] {
    const f = this.world
    const pool = f.poolAgents()
    const bySlot = new Map<number, number>()
    for (const a of pool) bySlot.set(f.instanceOf(a)!.tags.slot, a)
    switch (t.kind) {
      // A paused coordinator may still hold its lease: it is not a target again until it runs.
      case 'coordinator': return this.#acting >= 0 && f.isLive(this.#acting) && !f.isPaused(this.#acting) ? [this.#acting] : []
      case 'random': {
        const live = pool.filter((a) => f.isLive(a))
        return pickN(this.#rng, live, Math.min(count, live.length))
      }
      case 'half': {
        const all = anyAgent ? f.liveAgents() : pool
        return pickN(this.#rng, all, Math.floor(all.length / 2)).sort((a, b) => a - b)
      }
      default: return nodesOf(this.#s, t).map((slot) => bySlot.get(slot)).filter((a): a is number => a !== undefined)
    }
  }

  /** A random rack or zone of the pool (an outage with `target: random`). */
  #randomPlace (scope: 'rack' | 'zone'): Target {
    const p = placeOf(this.#s, Math.floor(this.#rng.next() * this.#s.fleet.pool.nodes))
    return scope === 'rack' ? { kind: 'rack', zone: p.zone, rack: p.rack } : { kind: 'zone', zone: p.zone }
  }

  #record (agent: number | null, fault: string, detail: string, expect: Expect): number {
    const slot = agent === null ? null : (this.world.instanceOf(agent)?.tags.slot ?? null)
    const id = this.#rec.fault(this.t, fault, slot, `${agent === null ? '' : `${this.#label(agent)}: `}${detail}`, expect)
    if (agent !== null) {
      (this.#byAgent.get(agent) ?? this.#byAgent.set(agent, []).get(agent)!).push(id)
      if (expect !== 'none' && expect !== 'network') this.#undetected.set(id, agent)
    }
    return id
  }

  /** The node publishes its own verdict; a replace verdict starts its faults' replacement clocks. */
  #setHealth (agent: number, h: OwnHealth): void {
    this.world.setHealth(agent, h)
    if (h.verdict?.action !== HealthAction.REPLACE) return
    for (const id of this.#byAgent.get(agent) ?? []) {
      const o = this.#open.get(id)
      if (o !== undefined && o.deadline === Infinity) {
        o.deadline = this.t + this.#s.assertions.replacement_within
        o.detectBy = this.t + HARNESS_CONFIG.detectWithinMs
      }
    }
  }

  #expectReplacement (id: number, agent: number, from: number): void {
    this.#open.set(id, { id, agent, deadline: from + this.#s.assertions.replacement_within, detectBy: from === Infinity ? Infinity : this.t + HARNESS_CONFIG.detectWithinMs })
  }

  #label (agent: number): string {
    const inst = this.world.instanceOf(agent)
    return inst === undefined ? `council-${agent}` : `${nodeLabel(inst.tags.slot)}.g${inst.tags.generation}`
  }

  // ---- what the clouds and the coordinator did ------------------------------------------------

  #onCall (agent: number, call: Call, answer: CallOutcome, latency: number): void {
    this.#rec.providerCall(this.t, call.provider, call.kind, answer.ok ? null : answer.errorClass, latency)
    if (call.kind !== 'list') this.#rec.trace(this.t, `call ${call.kind}`, `${call.provider} by agent ${agent}: ${answer.ok ? 'ok' : answer.errorClass}`)
  }

  #onRequest (r: ReplacementRequest): void {
    if (this.#cutLongEnough(r.replaces, HARNESS_CONFIG.healNewsMs)) this.#requestedCut.add(r.replaces)
    this.#rec.nodeEvent(this.t, this.#label(r.replaces), 'replacement requested', `slot ${r.slot} generation ${r.generation} on ${r.provider}`)
    // A second provision for one fault (after a capacity error, say) is the same replacement.
    const ids = (this.#byAgent.get(r.replaces) ?? []).filter((id) => this.#rec.fault$(id)?.expect === 'replace')
    for (const id of ids) {
      if (this.#rec.fault$(id)?.requested_ms !== null) continue
      this.#rec.requested(id, this.t)
      this.#open.delete(id)
    }
    if (ids.length === 0 && !this.#unattributed.has(r.replaces)) {
      this.#unattributed.add(r.replaces)
      this.#rec.replacementRequested()
    }
  }

  #onCreated (inst: FakeInstance): void {
    const token = inst.tags.token
    const other = this.#tokens.get(token)
    if (other !== undefined && other !== inst.id) this.#rec.violate('unique-token', this.t, `token ${token.slice(0, 12)} made ${other} and ${inst.id}`)
    this.#tokens.set(token, inst.id)
    this.#rec.check('unique-token')
  }

  /** Cut off from the coordinator for dead_replace_after (indistinguishable from a dead host), and healed no more than `sinceHealMs` ago. */
  #cutLongEnough (agent: number, sinceHealMs: number): boolean {
    const cut = this.#cut.get(agent)
    if (cut === undefined || (cut.to !== undefined && this.t - cut.to > sinceHealMs)) return false
    return (cut.to ?? this.t) - cut.from >= this.#s.fleet.pool.dead_replace_after
  }

  #onTerminated (agent: number, inst: FakeInstance, cause: string, healthy: boolean): void {
    this.#rec.nodeEvent(this.t, this.#label(agent), 'terminated', `${inst.id} (${cause})`)
    // Cut off from the coordinator for dead_replace_after is indistinguishable from a dead host.
    const unreachable = this.#requestedCut.has(agent) || this.#cutLongEnough(agent, Infinity)
    if (healthy && unreachable) this.#rec.nodeEvent(this.t, this.#label(agent), 'replaced while unreachable', 'cut off from the coordinator for dead_replace_after')
    if (healthy && !unreachable && this.#s.assertions.no_healthy_terminated) {
      this.#rec.violate('no-healthy-terminated', this.t, `${this.#label(agent)} (${inst.id}) terminated (${cause}) with no fault injected`)
    }
    this.#rec.check('no-healthy-terminated')
    let matched = false
    for (const id of this.#byAgent.get(agent) ?? []) {
      const rec = this.#rec.fault$(id)
      if (rec === undefined || rec.replaced_ms !== null || rec.expect !== 'replace') continue
      this.#rec.replaced(id, this.t)
      this.#open.delete(id)
      matched = true
    }
    if (!matched && cause !== 'scale-down') this.#rec.replacementCompleted()
    this.#gpus.forget(agent)
  }

  // ---- every step: detection, coordinator, invariants, samples --------------------------------

  #step (): void {
    for (const v of this.world.drainViolations()) this.#rec.violate(v.kind, Math.max(0, v.t - this.#t0), v.detail)
    this.#rec.check('one-coordinator')
    this.#rec.check('no-crash')
    this.#coordinator()
    this.#gpuTick()
    this.#detect()
    this.#deadlines()
    this.#bounds()
    if (this.world.sched.now >= this.#nextSample) this.#sample(false)
  }

  #coordinator (): void {
    const a = this.world.acting()
    const c = a?.agent ?? -1
    const term = a?.term ?? 0
    if (c !== this.#acting || term !== this.#actingTerm) {
      if (c >= 0) this.#rec.term(this.t, term, `council-${c}`)
      else this.#rec.noCoordinator(this.t)
      this.#acting = c
      this.#actingTerm = term
    }
  }

  #gpuTick (): void {
    const w = this.world
    if (w.sched.now < this.#gpus.nextWakeAt()) return
    for (const { node, health } of this.#gpus.tick(w.sched.now)) if (w.isLive(node)) this.#setHealth(node, health)
  }

  /** Detected: the acting coordinator's view shows the fault (a verdict worse than healthy, or the member silent). */
  #detect (): void {
    if (this.#acting < 0) return
    for (const [fid, agent] of this.#undetected) {
      const v = this.world.seen(agent)
      const seen = v.member === 'dead' || v.member === 'left' || v.member === 'suspect' ||
        (v.state !== undefined && (v.state === HealthState.UNHEALTHY || v.state === HealthState.DEGRADED)) ||
        (v.action !== undefined && v.action !== HealthAction.NONE)
      if (!seen) continue
      this.#rec.detected(fid, this.t)
      this.#undetected.delete(fid)
    }
  }

  /** Replacement requested in time, the clock stopped while nobody acts or the planner holds. */
  #deadlines (): void {
    if (this.#open.size === 0) return
    const held = this.#acting < 0 || this.#held()
    for (const o of this.#open.values()) {
      if (this.#acting < 0) o.detectBy += HARNESS_CONFIG.stepMs
      else if (this.t > o.detectBy && this.#rec.fault$(o.id)?.detected_ms === null) {
        this.#rec.violate('no-ack-lost', this.t, `${this.#label(o.agent)}: fault ${o.id} (published at ${this.#rec.fault$(o.id)?.t_ms} ms) never reached the coordinator's view`)
      }
      if (held) { o.deadline += HARNESS_CONFIG.stepMs; continue }
      const inst = this.world.instanceOf(o.agent)
      if (inst === undefined || inst.terminatedMs !== null) { this.#open.delete(o.id); continue }
      if (this.t > o.deadline) this.#rec.violate('replacement-requested', this.t, `${this.#label(o.agent)}: no replacement requested by ${Math.round(o.deadline)} ms (fault ${o.id})`)
    }
    this.#rec.check('replacement-requested', this.#open.size)
    this.#rec.check('no-ack-lost', this.#open.size)
  }

  /** The planner holds replacements on purpose: breaker, correlated silence, every offering backed off. */
  #held (): boolean {
    const p = this.world.pool()
    if (p === undefined) return true
    return p.breakerOpen || p.notices.some((n) => /correlated silence|backed off|failed \d+ (attempts|replacements)|breaker open/.test(n))
  }

  #bounds (): void {
    const pool = this.#s.fleet.pool
    const live = this.world.liveInstances()
    const max = (pool.max_nodes ?? pool.nodes) + pool.max_in_flight
    if (live > max) this.#rec.violate('pool-bounds', this.t, `${live} live instances, above max_nodes + max_in_flight (${max})`)
    this.#rec.check('pool-bounds')
  }

  #sample (final: boolean): void {
    const w = this.world
    this.#nextSample = final ? Infinity : w.sched.now + this.#sampleEvery
    let healthy = 0; let degraded = 0; let unhealthy = 0; let dead = 0
    for (const a of w.poolAgents()) {
      const v = w.seen(a)
      if (v.member === undefined) continue
      if (v.member === 'dead' || v.member === 'left') { dead++; continue }
      if (v.state === undefined || v.state === HealthState.HEALTHY) healthy++
      else if (v.state === HealthState.DEGRADED) degraded++
      else unhealthy++
    }
    const pool = this.#s.fleet.pool
    this.#rec.sample(this.t, {
      healthy, degraded, unhealthy, dead, poolLive: w.liveInstances(),
      poolTarget: w.pool()?.desired ?? pool.min_nodes ?? pool.nodes, term: this.#actingTerm,
    })
  }

  #finalChecks (): void {
    const a = this.#s.assertions
    if (a.replacement_p99 > 0) {
      const xs = this.#rec.faults.filter((f) => f.expect === 'replace' && f.requested_ms !== null).map((f) => f.requested_ms! - f.t_ms)
      const p99 = quantile(xs, 0.99)
      if (p99 !== null && p99 > a.replacement_p99) this.#rec.violate('replacement-requested', this.t, `fault → replacement request p99 ${p99} ms, above assertions.replacement_p99 (${a.replacement_p99} ms)`)
    }
    const last = this.#rec.series
    const live = last.pool_live.at(-1) ?? 0
    const target = last.pool_target.at(-1) ?? 0
    if (a.min_capacity > 0 && target > 0 && live / target < a.min_capacity) {
      this.#rec.violate('pool-bounds', this.t, `the pool ended at ${live} of ${target} (assertions.min_capacity ${a.min_capacity})`)
    }
  }
}

function pickN<T> (rng: Rng, xs: readonly T[], n: number): T[] {
  const a = [...xs]
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rng.next() * (a.length - i))
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a.slice(0, n)
}

function describe (t: Target): string {
  switch (t.kind) {
    case 'nodes': return `nodes ${t.nodes.join(',')}`
    case 'rack': return `rack ${t.zone}/${t.rack}`
    case 'zone': return `zone ${t.zone}`
    default: return t.kind
  }
}
