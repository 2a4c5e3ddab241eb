// The simulated GPUs of a fleet, judged by the agent's real health policy (issue 6). A GPU fault
// becomes the signals reference/fleet-failures.md §4 names (an XID line, an NVML event, samples
// whose flags or counters say so), fed to the node's own HealthJudge with the default policy; the
// verdict the policy reaches is the node's gossiped health. No fault's outcome is canned here.
//
// Cost bounds a 10,000-node day. A judge exists only for a node a fault touched (the compiled
// policy shared). After the first samples that start it, only the GPUs a fault touched are
// sampled, and only where the policy's answer can change: when a GPU's signals change, when each rule's `for` has elapsed since, when a
// counter's change leaves the window rules read it over, and on the sample just before a known
// change (it sets when a standing finding's hold starts). While a counter grows, every interval.
// Everything lands on the agent's sampling grid, as its judge's ticks do; `everySample` feeds
// every interval instead, and the tests check both give the same health.
import { clone, create } from '@bufbuild/protobuf'
import {
  BootGateSchema, EccCountsSchema, FabricSchema, GpuEventKind, GpuEventSchema, GpuEventSource, GpuInfoSchema,
  GpuSampleSchema, GpuSummarySchema, HealthAction, HealthState, NvLinkSchema, NvLinkState, NvLinkTotalsSchema,
  PcieStateSchema, RemappedRowsSchema, RetiredPagesSchema, VerdictSchema,
  type BootGate, type GpuEvent, type GpuInfo, type GpuSample, type NvLink,
} from '../../../proto/gen/shoal_pb.js'
import { HW_POWER_BRAKE_SLOWDOWN, HW_SLOWDOWN, HW_THERMAL_SLOWDOWN } from '../../../native/clock-events.js'
import { actionName } from '../../../agent/health/action.js'
import { DEFAULT_POLICY_SOURCE, DEFAULT_POLICY_YAML } from '../../../agent/health/default-policy.js'
import { DEFAULT_JUDGE_CONFIG, HealthJudge, type JudgeEffects } from '../../../agent/health/judge.js'
import { compilePolicy, type CompiledPolicy } from '../../../agent/health/policy.js'
import { assert } from '../../../agent/lib/assert.js'
import { pick } from '../../../agent/lib/rng.js'
import type { OwnHealth } from '../../../agent/mesh/node.js'
import type { Expect } from '../report/types.js'
import type { GpuFaultKind } from '../scenario/faults.js'
import { EventQueue } from '../sim/queue.js'
import { stream } from '../sim/random.js'

export interface GpuFault {
  kind: GpuFaultKind
  gpu: number
  /** xid: the XID code. */
  code?: number
  /** thermal, power-brake, pcie-replay: how long (0: until the end of the run; absent: the kind's default). */
  forMs?: number
  /** nvlink: companion XIDs follow. */
  cascade?: boolean
}

type TimedKind = 'thermal' | 'power-brake' | 'pcie-replay'

export interface GpuModelConfig {
  /** GPUs per node. Default 8 (HGX H100); at most 16, the scenario's GPU index range. */
  gpusPerNode: number
  /** Seeds the cascades: which companions, on which GPU, when. */
  seed: string | number
  /**
   * The agent's sampling interval: samples, hold expiries and incident closes land on this grid,
   * as the agent's judge ticks on it. Default 10 s: coarser than the agent's 1 s, ten times fewer
   * samples, and every default rule's `for` and window is a multiple of it.
   */
  sampleEveryMs: number
  /** Feed every touched GPU every interval: the reference the tests hold the fast path to. Default false (slow). */
  everySample: boolean
  /** NVLinks each GPU found at start. Default 18 (H100 SXM5). */
  nvlinksPerGpu: number
  /** Replay growth during pcie-replay. Default 60 a minute: DCGM's limit, which the default policy uses, is 8. */
  pcieReplaysPerMinute: number
  /** Link width of a downtrained GPU, of x16. Default 8, the usual downtrain. */
  downtrainedWidth: number
  /** ecc-dbe: uncorrectable ECC events. Default 3, what `dbe-burst` needs within 10 minutes. */
  dbeEvents: number
  /** ecc-dbe: time between them. Default 1 min (3 within the 10-minute window). */
  dbeSpacingMs: number
  /** nvlink cascade companions, fleet-failures.md §4. Default XID 45, 94, 154. */
  cascadeXids: readonly number[]
  /** Companions per cascade: 1 to this many, drawn. Default 3. */
  cascadeMaxCompanions: number
  /** A companion's delay after the NVLink fault, drawn uniformly. Default 10 s to 3 min (§4). */
  cascadeDelayMs: readonly [number, number]
  /** Durations of timed faults that give none; the scenario schema's defaults (scenario/faults.ts). */
  defaultForMs: Readonly<Record<TimedKind, number>>
  /** Incidents in a node's health. Default 8, what the agent publishes (daemon/agent.ts). */
  incidentsInHealth: number
  /** Scheduled samples and events per node: a scenario piling more on one node is a bug. Default 1024. */
  maxScheduledPerNode: number
}

