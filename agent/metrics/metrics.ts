// The agent's Prometheus metrics on a private registry (never prom-client's global one: tests and
// a second agent in one process must not share series). Drivers call the observe* methods; this
// class decides nothing, it only mirrors what they saw.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import {
  GpuEventKind,
  GpuEventSource,
  HealthAction,
  HealthState,
  type GpuEvent,
  type GpuInfo,
  type GpuSample,
  type Incident,
  type PolicyStatus,
  type Verdict,
} from '../../proto/gen/shoal_pb.js'
import { CLOCK_EVENT_REASONS, hasClockEventReason } from '../../native/clock-events.js'
import { XID_GPU_LOST } from '../gpu/kmsg/nvidia.js'
import { assert } from '../lib/assert.js'
import { CATALOG, DEFAULT_METRICS_PREFIX, FAST_SECONDS_BUCKETS, type MetricDef } from './catalog.js'
import { GPU_LABELS, GPU_METRICS, type GpuLabel } from './gpu-metrics.js'

/** DCGM_CLOCKS_EVENT_REASON_* bits (= NVML's), decoded into shoal_gpu_clock_event_reason. */
export { CLOCK_EVENT_REASONS }

/**
 * Incident ids remembered so each is counted once. Far above the incidents a node opens in a
 * month (one per 3-minute burst at worst is 480 a day); past it the oldest id is forgotten, and
 * an update to that incident would count it again.
 */
export const INCIDENT_IDS_MAX = 4096
/** A verdict lists its rules; a policy gone wrong must not mint unbounded series. */
export const REASON_SERIES_MAX = 64

type Labels = Record<string, string>
type Catalog = typeof CATALOG
/** One prom-client object per catalog entry, typed by its kind. */
type CatalogMetrics = {
  readonly [K in keyof Catalog]: Catalog[K]['type'] extends 'counter' ? Counter : Catalog[K]['type'] extends 'histogram' ? Histogram : Gauge
}

export interface AgentMetricsOptions {
  /** prom-client's process and Node.js metrics, prefixed shoal_agent_. Default true. */
  readonly defaultMetrics?: boolean
}

export class AgentMetrics {
  readonly registry = new Registry()
  readonly #gpu = new Map<string, Gauge | Counter>()
  readonly #g: CatalogMetrics
  /** Last XID per GPU uuid: dcgm-exporter's gauge keeps it until the exporter restarts. */
  readonly #lastXid = new Map<string, number>()
  #inventory: readonly GpuInfo[] = []
  #hostname = ''
  #samples: readonly GpuSample[] = []
  #gpusDirty = false
  readonly #incidentsSeen = new Map<string, true>()
  readonly #incidentsOpen = new Map<string, true>()
  #policyErrorMs = 0

