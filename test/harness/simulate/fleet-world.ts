// Fleet fidelity: the decisions are the real cores (the Reconciler and its Planner on the acting
// coordinator, every node's HealthJudge through SimGpus, the fake clouds), but membership, gossip
// and the election are modelled by their measured timings instead of run message by message:
// a node's health reaches the coordinator after a propagation delay, a silent node is declared
// dead after a detection delay, a lost coordinator is succeeded after a failover delay (all drawn
// from the seed; the figures are bench:mesh's, quoted below). An idle agent costs nothing, so
// 10,000 agents run for 24 virtual hours. What it cannot show — split votes, lease overlap, gossip
// under loss — is mesh fidelity's job; the loader refuses link faults here.
import { HealthState, type PoolsReport } from '../../../proto/gen/shoal_pb.js'
import { assert } from '../../../agent/lib/assert.js'
import type { OwnHealth } from '../../../agent/mesh/node.js'
import { DEFAULT_COORDINATOR_CONFIG } from '../../../coordinator/config.js'
import type { ObservedNode } from '../../../coordinator/observed.js'
import { FakeCloud, type FakeInstance } from '../../../coordinator/providers/fake-cloud.js'
import { DEFAULT_RECONCILER_CONFIG, Reconciler, type Call } from '../../../coordinator/reconciler.js'
import { instanceName, provisionToken } from '../../../coordinator/token.js'
import { actionNameOf, healthName } from '../../../coordinator/view.js'
import type { PoolSpec } from '../../../coordinator/pool.js'
import { ViolationStop } from '../report/recorder.js'
import { Scheduler } from '../sim/clock.js'
import { bootGate, healthyTermination, runCall } from '../sim/cloud.js'
import { latencySampler, stream, type LatencyConfig, type Sampler } from '../sim/random.js'
import type { Scenario } from '../scenario/load.js'
import { placeLabels } from '../scenario/profile.js'
import type { SimGpus } from './gpu.js'
import type { Seen, World, WorldHooks } from './world.js'

export const FLEET_MODEL_CONFIG = {
  /** A node's own health → the coordinator's view. Median 40 ms, p99 170 ms: bench:mesh's 20 real agents on loopback (the simulated LAN gives 2 ms). */
  propagation: { medianMs: 40, p99Ms: 170, maxMs: 1000 } satisfies LatencyConfig,
  /** A silent agent → dead in the coordinator's view. Median 2.5 s, p99 3.7 s: bench:mesh sim-1000 detect p99 3,683 ms. */
  detect: { medianMs: 2500, p99Ms: 3700, maxMs: 10_000 } satisfies LatencyConfig,
  /** Silent → suspect: one probe timeout and its indirect probes. */
  suspectMs: 1000,
  /** Coordinator lost → the successor acting. Median 900 ms, p99 1.3 s: bench:mesh sim-1000 failover p99 1,282 ms. */
  failover: { medianMs: 900, p99Ms: 1300, maxMs: 5000 } satisfies LatencyConfig,
  /** A returning agent is alive again after its join (push-pull) and one propagation. */
  rejoinMs: 500,
  /** Instance created → its agent boots (CloudSim's default). */
  agentBootMs: 20_000,
  /** A last look at a dead node ends this long after it is asked for: one probe period (the membership's default). */
  lookMs: 250,
  /** A cordon or drain hook runs this long (SimFleet's). */
  hookMs: 50,
  /** View entries of terminated nodes are dropped this long after (the mesh forgets dead members too). */
  forgetMs: 60_000,
  /** Ticks of the reconciler are at least this far apart (coordinator/runtime.ts polls as often). */
  minTickMs: 100,
}

const HEALTHY_SEEN: Seen = { member: 'alive', state: HealthState.HEALTHY, action: undefined }