export const DEFAULT_GPU_MODEL_CONFIG: Omit<GpuModelConfig, 'seed'> = {
  gpusPerNode: 8,
  sampleEveryMs: 10_000,
  everySample: false,
  nvlinksPerGpu: 18,
  pcieReplaysPerMinute: 60,
  downtrainedWidth: 8,
  dbeEvents: 3,
  dbeSpacingMs: 60_000,
  cascadeXids: [45, 94, 154],
  cascadeMaxCompanions: 3,
  cascadeDelayMs: [10_000, 180_000],
  defaultForMs: { thermal: 300_000, 'power-brake': 120_000, 'pcie-replay': 600_000 },
  incidentsInHealth: 8,
  maxScheduledPerNode: 1024,
}

const GPU_NAME = 'NVIDIA H100 80GB HBM3'
const SLOWDOWN_C = 87
/** A healthy GPU under a training job. */
const BUSY = { temperatureC: 62, powerMw: 560_000, utilizationPct: 97 } as const
const PCIE_WIDTH = 16
const COMPANION_DETAIL: Readonly<Record<number, string>> = {
  45: 'Ch 00000008 caused by previous Xid 74',
  94: 'Contained: CE User Channel (0x9). RST: No, D-RST: No',
  154: 'GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)',
}

let compiled: CompiledPolicy | undefined
/** The default policy, compiled once per process and shared by every judge. */
function defaultPolicy (): CompiledPolicy {
  compiled ??= compilePolicy(DEFAULT_POLICY_YAML, DEFAULT_POLICY_SOURCE)
  return compiled
}

/** One GPU a fault touched: its signals as functions of time. */
interface SimGpu {
  readonly index: number
  readonly uuid: string
  lost: boolean
  remapPending: boolean
  remapFailure: boolean
  sram: number
  nvlinkDown: number
  downtrained: boolean
  /** Clock slowdowns hold while t < until. */
  thermalUntil: number
  brakeUntil: number
  /** The replay counter: `replays` at `replayAt`, growing until `replayUntil`. */
  replays: number
  replayAt: number
  replayUntil: number
  /** Grid times to sample at, sorted, unique. */
  checkpoints: number[]
  /** Spans to sample every interval, [from, until]. */
  dense: Array<[number, number]>
  lastSampleAt: number
}

interface Scheduled { readonly at: number, readonly seq: number, readonly event: GpuEvent }

interface SimNode {
  readonly id: number
  readonly judge: HealthJudge
  readonly gate: BootGate
  readonly gpus: Map<number, SimGpu>
  /** Events to come (dbe follow-ups, cascade companions), by (at, seq). */
  readonly events: Scheduled[]
  /** The judge's next tick: a hold ending, an incident closing (grid time; Infinity: none). */
  judgeAt: number
  /** everySample: the next interval. */
  denseAt: number
  lastInputAt: number
  faults: number
  wakeAt: number
  changed: boolean
}

export class SimGpus {
  readonly #c: GpuModelConfig
  readonly #policy = defaultPolicy()
  readonly #nodes = new Map<number, SimNode>()
  readonly #wakes = new EventQueue<number>()
  readonly #parts: ReturnType<typeof sampleParts>
  /** By links down: at most nvlinksPerGpu + 1 sets. */
  readonly #linkSets = new Map<number, NvLink[]>()
  /** Distinct `for`s of sample rules: a constant signal can change the verdict only that long after it began. */
  readonly #fors: readonly number[]
  /** A quiet, healthy judge is dropped after this: nothing it remembers is still read by a rule. */
  readonly #retainMs: number
  #seq = 0

