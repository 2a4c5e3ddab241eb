// A cloud as a synchronous, deterministic model: offerings with capacity, injected faults, a
// latency draw, dead-on-arrival instances and idempotency by token. The simulator drives it in
// virtual time; FakeProvider and the wire fakes (EC2, GCP, Lambda servers) put I/O around it.
// Nothing here waits: each operation returns the latency the caller should apply.
import { assert } from '../../agent/lib/assert.js'
import { seededRng, type Rng } from '../../agent/lib/rng.js'
import type { Instance, InstanceState, InstanceTags, Offering, ProviderErrorClass, ProvisionRequest } from './provider.js'

export interface FakeOffering {
  readonly region: string
  readonly instanceType: string
  /** Instances that can still be launched; 'unlimited' never runs out. Terminations give it back. */
  readonly capacity: number | 'unlimited'
  readonly pricePerHour?: number
  /** Zone used when a request names none ('' for zoneless clouds). */
  readonly zone?: string
}

/**
 * What a forced fault does:
 * - capacity / quota / rate-limited / transient / fatal / not-found: the call fails with that class;
 * - timeout-after-success: the provision commits, then the answer is lost (commit-unknown);
 * - hang: no answer at all (the caller's timeout must fire).
 */
export type FakeFaultKind = ProviderErrorClass | 'timeout-after-success' | 'hang'
export type FakeOp = 'provision' | 'list' | 'terminate'

export interface FakeFault {
  readonly kind: FakeFaultKind
  /** Default 'provision'. */
  readonly op?: FakeOp
  /** Only calls for this region / instance type (provision); undefined matches any. */
  readonly region?: string
  readonly instanceType?: string
  /** How many matching calls it hits; default 1; Infinity for "until cleared". */
  readonly times?: number
  /** Sent with rate-limited errors. */
  readonly retryAfterMs?: number
}

export interface FakeCloudConfig {
  /** The provider name stamped on instances. */
  readonly provider: string
  readonly seed: number | string
  readonly offerings: readonly FakeOffering[]
  /** Latency drawn uniformly in [min, max] per call. Default 0..0. */
  readonly latencyMsMin: number
  readonly latencyMsMax: number
  /** Fraction of new instances that are dead on arrival (boot gate fails). Default 0. */
  readonly doaRate: number
  /** pending → running after this long. Default 0 (running at once). */
  readonly bootMs: number
  /** A terminated instance stays listed this long, then drops out of list (its token stays bound). */
  readonly terminatedListedMs: number
  /** Instance ids start with this ('i-' for EC2-like, '' for Lambda-like hex). */
  readonly idPrefix: string
  /** Bound on instances ever created (a runaway planner fails loudly instead of eating memory). */
  readonly maxInstances: number
}

export const DEFAULT_FAKE_CLOUD_CONFIG: Omit<FakeCloudConfig, 'provider' | 'offerings'> = {
  seed: 1,
  /** No latency unless a test or scenario asks: unit tests stay instant. */
  latencyMsMin: 0,
  latencyMsMax: 0,
  doaRate: 0,
  bootMs: 0,
  /** EC2 keeps terminated instances visible for about an hour. */
  terminatedListedMs: 60 * 60_000,
  idPrefix: 'fake-',
  /** 1,000-node fleets with many replacements stay far below this. */
  maxInstances: 200_000,
}

/** What the model keeps per instance; `doa` tells the harness to boot a broken agent (or none). */
export interface FakeInstance {
  readonly id: string
  readonly token: string
  readonly name: string
  readonly region: string
  readonly zone: string
  readonly instanceType: string
  readonly tags: InstanceTags
  readonly labels: Readonly<Record<string, string>>
  readonly createdMs: number
  readonly doa: boolean
  readonly address: string
  /** null while alive. */
  readonly terminatedMs: number | null
}

export interface FakeError {
  readonly errorClass: ProviderErrorClass
  readonly code: string
  readonly message: string
  readonly retryAfterMs?: number
}

