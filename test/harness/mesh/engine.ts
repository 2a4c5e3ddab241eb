// Mesh mode (DESIGN.md §9): the scenario on real `shoal agent` processes on 127.0.0.1 (LocalFleet:
// real libp2p, LevelDB, the fake NVML library), with one fake Lambda Cloud per provider. The council
// elects a coordinator, which fills the pool from the fake clouds; each instance it launches boots a
// real agent. Faults then land at their `at` (wall clock from the moment the pool was full): NVML
// faults through the fake library, SIGKILL, SIGSTOP/SIGCONT, restarts on the same store, partitions
// through mesh.deny_peers_file, provider faults in the FakeCloud. The invariants are polled every
// 250 ms from every council agent's admin socket and from the clouds; the first violation stops
// the run. Every process started here is stopped, by pid, in finally.
import { create } from '@bufbuild/protobuf'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HealthState, MemberState, PoolsRequestSchema, type FleetStatus, type PoolStatus } from '../../../proto/gen/shoal_pb.js'
import type { FakeInstance } from '../../../coordinator/providers/fake-cloud.js'
import { LocalFleet, type LocalAgent } from '../../../agent/demo/local-fleet.js'
import { seededRng, type Rng } from '../../../agent/lib/rng.js'
import { waitUntil } from '../../../agent/lib/wait.js'
import { HARNESS_CONFIG } from '../simulate/harness.js'
import { Recorder, ViolationStop, nodeLabel } from '../report/recorder.js'
import type { Expect, Report } from '../report/types.js'
import type { FaultEvent, Target } from '../scenario/faults.js'
import type { Scenario } from '../scenario/load.js'
import { expandFailures, nodesOf, placeLabels } from '../scenario/profile.js'
import { denyLists, type Cut } from '../scenario/sides.js'
import { startClouds, stopClouds, writeCoordinatorFile, type MeshCloud, type ProviderCall } from './clouds.js'
import { applyGpuFault, isGpuFault } from './gpu-faults.js'
import { refuseUnsupported } from './refuse.js'

/** Each knob of a mesh run, with its default and why. */
export const DEFAULT_MESH_CONFIG = {
  /** Invariant poll, 250 ms: a two-coordinator overlap must last two polls (≥ 250 ms) to count, far below any lease. */
  pollMs: 250,
  /** Series resolution, 1 s: a minute's run is 60 points. */
  sampleMs: 1000,
  /** One admin request per poll, 1 s: a busy agent on two cores answers in tens of ms. */
  adminTimeoutMs: 1000,
  /** From start to a full pool, 120 s: the demo takes about 15 s on two cores. */
  setupTimeoutMs: 120_000,
  /** After stopWhenReplaced's last replacement, the pool must be full and healthy within this; and a run past its duration waits this long at most for replacements under way. 60 s. */
  settleTimeoutMs: 60_000,
  /** Extra time past the scenario's replacement target for a host fault: SWIM must first call the node dead, 15 s. */
  deadDetectionMs: 15_000,
}

export interface MeshRunOptions {
  /** Where the caller writes the report; the agents' state lives in a short temporary folder (socket paths ≤ 107 bytes). */
  dir: string
  onProgress?: (doneMs: number, totalMs: number) => void
  log?: (line: string) => void
  /** End as soon as every replace-class fault is replaced and the pool is full again (the demo). */
  stopWhenReplaced?: boolean
  /** The command a violation says reruns this scenario. */
  reproduce?: string
  /** Awaited at the run's milestones with the live fleet: the demo tells its story from these. */
  onStage?: (stage: MeshStage) => Promise<void> | void
}

export type MeshStage =
  | { readonly kind: 'ready', readonly fleet: LocalFleet, readonly control: readonly LocalAgent[], readonly nodes: readonly LocalAgent[], readonly setupMs: number, readonly clouds: readonly MeshCloud[] }
  | { readonly kind: 'fault', readonly tMs: number, readonly wallMs: number, readonly fault: FaultEvent, readonly agents: readonly LocalAgent[], readonly detail: string }
  | { readonly kind: 'replaced', readonly tMs: number, readonly old: LocalAgent | undefined, readonly replacement: LocalAgent | undefined, readonly faultMs: number }
  | { readonly kind: 'end', readonly fleet: LocalFleet, readonly control: readonly LocalAgent[], readonly report: Report }

/** A pool instance and the agent it booted. */
interface Node {
  readonly cloud: MeshCloud
  readonly inst: FakeInstance
  agent: LocalAgent | undefined
}

/** A replace-class fault waiting for its replacement. */
interface Watch {
  readonly id: number
  readonly inst: FakeInstance
  readonly slot: number
  readonly generation: number
  /** The scenario's target, plus detection time for host faults. */
  readonly withinMs: number
  readonly at: number
  /** Time without an acting coordinator since the fault (added to the target). */
  noCoordMs: number
  /** no-ack-lost's clock: when the node published its verdict (its own view says unhealthy), or went silent (host faults). */
  publishedAt: number | undefined
  /** In the acting coordinator's view since it was published: no-ack-lost is settled for it. */
  acked: boolean
}