  constructor (config: Partial<GpuModelConfig> & { seed: string | number }) {
    const c: GpuModelConfig = { ...DEFAULT_GPU_MODEL_CONFIG, ...config }
    assert(Number.isInteger(c.gpusPerNode) && c.gpusPerNode >= 1 && c.gpusPerNode <= 16, `gpusPerNode must be 1..16, got ${c.gpusPerNode}`)
    assert(Number.isInteger(c.sampleEveryMs) && c.sampleEveryMs >= 100, `sampleEveryMs must be a whole number of ms, at least 100; got ${c.sampleEveryMs}`)
    assert(c.nvlinksPerGpu >= 1 && c.downtrainedWidth >= 1 && c.downtrainedWidth < PCIE_WIDTH, 'nvlinksPerGpu ≥ 1 and downtrainedWidth 1..15')
    assert(c.dbeEvents >= 1 && c.dbeSpacingMs > 0 && c.pcieReplaysPerMinute > 0, 'dbeEvents, dbeSpacingMs and pcieReplaysPerMinute must be positive')
    assert(c.cascadeXids.length > 0 && c.cascadeMaxCompanions >= 1 && c.cascadeDelayMs[0] >= 0 && c.cascadeDelayMs[1] >= c.cascadeDelayMs[0], 'cascade settings out of range')
    this.#c = c
    this.#parts = sampleParts(c.downtrainedWidth)
    const p = this.#policy
    this.#fors = [...new Set(p.rules.filter((r) => r.on === 'sample' && r.forMs > 0).map((r) => r.forMs))].sort((a, b) => a - b)
    this.#retainMs = Math.max(p.eventWindowMs, ...p.tracked.values(), c.sampleEveryMs)
  }

  /** Nodes with a live judge (tests and memory checks). */
  get tracked (): number { return this.#nodes.size }

  /**
   * A fault on `node` at `now`; the node's new health when its verdict or incidents changed (as the
   * agent republishes), else undefined: sample-borne faults show at the next sample, from tick().
   * Pass inject and tick the same clock (the simulator's): schedules and the judge share it.
   */
  inject (node: number, fault: GpuFault, now: number): OwnHealth | undefined {
    const c = this.#c
    assert(Number.isInteger(fault.gpu) && fault.gpu >= 0 && fault.gpu < c.gpusPerNode, `GPU ${fault.gpu} on a node of ${c.gpusPerNode}`)
    if (fault.kind === 'sdc') return undefined // silent: NVML says nothing (fleet-failures.md §4)
    let n = this.#nodes.get(node)
    if (n === undefined) {
      n = this.#track(node, now)
    } else {
      // Work the caller did not tick yet happens first, at its own time.
      n.changed = false
      this.#advance(n, now - 1)
    }
    n.faults++
    n.lastInputAt = Math.max(n.lastInputAt, now)
    const g = this.#gpu(n, fault.gpu, now)
    switch (fault.kind) {
      case 'xid': {
        assert(fault.code !== undefined && Number.isInteger(fault.code) && fault.code >= 1, 'an xid fault needs its code')
        this.#event(n, this.#xid(g, fault.code, now), now)
        break
      }
      case 'gpu-lost':
        this.#event(n, create(GpuEventSchema, {
          timeMs: now, uuid: g.uuid, gpuIndex: g.index, kind: GpuEventKind.GPU_LOST, xid: 79, source: GpuEventSource.NVML, detail: 'GPU is lost',
        }), now)
        g.lost = true
        this.#changes(n, g, now)
        break
      case 'ecc-dbe':
        for (let k = 0; k < c.dbeEvents; k++) {
          const at = now + k * c.dbeSpacingMs
          const e = create(GpuEventSchema, { timeMs: at, uuid: g.uuid, gpuIndex: g.index, kind: GpuEventKind.ECC_DOUBLE_BIT, source: GpuEventSource.NVML })
          if (k === 0) this.#event(n, e, now)
          else this.#schedule(n, at, e)
        }
        break
      case 'row-remap-pending':
        g.remapPending = true
        this.#changes(n, g, now)
        break
      case 'row-remap-failure':
        g.remapFailure = true
        this.#changes(n, g, now)
        break
      case 'sram': {
        g.sram++
        this.#changes(n, g, now)
        // increase() over the counter's window drops back once the bump leaves it.
        const left = this.#grid(now) + (this.#policy.tracked.get('ecc.sram_volatile_uncorrected') ?? 0)
        this.#before(n, g, left, now)
        this.#changes(n, g, left)
        break
      }
      case 'nvlink': {
        const link = Math.min(g.nvlinkDown, c.nvlinksPerGpu - 1)
        g.nvlinkDown = Math.min(c.nvlinksPerGpu, g.nvlinkDown + 1)
        const e = this.#xid(g, 74, now, `NVLink: fatal error detected on link ${link}`)
        e.link = link
        this.#event(n, e, now)
        this.#changes(n, g, now)
        if (fault.cascade === true) this.#cascade(n, g, now)
        break
      }
      case 'thermal':
      case 'power-brake': {
        const until = this.#until(fault, now)
        if (fault.kind === 'thermal') g.thermalUntil = Math.max(now < g.thermalUntil ? g.thermalUntil : now, until)
        else g.brakeUntil = Math.max(now < g.brakeUntil ? g.brakeUntil : now, until)
        this.#changes(n, g, now)
        this.#before(n, g, until, now)
        this.#changes(n, g, until)
        break
      }
      case 'pcie-replay': {
        const until = this.#until(fault, now)
        g.replays = replaysAt(g, now, this.#perMs())
        g.replayAt = now
        g.replayUntil = Math.max(now < g.replayUntil ? g.replayUntil : now, until)
        // While the window fills (and empties, after), rate() moves every sample: feed them all.
        const settle = (this.#policy.tracked.get('pcie.replay_counter') ?? 0) + (this.#fors[this.#fors.length - 1] ?? 0) + c.sampleEveryMs
        this.#denseSpan(n, g, now, now + settle)
        if (g.replayUntil !== Infinity) {
          this.#before(n, g, g.replayUntil, now)
          this.#denseSpan(n, g, g.replayUntil, g.replayUntil + settle)
        }
        break
      }
      case 'pcie-downtrain':
        g.downtrained = true
        this.#changes(n, g, now)
        break
      default: {
        const never: never = fault.kind
        throw new Error(`unknown GPU fault ${String(never)}`)
      }
    }
    n.judgeAt = this.#judgeWake(n, now)
    this.#reschedule(n, now)
    return n.changed ? this.#health(n) : undefined
  }