interface Host {
  readonly agent: number
  inst: FakeInstance | undefined
  up: boolean
  paused: boolean
  /** Cut off from the coordinator's side by a partition. */
  cut: boolean
  booted: boolean
  /** Its boot gate passes (an instance of the initial fleet always; a launched one unless dead on arrival). */
  gate: boolean
  health: OwnHealth | undefined
  cordoned: boolean
  draining: boolean
  drained: boolean
  /** Bumped on every up/down change: a pending view update of an older one is dropped. */
  gen: number
  view: ObservedNode | undefined
  seen: Seen
}

export function fleetWorld (s: Scenario, hooks: WorldHooks, gpus: SimGpus): World {
  return new FleetWorld(s, hooks, gpus)
}

class FleetWorld implements World {
  readonly sched = new Scheduler()
  readonly clouds = new Map<string, FakeCloud>()
  readonly #s: Scenario
  readonly #hooks: WorldHooks
  readonly #gpus: SimGpus
  readonly #pool: PoolSpec
  readonly #fleet = 'sim'
  readonly #hosts: Host[] = []
  /** Hosts by instance id: a termination finds its host without a scan of 10,000. */
  readonly #byInstance = new Map<string, Host>()
  readonly #pausedCouncil = new Set<number>()
  readonly #council: boolean[]
  readonly #faulted = new Set<number>()
  readonly #prop: Sampler
  readonly #detect: Sampler
  readonly #failover: Sampler
  readonly #reconcilers = new Map<number, Reconciler>()
  #acting = -1
  #term = 0
  #electing = false
  #lastReport: PoolsReport | undefined
  #observed: ObservedNode[] = []
  #observedDirty = true
  #tickAt = Infinity
  #tickSeq = 0
  readonly #violations: Array<{ t: number, kind: 'no-crash', detail: string }> = []

  constructor (s: Scenario, hooks: WorldHooks, gpus: SimGpus) {
    this.#s = s
    this.#hooks = hooks
    this.#gpus = gpus
    const p = s.fleet.pool
    const providers = p.providers ?? s.providers.map((x) => x.name)
    const byName = new Map(s.providers.map((x) => [x.name, x]))
    for (const name of providers) {
      const c = byName.get(name)!
      this.clouds.set(name, new FakeCloud({
        provider: name, seed: `${s.seed}:${name}`, offerings: [{ region: c.region, instanceType: c.instance_type, capacity: c.capacity }],
        latencyMsMin: c.latency.min, latencyMsMax: c.latency.max, doaRate: c.doa_rate, idPrefix: `${name}-`, maxInstances: 1_000_000,
      }))
    }
    this.#pool = {
      name: p.name, minNodes: p.min_nodes ?? p.nodes, maxNodes: p.max_nodes ?? p.nodes, strategy: 'priority',
      offers: providers.map((name, k) => ({ provider: name, region: byName.get(name)!.region, zone: '', instanceType: byName.get(name)!.instance_type, priority: k, costPerHour: undefined, weight: 1 })),
      labels: {}, gpusPerNode: s.fleet.gpus_per_node, gpuModel: 'H100', autoscaler: null,
      health: { autoReplace: true, breakerFraction: p.breaker_fraction, maxInFlight: p.max_in_flight, bootDeadlineMs: p.boot_deadline, maxAttempts: 3, deadReplaceAfterMs: p.dead_replace_after },
    }
    this.#council = new Array<boolean>(s.fleet.council).fill(true)
    const seed = String(s.seed)
    this.#prop = latencySampler(stream(seed, 'model/propagation'), FLEET_MODEL_CONFIG.propagation)
    this.#detect = latencySampler(stream(seed, 'model/detect'), FLEET_MODEL_CONFIG.detect)
    this.#failover = latencySampler(stream(seed, 'model/failover'), FLEET_MODEL_CONFIG.failover)
    // Council agents are 0..council-1 (hosts[] holds no entry for them); pool nodes follow.
    const first = this.clouds.get(providers[0]!)!
    const offer = this.#pool.offers[0]!
    for (let slot = 0; slot < p.nodes; slot++) {
      const token = provisionToken(this.#fleet, p.name, slot, 1)
      const r = first.provision({
        token, name: instanceName(p.name, slot, 1, token), region: offer.region, zone: '', instanceType: offer.instanceType,
        tags: { fleet: this.#fleet, pool: p.name, slot, generation: 1, token }, labels: {},
      }, 0)
      assert(r.kind === 'ok', 'the initial instances must launch')
      hooks.created(r.value.instance)
      this.#live++
      const h = this.#newHost(r.value.instance)
      h.up = true
      h.booted = true
      h.gate = true
      h.health = { ...gpus.healthy(h.agent, 0), bootGate: bootGate(true) }
      this.#see(h, 0)
    }
  }

  get events (): number { return this.sched.processed }

  #newHost (inst: FakeInstance): Host {
    const h: Host = {
      agent: this.#s.fleet.council + this.#hosts.length, inst, up: false, paused: false, cut: false, booted: false, gate: !inst.doa, health: undefined,
      cordoned: false, draining: false, drained: false, gen: 0, view: undefined, seen: { member: undefined, state: undefined, action: undefined },
    }
    this.#hosts.push(h)
    this.#byInstance.set(inst.id, h)
    return h
  }

