// CloudSim: the coordinator on the simulator. A SimFleet whose agents run on instances of fake
// clouds (coordinator/providers/fake-cloud.ts), with the real Reconciler on every eligible agent,
// ticked while that agent holds the lease — as coordinator/runtime.ts does on a host. Provider
// calls take the fake cloud's latency in virtual time; an instance the coordinator launches boots
// a spare simulated host running a new agent; a terminated instance kills its agent.
//
// It keeps the truth a real fleet hides, to check the invariants as it runs: which nodes
// were really faulted (a terminated node that was not is a healthy node terminated), and how many
// instances each slot ever had alive at once (more than two is a duplicate).
import { create } from '@bufbuild/protobuf'
import { BootGateSchema, NodeMetaSchema, PoolsReportSchema, type BootGate, type NodeMeta } from '../../../proto/gen/shoal_pb.js'
import { assert } from '../../../agent/lib/assert.js'
import type { MeshEffects, OwnHealth } from '../../../agent/mesh/node.js'
import type { PoolSpec } from '../../../coordinator/pool.js'
import { FakeCloud, type FakeOffering, type FakeFault, type FakeInstance } from '../../../coordinator/providers/fake-cloud.js'
import { commandKindOf } from '../../../coordinator/planner.js'
import { DEFAULT_RECONCILER_CONFIG, Reconciler, type Call, type CallOutcome, type ReconcilerConfig } from '../../../coordinator/reconciler.js'
import { instanceName, provisionToken } from '../../../coordinator/token.js'
import { observe } from '../../../coordinator/view.js'
import { SimFleet, simMeta, type SimFleetOptions } from './fleet.js'
import { messageSize } from './size.js'
import { fatalHealth, healthyHealth } from './verdicts.js'

export interface SimCloudSpec {
  readonly name: string
  readonly offerings: readonly FakeOffering[]
  readonly latencyMs?: readonly [number, number]
  readonly doaRate?: number
}

export interface CloudSimOptions extends Omit<SimFleetOptions, 'meta' | 'pools' | 'onEffects' | 'bootOnStart' | 'eligible'> {
  /** Nodes the pool starts with (agents 0..initial-1, on instances created before the run). The rest of `agents` are spare hosts. */
  readonly initial: number
  /** Coordinator-eligible agents among the initial ones. Default 5. */
  readonly eligible?: number
  readonly clouds: readonly SimCloudSpec[]
  /** The pool (name 'h100'); offers must name the clouds. Default: min = max = initial, one offer per cloud in order. */
  readonly pool?: Partial<PoolSpec>
  /** From an instance's creation to its agent's boot. Default 20 s. */
  readonly agentBootMs?: number
  readonly reconciler?: Partial<ReconcilerConfig>
  /** How often each acting agent's reconciler is looked at (it also plans on health changes). Default 100 ms. */
  readonly tickMs?: number
  /**
   * Control agents: agents 0..control-1 are the council (coordinator-eligible, in no pool, on no
   * instance); pool node k is then agent control+k. Default 0: the first `eligible` pool nodes are the council.
   */
  readonly control?: number
  /** Zone and rack of pool slot k (NodeMeta, for correlated-silence detection). */
  readonly place?: (slot: number) => { readonly zone: string, readonly rack: string }
  /** What the harness watches: every provider call answered, every replacement request, every termination. */
  readonly hooks?: CloudSimHooks
}

export interface CloudSimHooks {
  call?: (agent: number, call: Call, answer: CallOutcome, latencyMs: number) => void
  request?: (r: ReplacementRequest) => void
  /** `healthy`: the agent was never faulted (the no-healthy-terminated invariant). */
  terminated?: (agent: number, inst: FakeInstance, cause: string, healthy: boolean) => void
  /** A provision created an instance: its token, for the unique-token invariant. */
  created?: (inst: FakeInstance) => void
  /** A launched instance's agent booted on spare host `agent`. */
  booted?: (agent: number, inst: FakeInstance) => void
}

export interface ReplacementRequest {
  /** Virtual time of the provision call. */
  readonly t: number
  readonly replaces: number
  readonly pool: string
  readonly slot: number
  readonly generation: number
  readonly provider: string
  /** The agent whose reconciler made the call. */
  readonly by: number
  /** From the moment that reconciler's planner first saw the fault to this call (its Call.faultAgeMs). */
  readonly faultAgeMs: number | undefined
}