  /** Earliest time tick() has work: a sample, a scheduled event, a hold ending, an incident closing, a judge to drop. Infinity: none. */
  nextWakeAt (): number {
    for (;;) {
      const t = this.#wakes.peekTime()
      if (t === Infinity) return t
      const id = this.#wakes.pop()!
      const n = this.#nodes.get(id)
      if (n !== undefined && n.wakeAt === t) {
        this.#wakes.push(t, id)
        return t
      }
    }
  }

  /** Work due by `now`, each item at its own time: the nodes whose health changed, by node. */
  tick (now: number): Array<{ node: number, health: OwnHealth }> {
    const due = new Set<number>()
    while (this.#wakes.peekTime() <= now) {
      const t = this.#wakes.peekTime()
      const id = this.#wakes.pop()!
      if (this.#nodes.get(id)?.wakeAt === t) due.add(id)
    }
    const out: Array<{ node: number, health: OwnHealth }> = []
    for (const id of [...due].sort((a, b) => a - b)) {
      const n = this.#nodes.get(id)!
      n.changed = false
      this.#advance(n, now)
      const health = n.changed ? this.#health(n) : undefined
      if (this.#quiet(n, now)) this.#nodes.delete(id)
      else this.#reschedule(n, now)
      if (health !== undefined) out.push({ node: id, health })
    }
    return out
  }

  /** The health of a node no fault has touched (or after forget), boot gate passed: for boot and restarts. Makes no judge. */
  healthy (node: number, now: number): OwnHealth {
    const n = this.#nodes.get(node)
    // A node still tracked has what its judge says; forget it first for a fresh one.
    if (n !== undefined) return this.#health(n)
    const policy = `${this.#policy.name}@${this.#policy.digest}`
    return {
      verdict: create(VerdictSchema, { state: HealthState.HEALTHY, action: HealthAction.NONE, timeMs: now, policy }),
      incidents: [],
      gpus: Array.from({ length: this.#c.gpusPerNode }, (_, index) => create(GpuSummarySchema, {
        index, uuid: uuidOf(node, index), name: GPU_NAME, state: HealthState.HEALTHY, action: HealthAction.NONE,
        temperatureGpuC: BUSY.temperatureC, powerMw: BUSY.powerMw, lost: false, utilizationPct: BUSY.utilizationPct,
      })),
      bootGate: this.#gate(now),
    }
  }

  /** What the node says now: its judge's health if a fault touched it, else healthy (an agent restarted with its journal). */
  current (node: number, now: number): OwnHealth {
    return this.healthy(node, now)
  }

  /** The node's host was replaced or its agent restarted without memory: drop its judge and its pending work. */
  forget (node: number): void {
    this.#nodes.delete(node)
  }

  // ---- the node's judge ---------------------------------------------------------------------------

  #track (id: number, now: number): SimNode {
    const c = this.#c
    const judge = new HealthJudge(this.#policy, { ...DEFAULT_JUDGE_CONFIG, expectedGpus: c.gpusPerNode })
    // As if the agent had been running: booted and sampled its healthy GPUs on the last grid time
    // before the fault (a baseline for increase() and rate()). None of it is news to the fleet.
    const since = Math.floor((now - 1) / c.sampleEveryMs) * c.sampleEveryMs
    const gate = this.#gate(since)
    this.#check(judge.bootGate(gate, since))
    judge.inventory(Array.from({ length: c.gpusPerNode }, (_, i) => this.#info(id, i)))
    this.#check(judge.samples(Array.from({ length: c.gpusPerNode }, (_, i) => this.#sampleOf(undefined, id, i, since)), since))
    const n: SimNode = {
      id, judge, gate, gpus: new Map(), events: [], judgeAt: Infinity,
      denseAt: c.everySample ? this.#grid(now + 1) : Infinity,
      lastInputAt: now, faults: 0, wakeAt: Infinity, changed: false,
    }
    this.#nodes.set(id, n)
    return n
  }

  #gpu (n: SimNode, index: number, now: number): SimGpu {
    let g = n.gpus.get(index)
    if (g === undefined) {
      g = {
        index, uuid: uuidOf(n.id, index), lost: false, remapPending: false, remapFailure: false, sram: 0,
        nvlinkDown: 0, downtrained: false, thermalUntil: -Infinity, brakeUntil: -Infinity,
        replays: 0, replayAt: now, replayUntil: -Infinity, checkpoints: [], dense: [], lastSampleAt: -Infinity,
      }
      n.gpus.set(index, g)
    }
    return g
  }

  #check (fx: JudgeEffects): JudgeEffects {
    assert(fx.faults.length === 0, `the default policy failed on a simulated input: ${fx.faults.map((f) => `${f.rule}: ${f.message}`).join('; ')}`)
    return fx
  }

  #take (n: SimNode, fx: JudgeEffects): void {
    this.#check(fx)
    if (fx.verdict !== undefined || fx.incidents.length > 0) n.changed = true
  }