export async function runMesh (s: Scenario, o: MeshRunOptions): Promise<Report> {
  refuseUnsupported(s)
  const run = new MeshRun(s, o)
  return await run.run()
}

class MeshRun {
  readonly #s: Scenario
  readonly #o: MeshRunOptions
  readonly #c = DEFAULT_MESH_CONFIG
  readonly #rec: Recorder
  readonly #rng: Rng
  readonly #pool: string
  readonly #log: (line: string) => void
  readonly #stateDir: string
  #fleet: LocalFleet | undefined
  #clouds: MeshCloud[] = []
  readonly #nodes = new Map<string, Node>()
  readonly #early: Array<[MeshCloud, FakeInstance]> = []
  readonly #launches = new Set<Promise<unknown>>()
  readonly #background = new Set<Promise<unknown>>()
  /** Instances a fault touched: their termination is repair, not a healthy node lost. */
  readonly #faulted = new Set<string>()
  /** Agents we stopped or paused on purpose (a crash of any other is a violation). */
  readonly #killed = new Set<LocalAgent>()
  readonly #paused = new Set<LocalAgent>()
  readonly #watches: Watch[] = []
  /** Network faults: detected when a council agent sees one of the cut agents suspect or dead. */
  readonly #cutWatches: Array<{ id: number, peers: ReadonlySet<string> }> = []
  readonly #seenTerminated = new Set<string>()
  readonly #termOwner = new Map<number, string>()
  /** Timed actions (restarts, heals, restores), run by the poll loop when due. */
  readonly #timers: Array<{ at: number, what: string, run: () => void | Promise<void> }> = []
  #t0 = 0
  #started = false
  #logLines = 0
  #lastActing: string[] = []
  #lastSample = -Infinity
  #lastTick = 0
  #actingTerm = 0
  /** Partitions in force (a heal lifts only its own). */
  readonly #cuts: Array<Cut<LocalAgent>> = []
  #cutSeq = 0

  constructor (s: Scenario, o: MeshRunOptions) {
    this.#s = s
    this.#o = o
    this.#pool = s.fleet.pool.name
    this.#rng = seededRng(`${String(s.seed)}:mesh`)
    this.#log = o.log ?? (() => {})
    this.#rec = new Recorder(s, 'mesh', o.reproduce ?? `npm run harness -- run ${s.file} --mode mesh --seed ${String(s.seed)}`)
    this.#stateDir = mkdtempSync(join(tmpdir(), 'shoal-mesh-'))
  }