  #host (agent: number): Host | undefined { return this.#hosts[agent - this.#s.fleet.council] }
  #isCouncil (agent: number): boolean { return agent < this.#s.fleet.council }

  start (): void {
    this.sched.after(this.#failover(), () => { this.#elect() })
  }

  ready (): boolean {
    return this.#acting >= 0 && (this.#reconcilers.get(this.#acting)?.pools.length ?? 0) > 0
  }

  localNow (): number { return this.sched.now }

  poolAgents (): number[] {
    const out: number[] = []
    for (const h of this.#hosts) if (h.inst !== undefined && h.inst.terminatedMs === null) out.push(h.agent)
    return out
  }

  liveAgents (): number[] {
    const out: number[] = []
    this.#council.forEach((up, i) => { if (up) out.push(i) })
    for (const h of this.#hosts) if (h.up) out.push(h.agent)
    return out
  }

  instanceOf (agent: number): FakeInstance | undefined { return this.#host(agent)?.inst }
  isLive (agent: number): boolean { return this.#isCouncil(agent) ? this.#council[agent]! : this.#host(agent)?.up === true }
  isPaused (agent: number): boolean { return this.#host(agent)?.paused === true || (this.#isCouncil(agent) && this.#pausedCouncil.has(agent)) }

  kill (agent: number): void {
    if (this.#isCouncil(agent)) { this.#councilDown(agent); return }
    const h = this.#host(agent)!
    if (!h.up) return
    h.up = false
    this.#silent(h)
  }

  restart (agent: number, health: OwnHealth | undefined): void {
    if (this.#isCouncil(agent)) { this.#councilUp(agent); return }
    const h = this.#host(agent)!
    if (h.inst === undefined || h.inst.terminatedMs !== null) return
    h.up = true
    h.paused = false
    h.health = { ...(health ?? this.#gpus.healthy(agent, this.sched.now)), bootGate: bootGate(h.gate) }
    h.cordoned = false; h.draining = false; h.drained = false
    this.#back(h)
  }

  pause (agent: number): void {
    if (this.#isCouncil(agent)) { this.#pausedCouncil.add(agent); this.#councilDown(agent); return }
    const h = this.#host(agent)!
    if (!h.up || h.paused) return
    h.paused = true
    this.#silent(h)
  }

  resume (agent: number): void {
    if (this.#isCouncil(agent)) { this.#pausedCouncil.delete(agent); this.#councilUp(agent); return }
    const h = this.#host(agent)!
    if (!h.paused) return
    h.paused = false
    if (h.up) this.#back(h)
  }

  setHealth (agent: number, health: OwnHealth): void {
    const h = this.#host(agent)
    if (h === undefined) return
    h.health = { ...health, bootGate: bootGate(h.gate) }
    if (this.#reachable(h)) this.#propagate(h)
  }

  markFaulted (agent: number): void { this.#faulted.add(agent) }

  acting (): { agent: number, term: number } | null {
    return this.#acting >= 0 ? { agent: this.#acting, term: this.#term } : null
  }

  pool () { return this.#acting >= 0 ? this.#reconcilers.get(this.#acting)?.pools.find((p) => p.name === this.#pool.name) : undefined }

  seen (agent: number): Seen {
    const h = this.#host(agent)
    if (h === undefined) return this.#council[agent] === true ? HEALTHY_SEEN : { member: 'dead', state: undefined, action: undefined }
    return h.seen
  }

  /** Counted as instances come and go: the harness asks every step. */
  liveInstances (): number { return this.#live }
  #live = 0

  /** Only a rack's network outage partitions in fleet fidelity: the listed nodes go silent to the coordinator. */
  readonly partition = (groups: ReadonlyArray<readonly number[]>): void => {
    const cut = new Set(groups.flat())
    for (const h of this.#hosts) {
      const now = cut.has(h.agent)
      if (now === h.cut) continue
      h.cut = now
      if (now) { if (h.up && !h.paused) this.#silent(h) } else if (h.up && !h.paused) this.#back(h)
    }
  }

  /** The council is never cut in fleet fidelity: a pool node is on the coordinator's side unless cut. */
  sameSide (a: number, b: number): boolean {
    return !(this.#host(a)?.cut ?? false) && !(this.#host(b)?.cut ?? false)
  }

  drainViolations (): Array<{ t: number, kind: 'no-crash', detail: string }> {
    return this.#violations.splice(0)
  }

  // ---- the coordinator's view -----------------------------------------------------------------

  #reachable (h: Host): boolean { return h.up && !h.paused && !h.cut }

  /** The node's current own state reaches the coordinator after a propagation delay. */
  #propagate (h: Host): void {
    const gen = h.gen
    this.sched.after(this.#prop(), () => {
      if (h.gen !== gen || !this.#reachable(h)) return
      this.#see(h, this.sched.now)
    })
  }

  #silent (h: Host): void {
    const gen = ++h.gen
    this.sched.after(FLEET_MODEL_CONFIG.suspectMs, () => { if (h.gen === gen) this.#setMember(h, 'suspect') })
    this.sched.after(Math.max(FLEET_MODEL_CONFIG.suspectMs + 1, this.#detect()), () => { if (h.gen === gen) this.#setMember(h, 'dead') })
  }

  #back (h: Host): void {
    const gen = ++h.gen
    this.sched.after(FLEET_MODEL_CONFIG.rejoinMs + this.#prop(), () => {
      if (h.gen !== gen || !this.#reachable(h)) return
      this.#see(h, this.sched.now)
    })
  }

  #setMember (h: Host, member: 'suspect' | 'dead'): void {
    if (h.view === undefined || h.view.member === member || h.view.member === 'dead') return
    h.view = { ...h.view, member, memberSinceMs: this.sched.now }
    h.seen = { ...h.seen, member }
    this.#changed(h)
  }

  /** The coordinator's view of h becomes h's own state, alive. */
  #see (h: Host, now: number): void {
    const inst = h.inst!
    const place = placeLabels(this.#s, inst.tags.slot)
    const v = h.health?.verdict
    const wasAlive = h.view?.member === 'alive'
    h.view = {
      id: nodeId(h.agent), name: inst.name, pool: this.#pool.name, instanceId: inst.id, rack: place.rack, zone: place.zone,
      member: 'alive', memberSinceMs: wasAlive ? h.view!.memberSinceMs : now,
      health: v === undefined ? 'unknown' : healthName(v.state), action: v === undefined ? 'none' : actionNameOf(v.action),
      bootGatePassed: h.health?.bootGate?.passed, cordoned: h.cordoned, draining: h.draining, drained: h.drained, utilization: undefined,
    }
    h.seen = { member: 'alive', state: v?.state, action: v?.action }
    this.#changed(h)
  }

  #changed (h: Host): void {
    if (h.view !== undefined && !this.#index.has(h.agent)) this.#observedDirty = true
    else if (h.view !== undefined) this.#observed[this.#index.get(h.agent)!] = h.view
    const r = this.#reconcilers.get(this.#acting)
    if (r !== undefined) {
      r.poke(this.sched.now)
      this.#scheduleTick(this.sched.now)
    }
  }

  readonly #index = new Map<number, number>()

  #observedNodes (): readonly ObservedNode[] {
    if (this.#observedDirty) {
      this.#observed = []
      this.#index.clear()
      for (const h of this.#hosts) {
        if (h.view === undefined) continue
        this.#index.set(h.agent, this.#observed.length)
        this.#observed.push(h.view)
      }
      this.#observedDirty = false
    }
    return this.#observed
  }

  // ---- the election, modelled -----------------------------------------------------------------

  #councilDown (agent: number): void {
    if (!this.#council[agent]) return
    this.#council[agent] = false
    if (agent !== this.#acting) return
    this.#reconcilers.get(agent)?.deactivate(this.sched.now)
    this.#reconcilers.delete(agent) // a dead process's memory is gone
    this.#acting = -1
    this.#elect()
  }

  #councilUp (agent: number): void {
    if (this.#council[agent]) return
    this.#council[agent] = true
    if (this.#acting < 0) this.#elect()
  }

  /** After a failover delay the lowest live council member acts, if a majority is live. */
  #elect (): void {
    if (this.#electing) return
    this.#electing = true
    this.sched.after(this.#failover(), () => {
      this.#electing = false
      if (this.#acting >= 0) return
      const live = this.#council.filter(Boolean).length
      if (live <= this.#council.length / 2) return // no majority: nobody may act; councilUp tries again
      const next = this.#council.findIndex(Boolean)
      this.#term++
      this.#acting = next
      let r = this.#reconcilers.get(next)
      if (r === undefined) {
        r = new Reconciler({
          fleet: this.#fleet, self: nodeId(next), pools: [this.#pool], providers: [...this.clouds.keys()],
          config: { ...DEFAULT_RECONCILER_CONFIG, planIntervalMs: DEFAULT_COORDINATOR_CONFIG.reconcileIntervalMs },
        })
        this.#reconcilers.set(next, r)
      }
      r.activate(this.#term, this.#lastReport, this.sched.now)
      this.#scheduleTick(this.sched.now)
    })
  }

  // ---- the acting coordinator's loop ----------------------------------------------------------

  #scheduleTick (at: number): void {
    if (at >= this.#tickAt) return
    this.#tickAt = at
    const seq = ++this.#tickSeq
    this.sched.at(Math.max(at, this.sched.now), () => {
      if (seq !== this.#tickSeq) return
      this.#tickAt = Infinity
      this.#tick()
    })
  }

  #tick (): void {
    const agent = this.#acting
    const r = this.#reconcilers.get(agent)
    if (r === undefined || !r.active) return
    const now = this.sched.now
    try {
      if (now >= r.nextWakeAt()) {
        const fx = r.tick(now, this.#observedNodes())
        for (const c of fx.calls) this.#call(agent, r, c)
        for (const c of fx.commands) this.#command(c.kind, c.node)
        for (const node of fx.looks) this.#look(node)
        if (fx.report !== undefined) this.#lastReport = fx.report // gossiped to every agent; a successor starts from it
        r.drainEvents()
      }
    } catch (err) {
      if (err instanceof ViolationStop) throw err // an invariant the harness checked in a hook
      this.#violations.push({ t: now, kind: 'no-crash', detail: `the reconciler threw: ${(err as Error).stack ?? String(err)}` })
      return
    }
    // The runtime's floor: a reconciler waiting on its first listing says "now" until it arrives.
    this.#scheduleTick(Math.max(r.nextWakeAt(), now + FLEET_MODEL_CONFIG.minTickMs))
  }

  #call (agent: number, r: Reconciler, call: Call): void {
    const now = this.sched.now
    const cloud = this.clouds.get(call.provider)!
    if (call.kind === 'provision' && call.action.replaces !== undefined) {
      const a = call.action
      this.#hooks.request({ t: now, replaces: agentOf(a.replaces!), pool: a.pool, slot: a.slot, generation: a.generation, provider: call.provider, by: agent, faultAgeMs: call.faultAgeMs })
    }
    const run = runCall(cloud, call, this.#fleet, now)
    if (run.created !== undefined) {
      this.#live++
      this.#hooks.created(run.created)
      this.#launch(run.created)
    }
    if (run.terminated !== undefined && call.kind === 'terminate') this.#terminated(run.terminated, call.action.cause)
    this.sched.after(run.waitMs, () => {
      this.#hooks.call(agent, call, run.answer, run.waitMs)
      if (this.#reconcilers.get(this.#acting) !== r || !r.active) return
      r.done(call, run.answer, this.sched.now)
      this.#scheduleTick(this.sched.now)
    })
  }

  /** A cordon, drain or uncordon reaches the node, its hook runs, and its health says so. */
  #command (kind: 'cordon' | 'drain' | 'uncordon', node: string): void {
    const h = this.#host(agentOf(node))
    if (h === undefined) return
    this.sched.after(this.#prop() + FLEET_MODEL_CONFIG.hookMs, () => {
      if (!this.#reachable(h)) return
      if (kind === 'cordon') h.cordoned = true
      else if (kind === 'uncordon') { h.cordoned = false; h.draining = false; h.drained = false } else { h.cordoned = true; h.draining = false; h.drained = true }
      this.#propagate(h)
    })
  }

  /** A last look (Membership.lastLook): a reachable node answers and refutes; otherwise the look fails. */
  #look (node: string): void {
    const h = this.#host(agentOf(node))
    if (h === undefined) return
    this.sched.after(FLEET_MODEL_CONFIG.lookMs, () => {
      if (h.view?.member !== 'dead') return
      if (this.#reachable(h)) this.#see(h, this.sched.now)
      else {
        h.view = { ...h.view, lookFailedMs: this.sched.now }
        this.#changed(h)
      }
    })
  }

  #launch (inst: FakeInstance): void {
    const h = this.#newHost(inst)
    this.sched.after(FLEET_MODEL_CONFIG.agentBootMs, () => {
      if (inst.terminatedMs !== null && inst.terminatedMs <= this.sched.now) return
      h.up = true
      h.booted = true
      h.health = { ...this.#gpus.healthy(h.agent, this.sched.now), bootGate: bootGate(h.gate) }
      this.#hooks.booted(h.agent, inst)
      this.#back(h)
    })
  }

  #terminated (inst: FakeInstance, cause: string): void {
    const h = this.#byInstance.get(inst.id)
    if (h === undefined) return
    this.#live--
    const healthy = healthyTermination(this.#faulted.has(h.agent), inst, h.booted, cause)
    this.#hooks.terminated(h.agent, inst, cause, healthy)
    h.up = false
    this.#silent(h)
    this.sched.after(FLEET_MODEL_CONFIG.forgetMs, () => {
      h.view = undefined
      h.seen = { member: undefined, state: undefined, action: undefined }
      this.#observedDirty = true
    })
  }
}

function nodeId (agent: number): string { return `n${agent}` }
function agentOf (id: string): number { return Number(id.slice(1)) }