  #event (n: SimNode, e: GpuEvent, at: number): void {
    n.lastInputAt = Math.max(n.lastInputAt, at)
    this.#take(n, n.judge.event(e, at))
  }

  /** Everything due on this node up to `now`, each at its own time. */
  #advance (n: SimNode, now: number): void {
    for (let guard = 0; ; guard++) {
      assert(guard < 1_000_000, `node ${n.id}: GPU model did not settle by ${now}`)
      const t = this.#due(n)
      if (t > now) return
      let fed = false
      while (n.events.length > 0 && n.events[0]!.at === t) {
        this.#event(n, n.events.shift()!.event, t)
        fed = true
      }
      const samples: GpuSample[] = []
      for (const g of n.gpus.values()) {
        if (n.denseAt === t || nextSample(g, this.#c.sampleEveryMs) === t) {
          samples.push(this.#sampleOf(g, n.id, g.index, t))
          g.lastSampleAt = t
          while (g.checkpoints.length > 0 && g.checkpoints[0]! <= t) g.checkpoints.shift()
          g.dense = g.dense.filter((s) => s[1] >= t + this.#c.sampleEveryMs)
        }
      }
      if (samples.length > 0) {
        samples.sort((a, b) => a.index - b.index)
        this.#take(n, n.judge.samples(samples, t))
        fed = true
      }
      if (!fed) this.#take(n, n.judge.tick(t))
      if (n.denseAt <= t) n.denseAt = t + this.#c.sampleEveryMs
      n.judgeAt = this.#judgeWake(n, t)
    }
  }

  #due (n: SimNode): number {
    let t = Math.min(n.events[0]?.at ?? Infinity, n.judgeAt, n.denseAt)
    for (const g of n.gpus.values()) t = Math.min(t, nextSample(g, this.#c.sampleEveryMs))
    return t
  }

  /** The judge's own next change with no input: a finding's hold ends, the open incident closes. */
  #judgeWake (n: SimNode, t: number): number {
    let at = Infinity
    for (const r of n.judge.verdict().reasons) {
      if (r.untilMs > t) at = Math.min(at, this.#grid(r.untilMs))
    }
    const open = n.judge.incidents(1)[0]
    if (open?.open === true) {
      const close = open.lastMs + DEFAULT_JUDGE_CONFIG.incidents.burstGapMs
      const g = this.#grid(close)
      at = Math.min(at, g === close ? g + this.#c.sampleEveryMs : g)
    }
    return at
  }

  /** Nothing left to happen and nothing a rule still remembers: the judge can go. */
  #quiet (n: SimNode, now: number): boolean {
    if (now - n.lastInputAt < this.#retainMs || n.events.length > 0 || n.judgeAt !== Infinity) return false
    const v = n.judge.verdict()
    if (v.state !== HealthState.HEALTHY || v.reasons.length > 0) return false
    for (const g of n.gpus.values()) {
      if (g.lost || g.remapPending || g.remapFailure || g.nvlinkDown > 0 || g.downtrained) return false
      if (now < g.thermalUntil || now < g.brakeUntil || now < g.replayUntil) return false
      if (g.checkpoints.length > 0 || g.dense.length > 0) return false
    }
    return true
  }

  #reschedule (n: SimNode, now: number): void {
    let at = this.#due(n)
    if (at === Infinity && this.#nodes.has(n.id)) {
      // Wake once more when the judge may be dropped.
      const drop = this.#grid(n.lastInputAt + this.#retainMs)
      if (drop > now) at = drop
    }
    if (at === n.wakeAt) return
    n.wakeAt = at
    if (at !== Infinity) this.#wakes.push(at, n.id)
  }

  #health (n: SimNode): OwnHealth {
    return {
      verdict: clone(VerdictSchema, n.judge.verdict()),
      incidents: n.judge.incidents(this.#c.incidentsInHealth),
      gpus: n.judge.gpuSummaries(),
      bootGate: n.gate,
    }
  }

  // ---- when to sample -----------------------------------------------------------------------------

  /** First grid time at or after t. */
  #grid (t: number): number {
    const p = this.#c.sampleEveryMs
    return Math.ceil(t / p) * p
  }

  /** The GPU's signals change at `at`: the next sample sees it, and each `for` after it may fire. */
  #changes (n: SimNode, g: SimGpu, at: number): void {
    if (at === Infinity) return
    const first = this.#grid(at)
    this.#checkpoint(n, g, first)
    for (const f of this.#fors) this.#checkpoint(n, g, first + this.#grid(f))
  }

  /** The last sample before a change at `at`: a standing finding's hold counts from it. */
  #before (n: SimNode, g: SimGpu, at: number, now: number): void {
    if (at === Infinity) return
    const t = this.#grid(at) - this.#c.sampleEveryMs
    if (t >= now) this.#checkpoint(n, g, t)
  }

  #checkpoint (n: SimNode, g: SimGpu, t: number): void {
    const cp = g.checkpoints
    let i = cp.length
    while (i > 0 && cp[i - 1]! > t) i--
    if (i > 0 && cp[i - 1] === t) return
    assert(cp.length < this.#c.maxScheduledPerNode, `node ${n.id} GPU ${g.index}: over ${this.#c.maxScheduledPerNode} scheduled samples`)
    cp.splice(i, 0, t)
  }

  #denseSpan (n: SimNode, g: SimGpu, from: number, until: number): void {
    assert(g.dense.length < this.#c.maxScheduledPerNode, `node ${n.id} GPU ${g.index}: over ${this.#c.maxScheduledPerNode} sample spans`)
    g.dense.push([this.#grid(from), until])
  }

  #schedule (n: SimNode, at: number, event: GpuEvent): void {
    assert(n.events.length < this.#c.maxScheduledPerNode, `node ${n.id}: over ${this.#c.maxScheduledPerNode} scheduled events`)
    const e: Scheduled = { at, seq: this.#seq++, event }
    let i = n.events.length
    while (i > 0 && n.events[i - 1]!.at > at) i--
    n.events.splice(i, 0, e)
  }

  #until (fault: GpuFault, now: number): number {
    const ms = fault.forMs ?? this.#c.defaultForMs[fault.kind as TimedKind]
    assert(Number.isFinite(ms) && ms >= 0, `${fault.kind}: forMs ${ms}`)
    return ms === 0 ? Infinity : now + ms
  }

  #perMs (): number { return this.#c.pcieReplaysPerMinute / 60_000 }

  /** NVLink fault companions (fleet-failures.md §4): drawn from the seed, per node and fault. */
  #cascade (n: SimNode, g: SimGpu, now: number): void {
    const c = this.#c
    const rng = stream(c.seed, `gpu-cascade/${n.id}/${now}/${g.index}/${n.faults}`)
    const count = 1 + pick(rng, c.cascadeMaxCompanions)
    const [lo, hi] = c.cascadeDelayMs
    for (let k = 0; k < count; k++) {
      const code = c.cascadeXids[pick(rng, c.cascadeXids.length)]!
      const on = this.#gpu(n, pick(rng, c.gpusPerNode), now)
      const at = now + Math.round(lo + rng.next() * (hi - lo))
      this.#schedule(n, at, this.#xid(on, code, at, COMPANION_DETAIL[code] ?? ''))
    }
  }

  // ---- what NVML and the kernel say ---------------------------------------------------------------

  #xid (g: SimGpu, code: number, at: number, detail = ''): GpuEvent {
    return create(GpuEventSchema, { timeMs: at, uuid: g.uuid, gpuIndex: g.index, kind: GpuEventKind.XID, xid: code, source: GpuEventSource.KMSG, detail })
  }

  #gate (now: number): BootGate {
    const gpus = this.#c.gpusPerNode
    return create(BootGateSchema, { passed: true, gpuCount: gpus, expectedGpuCount: gpus, models: [GPU_NAME], timeMs: now })
  }

  #info (node: number, index: number): GpuInfo {
    return create(GpuInfoSchema, {
      index, uuid: uuidOf(node, index), name: GPU_NAME, nvlinkCount: this.#c.nvlinksPerGpu,
      thresholds: { shutdownC: 92, slowdownC: SLOWDOWN_C, gpuMaxC: 85, memoryMaxC: 95 },
      pcieMaxLinkGen: 5, pcieMaxLinkWidth: PCIE_WIDTH, powerManagementLimitMw: 700_000,
    })
  }

  /** A GPU's sample at t: healthy and busy, but for what its faults say. */
  #sampleOf (g: SimGpu | undefined, node: number, index: number, t: number): GpuSample {
    const uuid = g?.uuid ?? uuidOf(node, index)
    if (g?.lost === true) return create(GpuSampleSchema, { index, uuid, timeMs: t, lost: true })
    const thermal = g !== undefined && t < g.thermalUntil
    const brake = g !== undefined && t < g.brakeUntil
    const reasons = (thermal ? HW_SLOWDOWN | HW_THERMAL_SLOWDOWN : 0) | (brake ? HW_SLOWDOWN | HW_POWER_BRAKE_SLOWDOWN : 0)
    const replays = g === undefined ? 0 : Math.floor(replaysAt(g, t, this.#perMs()))
    const narrow = g?.downtrained === true
    const parts = this.#parts
    return create(GpuSampleSchema, {
      index,
      uuid,
      timeMs: t,
      temperatureGpuC: thermal ? SLOWDOWN_C : BUSY.temperatureC,
      temperatureMemoryC: 58,
      temperatureMarginC: thermal ? 0 : SLOWDOWN_C - BUSY.temperatureC,
      powerMw: BUSY.powerMw,
      powerLimitMw: 700_000,
      utilizationGpuPct: BUSY.utilizationPct,
      clockEventReasons: reasons,
      ecc: (g?.sram ?? 0) === 0 ? parts.ecc : create(EccCountsSchema, { volatileCorrected: 0, volatileUncorrected: 0, sramVolatileUncorrected: g!.sram }),
      remappedRows: parts.rows[(g?.remapPending === true ? 1 : 0) + (g?.remapFailure === true ? 2 : 0)],
      retiredPages: parts.retired,
      pcie: replays === 0 ? parts.pcie[narrow ? 1 : 0] : create(PcieStateSchema, { ...PCIE, replayCounter: replays, linkWidth: narrow ? this.#c.downtrainedWidth : PCIE_WIDTH }),
      nvlinks: this.#links(g?.nvlinkDown ?? 0),
      nvlinkTotals: parts.totals,
      recoveryAction: 0,
      fabric: parts.fabric,
    })
  }

  /** The links of a GPU with `down` of them inactive; shared by every sample (the judge only reads them). */
  #links (down: number): NvLink[] {
    let links = this.#linkSets.get(down)
    if (links === undefined) {
      links = Array.from({ length: this.#c.nvlinksPerGpu }, (_, link) => create(NvLinkSchema, { link, state: link < down ? NvLinkState.INACTIVE : NvLinkState.ACTIVE }))
      this.#linkSets.set(down, links)
    }
    return links
  }
}

const PCIE = { replayCounter: 0, linkGen: 5, linkWidth: PCIE_WIDTH, maxLinkGen: 5, maxLinkWidth: PCIE_WIDTH } as const

/** The parts of a sample most GPUs share, built once per model: samples are most of its cost. */
function sampleParts (downtrainedWidth: number) {
  return {
    ecc: create(EccCountsSchema, { volatileCorrected: 0, volatileUncorrected: 0, sramVolatileUncorrected: 0 }),
    /** By pending + 2 × failure. */
    rows: [false, true].flatMap((failure) => [false, true].map((pending) =>
      create(RemappedRowsSchema, { corrected: 0, uncorrected: 0, pending, failure }))),
    retired: create(RetiredPagesSchema, { pending: false }),
    /** Full width, downtrained. */
    pcie: [create(PcieStateSchema, PCIE), create(PcieStateSchema, { ...PCIE, linkWidth: downtrainedWidth })] as const,
    totals: create(NvLinkTotalsSchema, { crcFlit: 0, replay: 0, recovery: 0, recoveryFailed: 0 }),
    fabric: create(FabricSchema, { state: 3, status: 0 }),
  }
}

function replaysAt (g: SimGpu, t: number, perMs: number): number {
  const to = Math.min(t, g.replayUntil)
  return to > g.replayAt ? g.replays + (to - g.replayAt) * perMs : g.replays
}

/** The next time this GPU must be sampled (Infinity: none). */
function nextSample (g: SimGpu, every: number): number {
  let t = g.checkpoints[0] ?? Infinity
  const after = g.lastSampleAt + every
  for (const [from, until] of g.dense) {
    const at = Math.max(from, after)
    if (at <= until) t = Math.min(t, at)
  }
  return t
}

/** A UUID as long as NVIDIA's, from the node and GPU (gossip sizes stay real). */
function uuidOf (node: number, index: number): string {
  return `GPU-${(node >>> 0).toString(16).padStart(8, '0')}-5348-4f41-8000-${index.toString(16).padStart(12, '0')}`
}

const expected = new Map<string, Expect>()
/** Distinct faults a process may ask about; more is a scenario generating codes without end. */
const MAX_EXPECTED = 4096

/**
 * What the default policy does about this fault on a fresh healthy node: the worst action its
 * verdict takes while the fault plays out (a throwaway model, once per distinct fault, cached).
 * sdc: 'none', there is no signal.
 */
export function expectOf (fault: GpuFault): Expect {
  if (fault.kind === 'sdc') return 'none'
  const f: GpuFault = { ...fault, gpu: 0 }
  const key = JSON.stringify([f.kind, f.code, f.forMs, f.cascade === true])
  const hit = expected.get(key)
  if (hit !== undefined) return hit
  const model = new SimGpus({ seed: 'expect-of' })
  let worst = HealthAction.NONE
  const see = (h: OwnHealth | undefined): void => {
    if (h !== undefined) worst = Math.max(worst, h.verdict.action)
  }
  see(model.inject(0, f, 0))
  for (let guard = 0; model.nextWakeAt() !== Infinity; guard++) {
    assert(guard < 100_000, `expectOf(${key}): the model did not settle`)
    for (const r of model.tick(model.nextWakeAt())) see(r.health)
  }
  const e = actionName(worst) as Expect
  assert(expected.size < MAX_EXPECTED, `expectOf: over ${MAX_EXPECTED} distinct faults`)
  expected.set(key, e)
  return e
}