  /** ms since the pool was first full (0 before). */
  get t (): number { return this.#started ? Date.now() - this.#t0 : 0 }

  async run (): Promise<Report> {
    const wall = Date.now()
    try {
      try {
        await this.#setup()
        await this.#loop()
      } catch (err) {
        // A violation ends the run with its report; anything else (a setup timeout) is the caller's.
        if (!(err instanceof ViolationStop)) throw err
        this.#log(`violation: ${err.message}`)
      }
      const report = this.#rec.build({ events: this.#logLines, wallS: (Date.now() - wall) / 1000, endMs: this.t })
      if (this.#fleet !== undefined) await this.#o.onStage?.({ kind: 'end', fleet: this.#fleet, control: this.#control(), report })
      return report
    } finally {
      await this.#stop()
    }
  }

  // ---- setup ----

  async #setup (): Promise<void> {
    const s = this.#s
    const setupStart = Date.now()
    this.#clouds = await startClouds(s, {
      onLaunch: (cloud, inst) => {
        if (this.#fleet === undefined) this.#early.push([cloud, inst])
        else this.#boot(cloud, inst)
      },
      onTerminate: (_cloud, inst) => { this.#onTerminate(inst) },
      onCall: (call) => { this.#onCall(call) },
    })
    const coordinatorFile = writeCoordinatorFile(s, this.#clouds, this.#stateDir)
    this.#log(`fake clouds: ${this.#clouds.map((c) => `${c.name} on ${c.server.url}`).join(', ')}`)
    // council_size is odd and at most 7 (the agent's bounds); the council grows to it from the eligible agents.
    const council = Math.min(7, s.fleet.council % 2 === 0 ? s.fleet.council - 1 : s.fleet.council)
    this.#fleet = await LocalFleet.start({
      agents: s.fleet.council,
      dir: this.#stateDir,
      fleet: 'mesh',
      pool: 'control',
      extraConfig: `  council_size: ${council}\n  deny_peers_file: {dir}/deny\ncoordinator:\n  file: ${coordinatorFile}\n`,
      onLog: () => { this.#logLines++ },
    })
    for (const [cloud, inst] of this.#early.splice(0)) this.#boot(cloud, inst)
    const want = s.fleet.pool.nodes
    await waitUntil(`the council to elect a coordinator and fill pool ${this.#pool} to ${want}`, async () => await this.#full(), { timeoutMs: this.#c.setupTimeoutMs, everyMs: this.#c.pollMs })
    this.#t0 = Date.now()
    this.#started = true
    this.#log(`pool ${this.#pool} full (${want} nodes) after ${((this.#t0 - setupStart) / 1000).toFixed(1)} s`)
    await this.#o.onStage?.({ kind: 'ready', fleet: this.#fleet, control: this.#control(), nodes: this.#slotAgents(), setupMs: this.#t0 - setupStart, clouds: this.#clouds })
  }

  #control (): LocalAgent[] { return this.#fleet!.agents.slice(0, this.#s.fleet.council) }

  /** The pool is full and healthy in the coordinator's report, and every council agent sees every agent alive. */
  async #full (): Promise<boolean> {
    const want = this.#s.fleet.pool.min_nodes ?? this.#s.fleet.pool.nodes
    if (this.#live().length < want || this.#live().some((n) => n.agent === undefined)) return false
    const p = await this.#poolStatus()
    if (p === undefined || p.current < want || p.healthy < want || p.replacing !== 0) return false
    const f = this.#fleet!
    const total = f.running().length
    for (const a of this.#control()) {
      if (!this.#up(a)) continue
      const st = await f.status(a.index, this.#c.adminTimeoutMs)
      if (st === undefined || st.alive !== total || st.coordinator === undefined || st.coordinator.coordinator === '') return false
    }
    return true
  }

  #boot (cloud: MeshCloud, inst: FakeInstance): void {
    const node: Node = { cloud, inst, agent: undefined }
    this.#nodes.set(inst.id, node)
    if (inst.doa) this.#faulted.add(inst.id)
    const f = this.#fleet!
    const p = f.add({
      name: inst.name,
      pool: this.#pool,
      instanceId: inst.id,
      extraConfig: '  coordinator_eligible: false\n  deny_peers_file: {dir}/deny\n',
      // The slot's place in the scenario's topology, as simulate gives it: the coordinator's
      // correlated-silence rule groups by these.
      labels: placeLabels(this.#s, inst.tags.slot),
      // Dead on arrival: a GPU missing from the start, so the boot gate fails.
      ...(inst.doa ? { machine: (m) => { m.lose(0) } } : {}),
    }).then((a) => {
      node.agent = a
      if (this.#started) this.#rec.nodeEvent(this.t, inst.name, 'boot', `agent started (${cloud.name} ${inst.id})`)
      // Terminated while it was starting: the machine is gone.
      if (inst.terminatedMs !== null) void f.kill(a.index, 'SIGTERM')
    }, (err: unknown) => { this.#log(`the agent of ${inst.name} did not start: ${(err as Error).message}`) })
    this.#launches.add(p)
    void p.finally(() => { this.#launches.delete(p) })
  }

  #onTerminate (inst: FakeInstance): void {
    const node = this.#nodes.get(inst.id)
    const a = node?.agent
    if (a === undefined || this.#fleet === undefined) return
    this.#killed.add(a)
    this.#paused.delete(a)
    this.#fleet.resume(a.index)
    void this.#fleet.kill(a.index, 'SIGTERM')
  }

  #onCall (call: ProviderCall): void {
    const t = this.t
    this.#rec.providerCall(t, call.provider, call.op, call.errorClass, call.latencyMs)
    const req = call.request
    if (call.op !== 'provision' || req === undefined || req.tags.pool !== this.#pool) return
    if (call.created !== undefined) this.#rec.nodeEvent(t, call.created.name, 'launched', `${call.provider} ${call.created.id}, slot ${req.tags.slot} generation ${req.tags.generation}`)
    if (!this.#started) return
    let matched = false
    for (const w of this.#watches) {
      if (w.slot !== req.tags.slot || req.tags.generation <= w.generation) continue
      const rec = this.#rec.fault$(w.id)
      if (rec === undefined || rec.requested_ms !== null) continue
      if (rec.detected_ms === null) this.#rec.detected(w.id, t)
      this.#rec.requested(w.id, t)
      this.#rec.nodeEvent(t, nodeLabel(w.slot), 'replacement requested', `${call.provider}: ${req.name}`)
      matched = true
    }
    if (!matched && call.created !== undefined) this.#rec.trace(t, 'provision', `${call.provider}: ${req.name} (no recorded fault)`)
  }

  // ---- the run ----

  async #loop (): Promise<void> {
    const s = this.#s
    const events = expandFailures(s)
    let next = 0
    for (;;) {
      const t = this.t
      while (next < events.length && events[next]!.at <= t) await this.#inject(events[next++]!)
      this.#runTimers(t)
      await this.#tick()
      this.#o.onProgress?.(Math.min(t, s.duration), s.duration)
      // Real time on a loaded machine: replacements under way at the end get settleTimeoutMs to finish (invariants still polled).
      if (t >= s.duration && (this.#allReplaced() || t >= s.duration + this.#c.settleTimeoutMs)) break
      if (this.#o.stopWhenReplaced === true && next >= events.length && this.#allReplaced() && await this.#full()) break
      await new Promise((resolve) => setTimeout(resolve, this.#c.pollMs))
    }
    this.#o.onProgress?.(s.duration, s.duration)
  }

  #allReplaced (): boolean {
    return this.#watches.every((w) => this.#rec.fault$(w.id)?.replaced_ms !== null)
  }

  #after (delayMs: number, what: string, run: () => void | Promise<void>): void {
    // 0: until the end of the run.
    if (delayMs <= 0) return
    this.#timers.push({ at: this.t + delayMs, what, run })
  }

  #runTimers (t: number): void {
    for (let i = 0; i < this.#timers.length;) {
      const x = this.#timers[i]!
      if (x.at > t) { i++; continue }
      this.#timers.splice(i, 1)
      this.#rec.trace(t, 'restore', x.what)
      this.#bg(Promise.resolve(x.run()))
    }
  }

  #bg (p: Promise<unknown>): void {
    const q = p.catch((err: unknown) => { this.#log(`background action failed: ${(err as Error).message}`) })
    this.#background.add(q)
    void q.finally(() => { this.#background.delete(q) })
  }

  // ---- faults ----

  async #inject (e: FaultEvent): Promise<void> {
    const t = this.t
    const f = this.#fleet!
    if (isGpuFault(e)) {
      for (const slot of this.#targets(e.target, 'count' in e ? e.count : 1)) {
        const node = this.#slotNode(slot)
        const a = node?.agent
        if (node === undefined || a === undefined || !this.#up(a)) {
          this.#rec.fault(t, e.fault, slot, 'no running agent in this slot: nothing injected', 'none')
          continue
        }
        const gpu = e.gpu ?? Math.floor(this.#rng.next() * a.machine.gpuCount)
        const applied = applyGpuFault(a.machine, e, gpu)
        a.machine.write(a.statePath)
        const id = this.#rec.fault(t, e.fault, slot, `${a.name}: ${applied.detail}`, applied.expect)
        if (applied.expect !== 'none' && applied.expect !== 'watch') this.#faulted.add(node.inst.id)
        if (applied.expect === 'replace') this.#watch(id, node, slot, 0, false)
        if (applied.undo !== undefined) {
          const undo = applied.undo
          this.#after(undo.forMs, `${e.fault} on ${a.name} ends`, () => { undo.run(a.machine); a.machine.write(a.statePath) })
        }
        await this.#stage(e, [a], applied.detail)
      }
      return
    }
    switch (e.fault) {
      case 'host-loss':
      case 'agent-crash':
      case 'agent-pause': {
        if (e.target.kind === 'coordinator') {
          await this.#stopCoordinator(e, e.fault === 'agent-pause' ? 'pause' : 'kill', e.fault === 'host-loss' ? 0 : e.fault === 'agent-crash' ? e.down : e.for)
          return
        }
        for (const slot of this.#targets(e.target, e.count)) {
          const node = this.#slotNode(slot)
          const a = node?.agent
          if (node === undefined || a === undefined || !this.#up(a)) {
            this.#rec.fault(t, e.fault, slot, 'no running agent in this slot: nothing injected', 'none')
            continue
          }
          const outageMs = e.fault === 'host-loss' ? Infinity : e.fault === 'agent-crash' ? (e.down === 0 ? Infinity : e.down) : (e.for === 0 ? Infinity : e.for)
          const replace = outageMs > this.#s.fleet.pool.dead_replace_after
          const id = this.#rec.fault(t, e.fault, slot, `${a.name}: ${e.fault === 'agent-pause' ? 'SIGSTOP' : 'SIGKILL'}${Number.isFinite(outageMs) ? ` for ${outageMs} ms` : ''}`, replace ? 'replace' : 'host')
          this.#faulted.add(node.inst.id)
          if (replace) this.#watch(id, node, slot, this.#s.fleet.pool.dead_replace_after + this.#c.deadDetectionMs, true)
          if (e.fault === 'agent-pause') {
            this.#paused.add(a)
            f.pause(a.index)
            this.#after(e.for, `SIGCONT ${a.name}`, () => { this.#paused.delete(a); f.resume(a.index) })
          } else {
            this.#killed.add(a)
            await f.kill(a.index, 'SIGKILL')
            if (e.fault === 'agent-crash') this.#after(e.down, `restart ${a.name}`, async () => await this.#restart(a, node))
          }
          await this.#stage(e, [a], e.fault)
        }
        return
      }
      case 'coordinator-kill':
        await this.#stopCoordinator(e, 'kill', e.down)
        return
      case 'partition':
      case 'flap':
      case 'rack-outage':
      case 'zone-outage': {
        const side = this.#side(e.target, 'count' in e ? e.count : 1)
        const power = e.fault === 'zone-outage' || (e.fault === 'rack-outage' && e.cause === 'power')
        const id = this.#rec.fault(t, e.fault, side.slots.length === 1 ? side.slots[0]! : null,
          `${side.agents.map((a) => a.name).join(', ')}${power ? ': SIGKILL' : ' cut off'}`, power ? 'host' : 'network')
        if (!power) this.#cutWatches.push({ id, peers: new Set(side.agents.map((a) => a.peerId)) })
        for (const slot of side.slots) { const n = this.#slotNode(slot); if (n !== undefined) this.#faulted.add(n.inst.id) }
        if (power) {
          const forMs = e.for
          for (const a of side.agents) {
            this.#killed.add(a)
            await f.kill(a.index, 'SIGKILL')
            const node = [...this.#nodes.values()].find((n) => n.agent === a)
            this.#after(forMs, `power back on ${a.name}`, async () => await this.#restart(a, node))
          }
        } else if (e.fault === 'flap') {
          const half = Math.max(50, Math.floor(e.period / 2))
          for (let k = 0; k < e.times; k++) {
            let cut = -1
            this.#after(k * e.period + 1, `flap cut ${k + 1}`, () => { cut = this.#cut(side.agents) })
            this.#after(k * e.period + half, `flap heal ${k + 1}`, () => { this.#heal(cut) })
          }
        } else {
          const cut = this.#cut(side.agents)
          this.#after(e.for, 'partition healed', () => { this.#heal(cut) })
        }
        await this.#stage(e, side.agents, e.fault)
        return
      }
      case 'provider-capacity':
      case 'provider-quota':
      case 'provider-rate-limit':
      case 'provider-latency':
      case 'provider-doa':
      case 'provider-hang': {
        const clouds = this.#clouds.filter((c) => e.provider === '' || c.name === e.provider)
        this.#rec.fault(t, e.fault, null, clouds.map((c) => c.name).join(', '), 'none')
        for (const c of clouds) this.#providerFault(c, e)
        await this.#stage(e, [], e.fault)
        return
      }
      default:
        // meshRefusals turned these away before anything started.
        throw new Error(`mesh mode cannot inject ${e.fault}`)
    }
  }

  #providerFault (c: MeshCloud, e: Extract<FaultEvent, { provider: string }>): void {
    const f = c.fake
    switch (e.fault) {
      case 'provider-capacity': {
        f.setCapacity(c.region, c.instanceType, 0)
        this.#after(e.for, `${c.name} capacity back`, () => { f.setCapacity(c.region, c.instanceType, c.capacity) })
        return
      }
      case 'provider-quota':
      case 'provider-rate-limit': {
        const kind = e.fault === 'provider-quota' ? 'quota' as const : 'rate-limited' as const
        for (const op of e.fault === 'provider-quota' ? ['provision'] as const : ['provision', 'list', 'terminate'] as const) {
          f.injectFault({ kind, op, times: Infinity, ...(kind === 'rate-limited' ? { retryAfterMs: 1000 } : {}) })
        }
        this.#after(e.for, `${c.name} ${kind} cleared`, () => { f.clearFaults() })
        return
      }
      case 'provider-latency': {
        const before = { latencyMsMin: f.config.latencyMsMin, latencyMsMax: f.config.latencyMsMax }
        f.tune({ latencyMsMin: e.min, latencyMsMax: e.max })
        this.#after(e.for, `${c.name} latency back`, () => { f.tune(before) })
        return
      }
      case 'provider-doa': {
        const before = f.config.doaRate
        f.tune({ doaRate: e.rate })
        this.#after(e.for, `${c.name} dead-on-arrival share back`, () => { f.tune({ doaRate: before }) })
        return
      }
      case 'provider-hang':
        f.injectFault({ kind: 'hang', times: e.times })
    }
  }

  /**
   * SIGKILL (restarted on its store after `downMs`) or SIGSTOP (SIGCONT after `downMs`) the acting
   * coordinator; 0: for good. A council agent: nothing to replace, a successor must act.
   */
  async #stopCoordinator (e: FaultEvent, how: 'kill' | 'pause', downMs: number): Promise<void> {
    const t = this.t
    const f = this.#fleet!
    const a = this.#control().find((x) => this.#lastActing.includes(x.peerId) && this.#up(x) && !this.#paused.has(x))
    if (a === undefined) {
      this.#rec.fault(t, e.fault, null, `no acting coordinator to ${how}`, 'none')
      return
    }
    const signal = how === 'pause' ? 'SIGSTOP' : 'SIGKILL'
    this.#rec.fault(t, e.fault, null, `${a.name} (term ${this.#actingTerm}): ${signal}${downMs > 0 ? `, back after ${downMs} ms` : ''}`, 'none')
    if (how === 'pause') {
      this.#paused.add(a)
      f.pause(a.index)
      this.#after(downMs, `SIGCONT ${a.name}`, () => { this.#paused.delete(a); f.resume(a.index) })
    } else {
      this.#killed.add(a)
      await f.kill(a.index, 'SIGKILL')
      this.#after(downMs, `restart ${a.name}`, async () => await this.#restart(a, undefined))
    }
    await this.#stage(e, [a], how === 'pause' ? 'coordinator paused' : 'coordinator killed')
  }

  async #stage (fault: FaultEvent, agents: LocalAgent[], detail: string): Promise<void> {
    await this.#o.onStage?.({ kind: 'fault', tMs: this.t, wallMs: Date.now(), fault, agents, detail })
  }

  /** `silent`: a host fault, published the moment it lands (the node stops answering). */
  #watch (id: number, node: Node, slot: number, extraMs: number, silent: boolean): void {
    this.#watches.push({ id, inst: node.inst, slot, generation: node.inst.tags.generation, withinMs: this.#s.assertions.replacement_within + extraMs, at: this.t, noCoordMs: 0, publishedAt: silent ? this.t : undefined, acked: false })
  }

  async #restart (a: LocalAgent, node: Node | undefined): Promise<void> {
    // The cloud took the instance away meanwhile: nothing to come back to.
    if (node !== undefined && node.inst.terminatedMs !== null) return
    if (this.#up(a)) return
    await this.#fleet!.restart(a.index)
    this.#killed.delete(a)
    this.#rec.nodeEvent(this.t, node === undefined ? a.name : nodeLabel(node.inst.tags.slot), 'restart', `${a.name} restarted on its store`)
  }

  /** Cut off `side` (every agent inside denies everyone outside, and the other way round); overlapping cuts compose. */
  #cut (side: readonly LocalAgent[]): number {
    const id = this.#cutSeq++
    this.#cuts.push({ id, side })
    this.#applyCuts()
    return id
  }

  #heal (id: number): void {
    const k = this.#cuts.findIndex((c) => c.id === id)
    if (k < 0) return
    this.#cuts.splice(k, 1)
    this.#applyCuts()
  }

  #applyCuts (): void {
    const all = this.#fleet!.agents.filter((a) => a.peerId !== '')
    for (const [a, deny] of denyLists(all, this.#cuts)) writeFileSync(join(a.dir, 'deny'), deny.length === 0 ? '' : `${deny.map((x) => x.peerId).join('\n')}\n`)
  }

  /** Pool slots a target names; random ones drawn from the seed. */
  #targets (t: Target, count: number): number[] {
    const n = this.#s.fleet.pool.nodes
    if (t.kind === 'random') {
      const all = Array.from({ length: n }, (_, i) => i)
      const out: number[] = []
      while (out.length < Math.min(count, n)) out.push(all.splice(Math.floor(this.#rng.next() * all.length), 1)[0]!)
      return out
    }
    if (t.kind === 'half') return this.#targets({ kind: 'random' }, Math.floor(n / 2))
    if (t.kind === 'coordinator') return []
    return nodesOf(this.#s, t)
  }

  /** The agents on one side of a partition or outage. */
  #side (t: Target, count: number): { slots: number[], agents: LocalAgent[] } {
    if (t.kind === 'coordinator') {
      const a = this.#control().find((x) => this.#lastActing.includes(x.peerId))
      return { slots: [], agents: a === undefined ? [] : [a] }
    }
    if (t.kind === 'half') {
      const all = this.#fleet!.running()
      const out: LocalAgent[] = []
      while (out.length < Math.floor(all.length / 2)) out.push(all.splice(Math.floor(this.#rng.next() * all.length), 1)[0]!)
      const slots = out.map((a) => [...this.#nodes.values()].find((n) => n.agent === a)?.inst.tags.slot).filter((x): x is number => x !== undefined)
      return { slots, agents: out }
    }
    const slots = this.#targets(t, count)
    return { slots, agents: slots.map((k) => this.#slotNode(k)?.agent).filter((a): a is LocalAgent => a !== undefined) }
  }

  // ---- observing ----

  #live (): Node[] {
    return [...this.#nodes.values()].filter((n) => n.inst.terminatedMs === null && n.inst.tags.pool === this.#pool)
  }

  /** Pool node `slot`: the live instance of the slot's latest generation. */
  #slotNode (slot: number): Node | undefined {
    let best: Node | undefined
    for (const n of this.#live()) if (n.inst.tags.slot === slot && (best === undefined || n.inst.tags.generation > best.inst.tags.generation)) best = n
    return best
  }

  #slotAgents (): LocalAgent[] {
    const out: LocalAgent[] = []
    for (let k = 0; k < this.#s.fleet.pool.nodes; k++) { const a = this.#slotNode(k)?.agent; if (a !== undefined) out.push(a) }
    return out
  }

  #up (a: LocalAgent): boolean {
    return a.child !== undefined && a.child.exitCode === null && a.child.signalCode === null
  }

  async #poolStatus (): Promise<PoolStatus | undefined> {
    const f = this.#fleet!
    for (const a of this.#control()) {
      if (!this.#up(a) || this.#paused.has(a)) continue
      try {
        const r = await f.admin(a.index, { case: 'pools', value: create(PoolsRequestSchema) }, this.#c.adminTimeoutMs)
        if (r.response.case === 'pools') return r.response.value.report?.pools.find((p) => p.name === this.#pool)
      } catch {}
    }
    return undefined
  }

  async #tick (): Promise<void> {
    const t = this.t
    const dt = t - this.#lastTick
    this.#lastTick = t
    const f = this.#fleet!
    const control = this.#control().filter((a) => this.#up(a) && !this.#paused.has(a))
    const statuses = (await Promise.all(control.map(async (a) => await f.status(a.index, this.#c.adminTimeoutMs)))).filter((x): x is FleetStatus => x !== undefined)
    await this.#checkPublished()
    const t2 = this.t
    this.#checkCoordinator(t2, statuses, dt)
    this.#checkClouds(t2)
    this.#checkCrashes(t2)
    this.#checkDetection(t2, statuses)
    this.#checkDeadlines(t2)
    this.#checkAcks(t2)
    if (t2 - this.#lastSample >= this.#c.sampleMs) {
      this.#lastSample = t2
      this.#sample(t2, statuses)
    }
  }

  #checkCoordinator (t: number, statuses: FleetStatus[], dt: number): void {
    const acting = statuses.filter((x) => x.coordinator?.acting === true)
    for (const x of acting) {
      const term = x.coordinator!.term
      const owner = this.#termOwner.get(term)
      if (owner !== undefined && owner !== x.node) this.#rec.violate('one-coordinator', t, `term ${term} has two coordinators: ${owner} and ${x.node} (${x.name})`)
      if (owner === undefined && this.#termOwner.size < 10_000) this.#termOwner.set(term, x.node)
    }
    const now = acting.map((x) => x.node)
    // Two agents acting in this poll and in the last one too: an overlap of a whole poll, not a handover race.
    if (now.length > 1 && this.#lastActing.length > 1 && now.filter((p) => this.#lastActing.includes(p)).length > 1) {
      this.#rec.violate('one-coordinator', t, `${acting.map((x) => `${x.name} (term ${x.coordinator!.term})`).join(' and ')} both acting for ${this.#c.pollMs} ms or more`)
    }
    this.#rec.check('one-coordinator')
    this.#lastActing = now
    const one = acting[0]
    if (one === undefined) {
      this.#rec.noCoordinator(t)
      this.#actingTerm = 0
      for (const w of this.#watches) if (t >= w.at) w.noCoordMs += dt
    } else {
      this.#actingTerm = one.coordinator!.term
      this.#rec.term(t, one.coordinator!.term, one.name)
    }
  }

  #checkClouds (t: number): void {
    const s = this.#s
    const byToken = new Map<string, string>()
    let live = 0
    for (const c of this.#clouds) {
      for (const inst of c.fake.instances()) {
        const prior = byToken.get(inst.tags.token)
        if (prior !== undefined) this.#rec.violate('unique-token', t, `token ${inst.tags.token} has two instances: ${prior} and ${c.name}/${inst.id}`)
        byToken.set(inst.tags.token, `${c.name}/${inst.id}`)
        if (inst.tags.pool === this.#pool && inst.terminatedMs === null) live++
        if (inst.terminatedMs !== null && !this.#seenTerminated.has(inst.id)) this.#terminated(t, inst)
      }
    }
    this.#rec.check('unique-token')
    const max = (s.fleet.pool.max_nodes ?? s.fleet.pool.nodes) + s.fleet.pool.max_in_flight
    if (live > max) this.#rec.violate('pool-bounds', t, `${live} live instances in pool ${this.#pool}, above max_nodes + max_in_flight (${max})`)
    this.#rec.check('pool-bounds')
  }

  #terminated (t: number, inst: FakeInstance): void {
    this.#seenTerminated.add(inst.id)
    if (!this.#started) return
    this.#rec.nodeEvent(t, inst.name, 'terminated', inst.id)
    const watch = this.#watches.filter((w) => w.inst.id === inst.id)
    for (const w of watch) {
      const rec = this.#rec.fault$(w.id)
      if (rec !== undefined && rec.replaced_ms === null) {
        if (rec.requested_ms === null) this.#rec.requested(w.id, t)
        this.#rec.replaced(w.id, t)
        this.#rec.nodeEvent(t, nodeLabel(w.slot), 'replaced', `${inst.name} terminated`)
        const replacement = this.#slotNode(w.slot)
        void this.#o.onStage?.({ kind: 'replaced', tMs: t, old: this.#nodes.get(inst.id)?.agent, replacement: replacement?.inst.id === inst.id ? undefined : replacement?.agent, faultMs: w.at })
      }
    }
    if (watch.length === 0 && this.#faulted.has(inst.id)) this.#rec.replacementCompleted()
    if (this.#s.assertions.no_healthy_terminated && inst.tags.pool === this.#pool && !this.#faulted.has(inst.id)) {
      this.#rec.violate('no-healthy-terminated', t, `${inst.name} (${inst.id}) was terminated with no fault injected on it`)
    }
    this.#rec.check('no-healthy-terminated')
  }

  #checkCrashes (t: number): void {
    for (const a of this.#fleet!.agents) {
      const c = a?.child
      if (c === undefined || this.#killed.has(a)) continue
      if (c.exitCode !== null || c.signalCode !== null) {
        this.#rec.violate('no-crash', t, `${a.name} exited by itself (code ${c.exitCode}, signal ${c.signalCode}); last log: ${JSON.stringify(a.logs.slice(-3))}`)
      }
    }
    this.#rec.check('no-crash')
  }

  #checkDetection (t: number, statuses: FleetStatus[]): void {
    for (const c of this.#cutWatches) {
      if (this.#rec.fault$(c.id)?.detected_ms !== null) continue
      if (statuses.some((x) => x.nodes.some((n) => c.peers.has(n.id) && (n.state === MemberState.SUSPECT || n.state === MemberState.DEAD)))) this.#rec.detected(c.id, t)
    }
    const view = statuses.find((x) => x.coordinator?.acting === true) ?? statuses[0]
    if (view === undefined) return
    for (const w of this.#watches) {
      const rec = this.#rec.fault$(w.id)
      if (rec === undefined || rec.detected_ms !== null) continue
      const a = this.#nodes.get(w.inst.id)?.agent
      const nv = a === undefined ? undefined : view.nodes.find((n) => n.id === a.peerId)
      if (nv !== undefined && (nv.health?.verdict?.state === HealthState.UNHEALTHY || nv.state === MemberState.DEAD)) {
        this.#rec.detected(w.id, t)
        this.#rec.nodeEvent(t, nodeLabel(w.slot), 'detected', nv.state === MemberState.DEAD ? 'dead' : 'unhealthy')
      }
    }
  }

  /** When each watched node published its verdict: read from its own admin socket, until it has. */
  async #checkPublished (): Promise<void> {
    const f = this.#fleet!
    const waiting = this.#watches.filter((w) => w.publishedAt === undefined && this.#rec.fault$(w.id)?.detected_ms === null)
    await Promise.all(waiting.map(async (w) => {
      const a = this.#nodes.get(w.inst.id)?.agent
      if (a === undefined || !this.#up(a) || this.#paused.has(a)) return
      const own = (await f.status(a.index, this.#c.adminTimeoutMs))?.nodes.find((n) => n.self)
      if (own?.health?.verdict?.state === HealthState.UNHEALTHY) w.publishedAt = this.t
    }))
  }

  /** no-ack-lost: a published verdict (or a silent node) is in the acting coordinator's view within detectWithinMs, the clock stopped while nobody acts. */
  #checkAcks (t: number): void {
    let open = 0
    for (const w of this.#watches) {
      const rec = this.#rec.fault$(w.id)
      if (rec === undefined || w.publishedAt === undefined || w.acked) continue
      open++
      if (rec.detected_ms !== null) w.acked = true
      else if (t > w.publishedAt + HARNESS_CONFIG.detectWithinMs + w.noCoordMs) {
        this.#rec.violate('no-ack-lost', t, `${rec.fault} on node ${w.slot} (${w.inst.name}): published at ${Math.round(w.publishedAt)} ms, not in the acting coordinator's view ${HARNESS_CONFIG.detectWithinMs} ms later (+${w.noCoordMs} ms without a coordinator)`)
      }
    }
    this.#rec.check('no-ack-lost', open)
  }

  #checkDeadlines (t: number): void {
    for (const w of this.#watches) {
      const rec = this.#rec.fault$(w.id)
      if (rec === undefined || rec.requested_ms !== null) continue
      if (t > w.at + w.withinMs + w.noCoordMs) {
        this.#rec.violate('replacement-requested', t, `${rec.fault} on node ${w.slot} (${w.inst.name}) at ${w.at} ms: no replacement requested within ${w.withinMs} ms (+${w.noCoordMs} ms without a coordinator)`)
      }
    }
    this.#rec.check('replacement-requested')
  }

  #sample (t: number, statuses: FleetStatus[]): void {
    const view = statuses.find((x) => x.coordinator?.acting === true) ?? statuses[0]
    let healthy = 0; let degraded = 0; let unhealthy = 0; let dead = 0
    for (const n of view?.nodes ?? []) {
      if (n.meta?.pool !== this.#pool || n.state === MemberState.LEFT) continue
      if (n.state === MemberState.DEAD) dead++
      else if (n.health?.verdict?.state === HealthState.UNHEALTHY) unhealthy++
      else if (n.health?.verdict?.state === HealthState.DEGRADED) degraded++
      else if (n.health?.verdict?.state === HealthState.HEALTHY) healthy++
    }
    const pool = this.#s.fleet.pool
    this.#rec.sample(t, { healthy, degraded, unhealthy, dead, poolLive: this.#live().length, poolTarget: pool.min_nodes ?? pool.nodes, term: this.#actingTerm })
  }

  // ---- teardown ----

  async #stop (): Promise<void> {
    // Launches in flight end first: an agent that starts after stop() would be left running.
    await Promise.allSettled([...this.#launches])
    await Promise.allSettled([...this.#background])
    await Promise.allSettled([...this.#launches])
    await this.#fleet?.stop()
    await stopClouds(this.#clouds)
    rmSync(this.#stateDir, { recursive: true, force: true })
  }
}