const DEFAULT_POOL = 'h100'

export class CloudSim {
  readonly fleet: SimFleet
  readonly clouds = new Map<string, FakeCloud>()
  readonly pool: PoolSpec
  readonly reconcilers: Array<Reconciler | undefined>
  /** Agents the scenario faulted, and when (the truth: verdicts can lie, this cannot). */
  readonly faults = new Map<number, number>()
  readonly requests: ReplacementRequest[] = []
  /** Provision calls that created an instance in a slot already holding two live ones. */
  duplicates = 0
  /**
   * Instances terminated whose agent was never faulted, other than by scale-down (a dead-on-arrival
   * termination counts when the instance was not dead on arrival and its agent had booted).
   */
  healthyTerminated = 0
  /** Terminate calls for an instance already terminated (harmless to the cloud; a sign the planner forgot it did it). */
  repeatTerminations = 0
  /** Pools reports the acting reconcilers published, and their encoded bytes (each is gossiped to every agent). */
  reports = 0
  reportBytes = 0
  readonly violations: string[] = []
  readonly #o: CloudSimOptions
  readonly #agentOf = new Map<string, number>()
  readonly #instanceOf = new Map<number, FakeInstance>()
  readonly #free: number[] = []
  /** Agents that ran on their instance (the initial ones, and spares once booted). */
  readonly #booted = new Set<number>()
  readonly #fleetName: string
  readonly #control: number
  #acting = -1