/** ok: answered; error: failed (committed may still be set: timeout-after-success); hang: no answer. */
export type FakeOutcome<T> =
  | { readonly kind: 'ok', readonly value: T, readonly latencyMs: number }
  | { readonly kind: 'error', readonly error: FakeError, readonly latencyMs: number }
  /** No answer; `committed`: what the call did anyway (timeout-after-success). */
  | { readonly kind: 'hang', readonly committed?: T }

export interface FakeProvisionResult {
  readonly instance: FakeInstance
  /** True when the token had already created this instance (nothing new was launched). */
  readonly existing: boolean
}

export interface FakeCounters {
  /** Instances actually created. */
  provisions: number
  /** Provisions answered with the instance their token had already created. */
  duplicatesPrevented: number
  terminations: number
  errors: Record<ProviderErrorClass, number>
  faultsInjected: number
}

type MutableInstance = { -readonly [K in keyof FakeInstance]: FakeInstance[K] }
interface ActiveFault { fault: FakeFault, left: number }

const FAULT_CODES: Record<ProviderErrorClass, string> = {
  capacity: 'insufficient-capacity',
  quota: 'quota-exceeded',
  'rate-limited': 'rate-limited',
  transient: 'internal-error',
  'not-found': 'not-found',
  fatal: 'invalid-request',
}

export class FakeCloud {
  config: FakeCloudConfig
  private readonly rng: Rng
  private readonly byId = new Map<string, MutableInstance>()
  private readonly byToken = new Map<string, MutableInstance>()
  private readonly capacity = new Map<string, number | 'unlimited'>()
  private readonly offeringList: FakeOffering[]
  private faults: ActiveFault[] = []
  private seq = 0
  private readonly stats: FakeCounters = {
    provisions: 0,
    duplicatesPrevented: 0,
    terminations: 0,
    errors: { capacity: 0, quota: 0, 'rate-limited': 0, transient: 0, 'not-found': 0, fatal: 0 },
    faultsInjected: 0,
  }

  constructor (config: Partial<FakeCloudConfig> & Pick<FakeCloudConfig, 'provider' | 'offerings'>) {
    this.config = { ...DEFAULT_FAKE_CLOUD_CONFIG, ...config }
    const c = this.config
    assert(c.latencyMsMin >= 0 && c.latencyMsMin <= c.latencyMsMax, 'fake cloud: 0 ≤ latencyMsMin ≤ latencyMsMax')
    assert(c.doaRate >= 0 && c.doaRate <= 1, 'fake cloud: doaRate in [0, 1]')
    this.rng = seededRng(`${c.provider}:${String(c.seed)}`)
    this.offeringList = [...c.offerings]
    for (const o of c.offerings) this.capacity.set(offeringKey(o.region, o.instanceType), o.capacity)
  }

  /** Adds or replaces the capacity of an offering (a zone event, a quota raise). */
  setCapacity (region: string, instanceType: string, capacity: number | 'unlimited'): void {
    const key = offeringKey(region, instanceType)
    if (!this.capacity.has(key)) this.offeringList.push({ region, instanceType, capacity })
    this.capacity.set(key, capacity)
  }

  injectFault (fault: FakeFault): void {
    const times = fault.times ?? 1
    assert(times > 0, 'fake cloud: a fault must hit at least once')
    this.faults.push({ fault, left: times })
  }

  /** Latency or the dead-on-arrival share, from now on (a scenario's provider faults). */
  tune (patch: Partial<Pick<FakeCloudConfig, 'latencyMsMin' | 'latencyMsMax' | 'doaRate'>>): void {
    const next = { ...this.config, ...patch }
    assert(next.latencyMsMin >= 0 && next.latencyMsMin <= next.latencyMsMax, 'fake cloud: 0 ≤ latencyMsMin ≤ latencyMsMax')
    assert(next.doaRate >= 0 && next.doaRate <= 1, 'fake cloud: doaRate in [0, 1]')
    this.config = next
  }