  constructor (options: AgentMetricsOptions = {}) {
    const registers = [this.registry]
    for (const m of GPU_METRICS) {
      const config = { name: m.name, help: m.help, labelNames: [...GPU_LABELS], registers }
      this.#gpu.set(m.name, m.type === 'counter' ? new Counter(config) : new Gauge(config))
    }
    const make = (d: MetricDef): Gauge | Counter | Histogram => {
      const config = { name: d.name, help: d.help, labelNames: [...d.labels], registers }
      if (d.type === 'counter') return new Counter(config)
      if (d.type === 'histogram') return new Histogram({ ...config, buckets: FAST_SECONDS_BUCKETS })
      return new Gauge(config)
    }
    this.#g = Object.fromEntries(Object.entries(CATALOG).map(([k, d]) => [k, make(d)])) as CatalogMetrics
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: DEFAULT_METRICS_PREFIX })
  }

  get contentType (): string { return this.registry.contentType }

  async metricsText (): Promise<string> {
    this.#renderGpus()
    return await this.registry.metrics()
  }

  /**
   * Keeps this cycle's samples; the series are rebuilt from them when scraped, not every cycle
   * (a scrape every 15-60 s costs a fraction of rebuilding 500 series each second).
   */
  updateGpus (inventory: readonly GpuInfo[], samples: readonly GpuSample[], hostname: string): void {
    this.#inventory = inventory
    this.#hostname = hostname
    this.#samples = samples
    this.#gpusDirty = true
  }

  /**
   * Replaces every per-GPU series with the last cycle's: a signal absent from a sample (NVML could
   * not read it) or a GPU gone from the inventory has no series, rather than a stale value.
   */
  #renderGpus (): void {
    if (!this.#gpusDirty) return
    this.#gpusDirty = false
    const inventory = this.#inventory
    const hostname = this.#hostname
    const samples = this.#samples
    const byIndex = new Map(samples.map((s) => [s.index, s]))
    for (const metric of this.#gpu.values()) metric.reset()
    for (const name of ['gpuInfo', 'gpuLost', 'clockEventReason'] as const) this.#g[name].reset()
    for (const info of inventory) {
      const labels = gpuLabels(info, hostname)
      const sample = byIndex.get(info.index)
      const lost = info.lost || sample?.lost === true
      this.#g.gpuInfo.set({ ...labels, driver_version: info.driverVersion, vbios_version: info.vbiosVersion }, 1)
      this.#g.gpuLost.set(labels, lost ? 1 : 0)
      // A lost GPU answers nothing; whatever it said before is stale.
      if (lost || sample === undefined || (sample.uuid !== '' && sample.uuid !== info.uuid)) continue
      for (const m of GPU_METRICS) {
        const v = m.read(sample, info)
        if (v === undefined || !Number.isFinite(v)) continue
        const metric = this.#gpu.get(m.name)
        if (metric instanceof Counter) metric.inc(labels, Math.max(0, v))
        else metric?.set(labels, v)
      }
      if (sample.clockEventReasons !== undefined) {
        for (const [reason, mask] of CLOCK_EVENT_REASONS) {
          this.#g.clockEventReason.set({ ...labels, reason }, hasClockEventReason(sample.clockEventReasons, mask) ? 1 : 0)
        }
      }
    }
    this.#renderLastXids()
  }

  observeEvent (e: GpuEvent): void {
    this.#g.gpuEvents.inc({ kind: enumLabel(GpuEventKind, e.kind), source: enumLabel(GpuEventSource, e.source) })
    if (e.kind !== GpuEventKind.XID && e.kind !== GpuEventKind.GPU_LOST) return
    const xid = e.kind === GpuEventKind.GPU_LOST ? XID_GPU_LOST : e.xid
    const info = this.#inventory.find((g) => e.uuid !== '' ? g.uuid === e.uuid : g.index === e.gpuIndex)
    const gpu = info?.index ?? e.gpuIndex
    this.#g.xidTotal.inc({ gpu: gpu === undefined ? '' : String(gpu), xid: String(xid) })
    if (info === undefined) return
    this.#lastXid.set(info.uuid, xid)
    this.#renderLastXids()
  }

  observeVerdict (v: Verdict): void {
    this.#g.healthState.set(v.state)
    for (const value of Object.values(HealthState)) {
      if (typeof value === 'number') this.#g.healthStatus.set({ state: enumLabel(HealthState, value) }, value === v.state ? 1 : 0)
    }
    this.#g.healthAction.set(v.action)
    this.#g.healthReasons.set(v.reasons.length)
    this.#g.healthReason.reset()
    for (const r of v.reasons.slice(0, REASON_SERIES_MAX)) {
      this.#g.healthReason.set({ rule: r.rule, gpu: r.gpuIndex === undefined ? '' : String(r.gpuIndex), class: r.incidentClass }, 1)
    }
    this.#g.verdictTime.set(v.timeMs / 1000)
  }

  /** Counts each incident id once (with its class and action when first seen); tracks open ones. */
  observeIncident (i: Incident): void {
    if (!this.#incidentsSeen.has(i.id)) {
      remember(this.#incidentsSeen, i.id)
      this.#g.incidents.inc({ class: i.class, action: enumLabel(HealthAction, i.action) })
    }
    if (i.open) remember(this.#incidentsOpen, i.id)
    else this.#incidentsOpen.delete(i.id)
    this.#g.incidentsOpen.set(this.#incidentsOpen.size)
  }

  observePolicy (p: PolicyStatus): void {
    this.#g.policyInfo.reset()
    this.#g.policyInfo.set({ name: p.name, digest: p.digest, source: p.source }, 1)
    this.#g.policyRules.set(p.rules)
    // The status is a snapshot; a failed load is a new last_error_ms.
    if (p.lastErrorMs > 0 && p.lastErrorMs !== this.#policyErrorMs) {
      this.#policyErrorMs = p.lastErrorMs
      this.#g.policyReloadErrors.inc()
      this.#g.policyLastError.set(p.lastErrorMs / 1000)
    }
    this.#g.policyFailing.set(p.lastError === '' ? 0 : 1)
  }

  observeRuleErrors (rule: string, n: number): void {
    assert(Number.isSafeInteger(n) && n >= 0, `rule error count must be a whole number ≥ 0, got ${n}`)
    this.#g.ruleErrors.inc({ rule }, n)
  }

  observePolicyEval (seconds: number): void {
    assert(Number.isFinite(seconds) && seconds >= 0, `duration must be ≥ 0 s, got ${seconds}`)
    this.#g.policyEval.observe(seconds)
  }

  observeSampleCycle (seconds: number): void {
    assert(Number.isFinite(seconds) && seconds >= 0, `duration must be ≥ 0 s, got ${seconds}`)
    this.#g.sampleSeconds.observe(seconds)
  }

  setJournalSeq (n: number): void {
    this.#g.journalSeq.set(n)
  }

  #renderLastXids (): void {
    this.#g.xidLast.reset()
    for (const info of this.#inventory) {
      const xid = this.#lastXid.get(info.uuid)
      if (xid !== undefined) this.#g.xidLast.set({ ...gpuLabels(info, this.#hostname), err_code: String(xid) }, xid)
    }
  }
}

function gpuLabels (info: GpuInfo, hostname: string): Labels & Record<GpuLabel, string> {
  return {
    gpu: String(info.index),
    UUID: info.uuid,
    pci_bus_id: info.pciBusId,
    device: `nvidia${info.index}`,
    modelName: info.name,
    Hostname: hostname,
  }
}

/** HEALTH_STATE_UNHEALTHY -> "unhealthy"; an unknown number stays a number. */
function enumLabel (e: Record<number, string>, v: number): string {
  return e[v]?.toLowerCase() ?? String(v)
}

/** Insertion order is age: past the bound the oldest key goes. */
function remember (set: Map<string, true>, key: string): void {
  set.delete(key)
  set.set(key, true)
  if (set.size > INCIDENT_IDS_MAX) {
    const oldest = set.keys().next()
    if (oldest.done !== true) set.delete(oldest.value)
  }
}