  constructor (o: CloudSimOptions) {
    const control = o.control ?? 0
    assert(o.initial >= 1 && control + o.initial <= o.agents, 'control + initial must be within 1..agents')
    this.#o = o
    this.#control = control
    const POOL = o.pool?.name ?? DEFAULT_POOL
    this.#fleetName = o.fleet ?? 'sim'
    for (const c of o.clouds) {
      this.clouds.set(c.name, new FakeCloud({
        provider: c.name, seed: `${o.seed}:${c.name}`, offerings: c.offerings,
        latencyMsMin: c.latencyMs?.[0] ?? 50, latencyMsMax: c.latencyMs?.[1] ?? 400, doaRate: c.doaRate ?? 0, idPrefix: `${c.name}-`,
      }))
    }
    const first = o.clouds[0]!
    this.pool = {
      name: POOL, minNodes: o.initial, maxNodes: o.initial, strategy: 'priority',
      offers: o.clouds.map((c, k) => ({ provider: c.name, region: c.offerings[0]!.region, zone: '', instanceType: c.offerings[0]!.instanceType, priority: k, costPerHour: undefined, weight: 1 })),
      labels: {}, gpusPerNode: 8, gpuModel: 'H100', autoscaler: null,
      ...o.pool,
      health: { autoReplace: true, breakerFraction: 0.2, maxInFlight: 4, bootDeadlineMs: 5 * 60_000, maxAttempts: 3, deadReplaceAfterMs: 30_000, ...o.pool?.health },
    }
    // The fleet as it stands before the run: one instance per initial agent, in the first cloud.
    const cloud = this.clouds.get(first.name)!
    const metas: NodeMeta[] = []
    const eligible = control > 0 ? control : (o.eligible ?? 5)
    for (let i = 0; i < control; i++) metas.push(create(NodeMetaSchema, { ...simMeta(i, true), pool: 'control' }))
    for (let slot = 0; slot < o.initial; slot++) {
      const i = control + slot
      const token = provisionToken(this.#fleetName, POOL, slot, 1)
      const r = cloud.provision({
        token, name: instanceName(POOL, slot, 1, token), region: first.offerings[0]!.region, zone: '', instanceType: first.offerings[0]!.instanceType,
        tags: { fleet: this.#fleetName, pool: POOL, slot, generation: 1, token }, labels: {},
      }, 0)
      assert(r.kind === 'ok', 'the initial instances must launch')
      const inst = r.value.instance
      this.#agentOf.set(inst.id, i)
      this.#instanceOf.set(i, inst)
      this.#booted.add(i)
      this.#o.hooks?.created?.(inst)
      metas.push(this.#metaFor(i, inst, i < eligible))
    }
    for (let i = o.agents - 1; i >= control + o.initial; i--) this.#free.push(i)
    this.reconcilers = new Array<Reconciler | undefined>(o.agents)
    const bounds = new Map([[POOL, { min: this.pool.minNodes, max: this.pool.maxNodes }]])
    this.fleet = new SimFleet({
      ...o,
      eligible,
      bootOnStart: control + o.initial,
      meta: (i, eligible) => metas[i] ?? simMeta(i, eligible),
      pools: bounds,
      onEffects: (i, fx) => { this.#onEffects(i, fx) },
    })
  }

  get now (): number { return this.fleet.now }
  get acting (): number { return this.#acting }

  start (): void {
    this.fleet.startKnown()
    // After the first connections (startKnown's agents connect dialMs after boot): health
    // published before them reaches nobody, and startKnown skips the reannouncement a real
    // agent makes on its first connection.
    this.fleet.sched.after(50, () => {
      for (let i = 0; i < this.#control + this.#o.initial; i++) if (this.fleet.isLive(i)) this.fleet.setHealth(i, { ...healthyHealth(this.fleet.localNow(i)), bootGate: bootGate(true) })
    })
    this.#scheduleTick()
  }

  /** A fatal GPU fault (XID 79) on agent i, as its own health policy would judge it. */
  injectFatal (i: number): void {
    this.faults.set(i, this.fleet.now)
    this.fleet.setHealth(i, { ...fatalHealth(this.fleet.localNow(i)), bootGate: bootGate(true) })
  }

  /** Agent i's health as its own policy judged it (boot gate as its instance's). */
  setHealth (i: number, h: OwnHealth): void {
    this.fleet.setHealth(i, { ...h, bootGate: bootGate(this.#gatePasses(i)) })
  }

  /** The instances the run starts with passed their gate long ago (the fake cloud's dead-on-arrival draw is for launches). */
  #gatePasses (i: number): boolean {
    const inst = this.#instanceOf.get(i)
    return inst === undefined || !inst.doa || inst.tags.generation === 1 && i < this.#control + this.#o.initial
  }

  /** The truth: agent i was faulted (terminating it is not terminating a healthy node). */
  markFaulted (i: number): void {
    if (!this.faults.has(i)) this.faults.set(i, this.fleet.now)
  }

  /** Pool agents with a live instance, by slot (the newest generation's agent per slot). */
  poolAgents (): number[] {
    const out: number[] = []
    for (const [agent, inst] of this.#instanceOf) if (inst.terminatedMs === null) out.push(agent)
    return out.sort((a, b) => a - b)
  }

  get control (): number { return this.#control }

  /**
   * The agent's process restarts on the same host (its instance lives on): a new MeshNode with its
   * store, and its health as the agent's first health pass reports it.
   */
  restart (i: number): void {
    assert(i < this.#o.agents && this.#instanceOf.has(i), `agent ${i} runs on no instance`)
    this.fleet.restart(i)
    this.fleet.setHealth(i, { ...healthyHealth(this.fleet.localNow(i)), bootGate: bootGate(this.#gatePasses(i)) })
  }

  instanceOf (i: number): FakeInstance | undefined { return this.#instanceOf.get(i) }
  agentOf (instanceId: string): number | undefined { return this.#agentOf.get(instanceId) }

  /** Live instances of the pool per slot, across clouds. */
  liveBySlot (): Map<number, FakeInstance[]> {
    const out = new Map<number, FakeInstance[]>()
    for (const c of this.clouds.values()) {
      for (const inst of c.instances()) {
        if (inst.terminatedMs !== null) continue
        ;(out.get(inst.tags.slot) ?? out.set(inst.tags.slot, []).get(inst.tags.slot)!).push(inst)
      }
    }
    return out
  }

  injectCloudFault (cloud: string, fault: FakeFault): void {
    this.clouds.get(cloud)!.injectFault(fault)
  }

  // ---- the simulated runtime ----------------------------------------------------------------------

  #metaFor (i: number, inst: FakeInstance, eligible: boolean): NodeMeta {
    const base = simMeta(i, eligible)
    const place = this.#o.place?.(inst.tags.slot)
    return create(NodeMetaSchema, { ...base, name: inst.name, pool: this.pool.name, instanceId: inst.id, provider: inst.id.split('-')[0] ?? '', coordinatorEligible: eligible, zone: place?.zone ?? '', rack: place?.rack ?? '' })
  }

  #scheduleTick (): void {
    this.fleet.sched.after(this.#o.tickMs ?? 100, () => {
      this.#tickAll()
      this.#scheduleTick()
    })
  }

  /** Every acting agent's reconciler ticks; the others are deactivated (as the runtime polls the lease). */
  #tickAll (): void {
    for (let i = 0; i < this.#o.agents; i++) {
      const r = this.reconcilers[i]
      if (!this.fleet.isLive(i)) {
        if (r !== undefined) this.reconcilers[i] = undefined // a dead process's memory is gone
        continue
      }
      if (i >= (this.#control > 0 ? this.#control : (this.#o.eligible ?? 5))) continue
      this.#tick(i)
    }
  }

  #tick (i: number): void {
    const node = this.fleet.node(i)
    const now = this.fleet.localNow(i)
    const acting = node.acting(now)
    let r = this.reconcilers[i]
    if (acting) {
      if (r === undefined) {
        r = new Reconciler({ fleet: this.#fleetName, self: node.self, pools: [this.pool], providers: [...this.clouds.keys()], config: { ...DEFAULT_RECONCILER_CONFIG, ...this.#o.reconciler } })
        this.reconcilers[i] = r
      }
      if (!r.active) {
        r.activate(node.term, node.pools, now)
        this.#acting = i
      }
    } else {
      if (r?.active === true) r.deactivate(now)
      return
    }
    if (now < r.nextWakeAt()) return
    const fx = r.tick(now, observe(node.nodes(now)))
    const life = node
    for (const c of fx.calls) this.#call(i, life, r, c)
    for (const c of fx.commands) {
      this.fleet.request(i, `${c.key}@${Math.floor(now)}`, { kind: commandKindOf(c.kind), target: c.node, reason: c.reason }, 30_000)
    }
    for (const node of fx.looks) this.fleet.drive(i, (nd, t) => nd.lastLook(node, t))
    if (fx.report !== undefined) {
      const report = fx.report
      this.reports++
      this.reportBytes += messageSize(PoolsReportSchema, report)
      this.fleet.drive(i, (nd) => nd.publishPools(report))
    }
    r.drainEvents()
  }

  #onEffects (i: number, fx: MeshEffects): void {
    const r = this.reconcilers[i]
    if (r === undefined || !r.active) return
    for (const w of fx.poolWrites) {
      if (w.kind === 'scale') r.setScale(w.pool, w.value, this.fleet.localNow(i))
      else r.setQueue(w.pool, w.value ?? 0, this.fleet.localNow(i))
    }
    if (fx.events.length > 0) r.poke(this.fleet.localNow(i))
  }

  #call (i: number, node: unknown, r: Reconciler, call: Call): void {
    const cloud = this.clouds.get(call.provider)!
    const now = this.fleet.now
    if (call.kind === 'provision' && call.action.replaces !== undefined) {
      const a = call.action
      const req = { t: now, replaces: this.fleet.indexOf(a.replaces!), pool: a.pool, slot: a.slot, generation: a.generation, provider: call.provider, by: i, faultAgeMs: call.faultAgeMs }
      this.requests.push(req)
      this.#o.hooks?.request?.(req)
    }
    const before = call.kind === 'provision' ? (this.liveBySlot().get(call.action.slot)?.length ?? 0) : 0
    const run = runCall(cloud, call, this.#fleetName, now)
    if (run.repeatTermination) this.repeatTerminations++
    if (run.created !== undefined && call.kind === 'provision') {
      if (before >= 2) {
        this.duplicates++
        this.violations.push(`t=${now.toFixed(0)} slot ${call.action.slot}: a third live instance ${run.created.id} (generation ${call.action.generation})`)
      }
      this.#o.hooks?.created?.(run.created)
      this.#launch(run.created)
    }
    if (run.terminated !== undefined && call.kind === 'terminate') this.#terminated(run.terminated, call)
    this.fleet.sched.after(run.waitMs, () => {
      this.#o.hooks?.call?.(i, call, run.answer, run.waitMs)
      if (this.reconcilers[i] !== r || !this.fleet.isLive(i) || this.fleet.node(i) !== node) return
      r.done(call, run.answer, this.fleet.localNow(i))
    })
  }

  /** A new instance: a spare host boots its agent after agentBootMs (a dead-on-arrival one fails its boot gate). */
  #launch (inst: FakeInstance): void {
    const spare = this.#free.pop()
    if (spare === undefined) {
      this.violations.push(`no spare host left for ${inst.id}: give the scenario more agents`)
      return
    }
    this.#agentOf.set(inst.id, spare)
    this.#instanceOf.set(spare, inst)
    this.fleet.sched.after(this.#o.agentBootMs ?? 20_000, () => {
      if (inst.terminatedMs !== null && inst.terminatedMs <= this.fleet.now) return
      this.fleet.setMeta(spare, this.#metaFor(spare, inst, false))
      this.fleet.boot(spare)
      this.#booted.add(spare)
      this.fleet.setHealth(spare, { ...healthyHealth(this.fleet.localNow(spare)), bootGate: bootGate(!inst.doa) })
      this.#o.hooks?.booted?.(spare, inst)
    })
  }

  #terminated (inst: FakeInstance, call: Extract<Call, { kind: 'terminate' }>): void {
    const agent = this.#agentOf.get(inst.id)
    if (agent === undefined) return
    const cause = call.action.cause
    const healthy = healthyTermination(this.faults.has(agent), inst, this.#booted.has(agent), cause)
    if (healthy) {
      this.healthyTerminated++
      this.violations.push(`t=${this.fleet.now.toFixed(0)} agent ${agent} (${inst.id}) terminated (${cause}) but was never faulted`)
    }
    this.#o.hooks?.terminated?.(agent, inst, cause, healthy)
    if (this.fleet.isLive(agent)) this.fleet.kill(agent)
  }
}

/** A simulated agent's boot gate: passed, or failed as a dead-on-arrival instance's would. */
export function bootGate (passed: boolean): BootGate {
  return create(BootGateSchema, { passed, failures: passed ? [] : ['cuda allocation failed (simulated dead on arrival)'], gpuCount: 8, expectedGpuCount: 8, models: ['NVIDIA H100 80GB HBM3'], expectedModel: 'H100' })
}

/** What a provider call did to a fake cloud, and what the reconciler hears back after `waitMs`. */
export interface CallRun {
  readonly answer: CallOutcome
  readonly waitMs: number
  /** A provision that created an instance (also when its answer was lost). */
  readonly created: FakeInstance | undefined
  readonly terminated: FakeInstance | undefined
  /** A terminate of an instance already terminated. */
  readonly repeatTermination: boolean
}

/** How long the driver waits for a call that never answers (the runtime's call timeout). */
export const HANG_TIMEOUT_MS = 30_000

/** One provider call against a fake cloud at virtual time `now` (the simulator's provider driver). */
export function runCall (cloud: FakeCloud, call: Call, fleet: string, now: number): CallRun {
  let latency = 0
  let outcome: CallOutcome | undefined
  let created: FakeInstance | undefined
  let terminated: FakeInstance | undefined
  let repeatTermination = false
  switch (call.kind) {
    case 'list': {
      const o = cloud.list(fleet, now)
      if (o.kind === 'hang') break
      latency = o.latencyMs
      outcome = o.kind === 'ok' ? { ok: true, instances: o.value.map((f) => cloud.toInstance(f, now)) } : { ok: false, ...o.error }
      break
    }
    case 'provision': {
      const o = cloud.provision(call.request, now)
      created = o.kind === 'ok' ? (o.value.existing ? undefined : o.value.instance) : o.kind === 'hang' ? o.committed?.instance : undefined
      if (o.kind === 'hang') break
      latency = o.latencyMs
      outcome = o.kind === 'ok' ? { ok: true, instance: cloud.toInstance(o.value.instance, now) } : { ok: false, ...o.error }
      break
    }
    case 'terminate': {
      repeatTermination = (cloud.get(call.ref.id, now)?.terminatedMs ?? null) !== null
      const o = cloud.terminate(call.ref.id, now)
      if (o.kind === 'hang') break
      latency = o.latencyMs
      if (o.kind === 'ok') terminated = o.value
      outcome = o.kind === 'ok' ? { ok: true } : { ok: false, ...o.error }
      break
    }
  }
  // A hang answers with the driver's timeout (the call may still have done its work).
  return {
    answer: outcome ?? { ok: false, errorClass: 'transient', code: 'timeout', message: 'no answer' },
    waitMs: outcome === undefined ? HANG_TIMEOUT_MS : latency,
    created, terminated, repeatTermination,
  }
}

/**
 * A termination of a node that was never faulted, other than by scale-down. A dead-on-arrival
 * termination counts when the instance was not dead on arrival and its agent had booted.
 */
export function healthyTermination (faulted: boolean, inst: FakeInstance, booted: boolean, cause: string): boolean {
  return !faulted && (cause === 'dead-on-arrival' ? !inst.doa && booted : cause !== 'scale-down')
}