  clearFaults (): void {
    this.faults = []
  }

  provision (req: ProvisionRequest, now: number): FakeOutcome<FakeProvisionResult> {
    const fault = this.takeFault('provision', req.region, req.instanceType)
    if (fault?.kind === 'hang') return { kind: 'hang' }
    if (fault !== undefined && fault.kind !== 'timeout-after-success') return this.fail(fault.kind, fault.retryAfterMs)
    const result = this.commit(req, now)
    if ('errorClass' in result) return this.failWith(result)
    if (fault?.kind === 'timeout-after-success') return { kind: 'hang', committed: result }
    return { kind: 'ok', value: result, latencyMs: this.latency() }
  }

  /** Instances tagged with this fleet (null: all) that the cloud still lists (terminated ones for a while). */
  list (fleet: string | null, now: number): FakeOutcome<FakeInstance[]> {
    const fault = this.takeFault('list')
    if (fault?.kind === 'hang') return { kind: 'hang' }
    if (fault !== undefined) return this.fail(fault.kind === 'timeout-after-success' ? 'transient' : fault.kind, fault.retryAfterMs)
    const out = [...this.byId.values()].filter((i) => (fleet === null || i.tags.fleet === fleet) && this.listed(i, now))
    return { kind: 'ok', value: out, latencyMs: this.latency() }
  }

  /** Idempotent: a terminated instance stays terminated; an unknown id is not-found. */
  terminate (id: string, now: number): FakeOutcome<FakeInstance> {
    const fault = this.takeFault('terminate')
    if (fault?.kind === 'hang') return { kind: 'hang' }
    const inst = this.byId.get(id)
    if (fault?.kind === 'timeout-after-success' && inst !== undefined) {
      this.kill(inst, now)
      return { kind: 'hang', committed: inst }
    }
    if (fault !== undefined) return this.fail(fault.kind === 'timeout-after-success' ? 'transient' : fault.kind, fault.retryAfterMs)
    if (inst === undefined || !this.listed(inst, now)) {
      return this.fail('not-found', undefined, `instance ${id} does not exist`)
    }
    this.kill(inst, now)
    return { kind: 'ok', value: inst, latencyMs: this.latency() }
  }

  get (id: string, now: number): FakeInstance | undefined {
    const inst = this.byId.get(id)
    return inst !== undefined && this.listed(inst, now) ? inst : undefined
  }

  /** The listed instance with this name in this zone, if any (GCP names are unique per zone). */
  byName (zone: string, name: string, now: number): FakeInstance | undefined {
    for (const i of this.byId.values()) {
      if (i.name === name && i.zone === zone && i.terminatedMs === null && this.listed(i, now)) return i
    }
    return undefined
  }

  byTokenOf (token: string): FakeInstance | undefined {
    return this.byToken.get(token)
  }

  offerings (): Offering[] {
    return this.offeringList.map((o) => {
      const cap = this.capacity.get(offeringKey(o.region, o.instanceType))
      const base = { region: o.region, instanceType: o.instanceType, available: cap === 'unlimited' || (cap ?? 0) > 0 }
      return o.pricePerHour === undefined ? base : { ...base, pricePerHour: o.pricePerHour }
    })
  }

  stateOf (inst: FakeInstance, now: number): InstanceState {
    if (inst.terminatedMs !== null) return 'terminated'
    return now - inst.createdMs >= this.config.bootMs ? 'running' : 'pending'
  }

  toInstance (inst: FakeInstance, now: number): Instance {
    return {
      provider: this.config.provider,
      region: inst.region,
      zone: inst.zone,
      id: inst.id,
      name: inst.name,
      instanceType: inst.instanceType,
      state: this.stateOf(inst, now),
      tags: inst.tags,
      launchedMs: inst.createdMs,
      addresses: [inst.address],
    }
  }

  /** Every instance ever created, listed or not: for invariant checks (one instance per token). */
  instances (): readonly FakeInstance[] {
    return [...this.byId.values()]
  }

  counters (): Readonly<FakeCounters> {
    return { ...this.stats, errors: { ...this.stats.errors } }
  }

  private commit (req: ProvisionRequest, now: number): FakeProvisionResult | FakeError {
    const prior = this.byToken.get(req.token)
    if (prior !== undefined) {
      this.stats.duplicatesPrevented++
      return { instance: prior, existing: true }
    }
    const key = offeringKey(req.region, req.instanceType)
    const cap = this.capacity.get(key)
    if (cap === undefined) {
      return { errorClass: 'fatal', code: 'unsupported', message: `${req.instanceType} is not offered in ${req.region}` }
    }
    if (cap !== 'unlimited' && cap <= 0) {
      return { errorClass: 'capacity', code: FAULT_CODES.capacity, message: `no ${req.instanceType} capacity in ${req.region}` }
    }
    assert(this.byId.size < this.config.maxInstances, `fake cloud: more than ${this.config.maxInstances} instances created`)
    if (cap !== 'unlimited') this.capacity.set(key, cap - 1)
    const n = ++this.seq
    const offering = this.offeringList.find((o) => o.region === req.region && o.instanceType === req.instanceType)
    const inst: MutableInstance = {
      id: `${this.config.idPrefix}${n.toString(16).padStart(12, '0')}`,
      token: req.token,
      name: req.name,
      region: req.region,
      zone: req.zone !== '' ? req.zone : (offering?.zone ?? ''),
      instanceType: req.instanceType,
      tags: { ...req.tags },
      labels: { ...req.labels },
      createdMs: now,
      doa: this.rng.next() < this.config.doaRate,
      address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
      terminatedMs: null,
    }
    this.byId.set(inst.id, inst)
    this.byToken.set(inst.token, inst)
    this.stats.provisions++
    assert(this.byToken.size === this.byId.size, 'fake cloud: one instance per token')
    return { instance: inst, existing: false }
  }

  private kill (inst: MutableInstance, now: number): void {
    if (inst.terminatedMs !== null) return
    inst.terminatedMs = now
    this.stats.terminations++
    const key = offeringKey(inst.region, inst.instanceType)
    const cap = this.capacity.get(key)
    if (typeof cap === 'number') this.capacity.set(key, cap + 1)
  }

  private listed (inst: FakeInstance, now: number): boolean {
    return inst.terminatedMs === null || now - inst.terminatedMs < this.config.terminatedListedMs
  }

  private takeFault (op: FakeOp, region?: string, instanceType?: string): FakeFault | undefined {
    const i = this.faults.findIndex(({ fault: f }) => (f.op ?? 'provision') === op &&
      (f.region === undefined || f.region === region) &&
      (f.instanceType === undefined || f.instanceType === instanceType))
    if (i < 0) return undefined
    const active = this.faults[i]!
    active.left--
    if (active.left <= 0) this.faults.splice(i, 1)
    this.stats.faultsInjected++
    return active.fault
  }

  private fail (errorClass: ProviderErrorClass, retryAfterMs?: number, message?: string): FakeOutcome<never> {
    const base = { errorClass, code: FAULT_CODES[errorClass], message: message ?? `injected ${errorClass}` }
    return this.failWith(retryAfterMs === undefined ? base : { ...base, retryAfterMs })
  }

  private failWith (error: FakeError): FakeOutcome<never> {
    this.stats.errors[error.errorClass]++
    return { kind: 'error', error, latencyMs: this.latency() }
  }

  private latency (): number {
    const { latencyMsMin: lo, latencyMsMax: hi } = this.config
    return hi === lo ? lo : lo + Math.floor(this.rng.next() * (hi - lo + 1))
  }
}

function offeringKey (region: string, instanceType: string): string {
  return `${region}\u0000${instanceType}`
}
