// `shoal agent`: the composition root (DESIGN.md §2's "boring glue"). It owns every driver: the
// store, NVML, the kernel-log reader, the policy file, the metrics endpoint and the admin socket,
// and feeds the HealthJudge core. Judgements are journaled before they are reported anywhere.
import { create } from '@bufbuild/protobuf'
import { readFileSync, watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'
import {
  AdminResponseSchema, GpuEventKind, HealthReportSchema, NodeMetaSchema, type AdminRequest, type AdminResponse,
  type BootGate, type CommandKind, type CommandResult, type GpuEvent, type GpuSample, type HealthReport, type Incident,
} from '../../proto/gen/shoal_pb.js'
import { HookRunner } from '../actions/hooks.js'
import { fleetHandler, type CommandWriter, type FleetReader } from '../admin/fleet.js'
import { loadCoordinatorFile, type CoordinatorConfig } from '../../coordinator/config.js'
import { CoordinatorMetrics } from '../../coordinator/metrics.js'
import { createProvider } from '../../coordinator/providers/create.js'
import { ProviderError } from '../../coordinator/providers/provider.js'
import { DEFAULT_RECONCILER_CONFIG } from '../../coordinator/reconciler.js'
import { CoordinatorRuntime } from '../../coordinator/runtime.js'
import { observe } from '../../coordinator/view.js'
import { systemWebhookComponents, Webhooks, webhookTargets, type WebhookEvent } from '../../coordinator/webhook.js'
import { MeshDriver } from '../mesh/driver.js'
import { DEFAULT_MESH_CONFIG } from '../mesh/node.js'
import { parseFleetKey } from '../mesh/p2p/fleet-key.js'
import { coordinatorStatus, fleetStatus, nodeViews } from '../mesh/views.js'
import { systemRng, type Rng } from '../lib/rng.js'
import { systemAlarm, type Alarm } from '../lib/time.js'
import { openNvml, NvmlLoadError, type Nvml } from '../../native/nvml.js'
import { AdminServer } from '../admin/server.js'
import { adminError } from '../admin/dispatch.js'
import type { AgentConfig } from '../config/load.js'
import { GpuSource } from '../gpu/source.js'
import { KmsgReader } from '../gpu/kmsg/reader.js'
import { systemKmsgClock } from '../gpu/kmsg/system.js'
import { actionName, stateName } from '../health/action.js'
import { runBootGate } from '../health/boot-gate.js'
import { DEFAULT_HISTORY_LIMITS } from '../health/history.js'
import { DEFAULT_INCIDENT_LIMITS } from '../health/incidents.js'
import { HealthJudge, type JudgeEffects } from '../health/judge.js'
import type { Timers, WallClock } from '../lib/time.js'
import { AgentMetrics } from '../metrics/metrics.js'
import { MetricsServer } from '../metrics/server.js'
import { DEFAULT_JOURNAL_CONFIG, MAX_APPEND_ENTRIES } from '../store/journal.js'
import { Store } from '../store/store.js'
import { PolicyLoader } from './policy-loader.js'

export interface AgentOptions {
  config: AgentConfig
  /** The config file as read, kept in the store so a later look can see what the agent ran with. */
  configText: string
  configSource: string
  logger: Logger
  clock: WallClock
  timers: Timers
  /** Overrides config.nvml.library (`--fake`). */
  nvmlLibrary?: string
  /** Skip the kernel log even if enabled (tests and benchmarks on hosts that have one). */
  kmsg?: boolean
  /** One-shot timers for the mesh (default: the system's). */
  alarm?: Alarm
  /** Randomness for the mesh (default: seeded from the OS). */
  rng?: Rng
}

/** The agent's version, gossiped in its metadata. */
const AGENT_VERSION = '0.1.0'
/** How long a cordon or uncordon may take end to end before the admin request says timeout. */
const COMMAND_TIMEOUT_MS = 30_000

/** Incidents `shoal health` shows when the request does not say. */
const DEFAULT_HEALTH_INCIDENTS = 10
const MAX_HEALTH_INCIDENTS = 64
/** Coalesces an editor's several writes of one save into one reload. */
const POLICY_WATCH_DEBOUNCE_MS = 250

export class Agent {
  readonly #o: AgentOptions
  readonly #log: Logger
  readonly #store: Store
  readonly #policy: PolicyLoader
  readonly #judge: HealthJudge
  readonly #metrics: AgentMetrics
  #nvml: Nvml | undefined
  #nvmlError: string | undefined
  #source: GpuSource | undefined
  #kmsg: KmsgReader | undefined
  #metricsServer: MetricsServer | undefined
  #admin: AdminServer | undefined
  #mesh: MeshDriver | undefined
  #coordinator: CoordinatorRuntime | undefined
  #webhooks: Webhooks | undefined
  #bootGate: BootGate | undefined
  #tick: unknown
  #watcher: FSWatcher | undefined
  #watchTimer: ReturnType<typeof setTimeout> | undefined
  /** Journal writes in order; each judgement waits for the previous one's. */
  #writes: Promise<void> = Promise.resolve()
  #stopping = false
  readonly #faultsLogged = new Set<string>()

  private constructor (o: AgentOptions, store: Store, policy: PolicyLoader, judge: HealthJudge) {
    this.#o = o
    this.#log = o.logger
    this.#store = store
    this.#policy = policy
    this.#judge = judge
    this.#metrics = new AgentMetrics()
  }

  static async start (o: AgentOptions): Promise<Agent> {
    const { config, clock, logger } = o
    const store = await Store.open({
      dir: config.store.dir,
      sync: config.store.sync,
      journal: { ...DEFAULT_JOURNAL_CONFIG, ...config.store.journal },
    }, clock)
    try {
      await store.saveConfigSnapshot({ text: o.configText, source: o.configSource })
      const loader = new PolicyLoader(config.health.policy)
      const now = clock.wallMs()
      const first = loader.initial(now)
      const judge = new HealthJudge(loader.current!, {
        history: DEFAULT_HISTORY_LIMITS,
        incidents: { ...DEFAULT_INCIDENT_LIMITS, burstGapMs: config.health.burstGapMs },
        expectedGpus: config.node.expect.gpus ?? undefined,
      })
      const agent = new Agent(o, store, loader, judge)
      logger.info({ node: config.node.name, peerId: store.identity.peerId, created: store.identity.created, journalSeq: store.journal.lastSeq }, 'agent starting')
      if (!first.ok) logger.error({ err: first.error }, 'health policy did not load; running the built-in policy')
      agent.#metrics.observePolicy(loader.status)
      await agent.#journalNote(`started (${config.node.name}, policy ${loader.status.name}@${loader.status.digest})`)
      await agent.#startGpus()
      await agent.#startMesh()
      await agent.#startServers()
      agent.#watchPolicy()
      agent.#tick = o.timers.setInterval(() => { agent.#apply(agent.#judge.tick(clock.wallMs())) }, config.sampling.intervalMs)
      return agent
    } catch (err) {
      await store.close().catch(() => {})
      throw err
    }
  }

  get peerId (): string { return this.#store.identity.peerId }
  get metrics (): AgentMetrics { return this.#metrics }
  get metricsAddress (): { host: string, port: number } | undefined { return this.#metricsServer?.address }
  /** Resolves when every judgement so far is journaled. */
  async settled (): Promise<void> { await this.#writes }

  /** SIGHUP or a change of the policy file. */
  reloadPolicy (trigger: string): boolean {
    const now = this.#o.clock.wallMs()
    const r = this.#policy.reload(now)
    this.#metrics.observePolicy(r.status)
    this.#enqueue([{ timeMs: now, entry: { case: 'policy', value: r.status } }])
    if (!r.ok) {
      this.#log.error({ trigger, err: r.error, keeping: `${this.#judge.policy.name}@${this.#judge.policy.digest}` },
        'health policy reload failed; keeping the last good policy')
      return false
    }
    this.#log.info({ trigger, policy: r.status.name, digest: r.status.digest, rules: r.status.rules }, 'health policy loaded')
    this.#apply(this.#judge.setPolicy(r.policy, now))
    return true
  }

  health (incidents = DEFAULT_HEALTH_INCIDENTS): HealthReport {
    const n = Math.min(Math.max(incidents === 0 ? DEFAULT_HEALTH_INCIDENTS : incidents, 1), MAX_HEALTH_INCIDENTS)
    return create(HealthReportSchema, {
      node: this.#o.config.node.name,
      timeMs: this.#o.clock.wallMs(),
      verdict: this.#judge.verdict(),
      incidents: this.#judge.incidents(n),
      bootGate: this.#bootGate,
      policy: this.#policy.status,
      gpus: this.#judge.gpuSummaries(),
      journalSeq: this.#store.journal.lastSeq,
    })
  }

  /** Graceful: stop reading, write what is pending, close NVML and the store. */
  async stop (reason: string): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    this.#log.info({ reason }, 'agent stopping')
    if (this.#tick !== undefined) this.#o.timers.clearInterval(this.#tick)
    if (this.#watchTimer !== undefined) clearTimeout(this.#watchTimer)
    this.#watcher?.close()
    this.#kmsg?.stop()
    await this.#source?.stop()
    await this.#admin?.close()
    this.#coordinator?.stop()
    this.#webhooks?.stop()
    await this.#mesh?.stop()
    await this.#metricsServer?.close()
    await this.#journalNote(`stopped (${reason})`)
    await this.#writes
    await this.#nvml?.close()
    await this.#store.close()
    this.#log.info('agent stopped')
  }

  async #startGpus (): Promise<void> {
    const { config, clock, timers } = this.#o
    const library = this.#o.nvmlLibrary ?? config.nvml.library
    try {
      this.#nvml = openNvml({ libraryPath: library })
    } catch (err) {
      this.#nvmlError = err instanceof NvmlLoadError || err instanceof Error ? err.message : String(err)
      this.#log.error({ library, err: this.#nvmlError }, 'NVML did not load: no GPU health until the agent restarts')
    }
    let samples: GpuSample[] = []
    if (this.#nvml !== undefined) {
      const source = new GpuSource({ nvml: this.#nvml, clock, timers }, {
        sampleIntervalMs: config.sampling.intervalMs,
        dedupWindowMs: config.sampling.dedupWindowMs,
        events: { waitTimeoutMs: config.sampling.eventWaitMs, queueLimit: config.sampling.eventQueue },
      })
      this.#source = source
      const inventory = source.readInventory()
      this.#judge.inventory(inventory)
      samples = source.sampleOnce()
      this.#metrics.updateGpus(inventory, samples, config.node.name)
      source.on('gpu:samples', (s) => { this.#onSamples(s) })
      source.on('gpu:event', (e) => { this.#onEvent(e) })
      source.on('gpu:error', (err) => { this.#log.error({ err: err.message }, 'GPU sampling failed') })
      source.on('gpu:inventory', (inv) => { this.#judge.inventory(inv) })
    }
    const now = clock.wallMs()
    this.#bootGate = runBootGate({
      nvmlError: this.#nvmlError,
      inventory: this.#source?.inventory ?? [],
      samples,
      expect: { gpus: config.node.expect.gpus ?? undefined, model: config.node.expect.model ?? undefined },
      now,
    })
    if (this.#bootGate.passed) this.#log.info({ gpus: this.#bootGate.gpuCount, models: this.#bootGate.models }, 'boot gate passed')
    else this.#log.error({ failures: this.#bootGate.failures }, 'boot gate failed')
    this.#apply(this.#judge.bootGate(this.#bootGate, now))
    if (samples.length > 0) this.#onSamples(samples)
    this.#source?.start()
    if (config.kmsg.enabled && this.#o.kmsg !== false && this.#source !== undefined) this.#startKmsg(this.#source)
  }

  #startKmsg (source: GpuSource): void {
    const reader = new KmsgReader({ path: this.#o.config.kmsg.path }, { clock: systemKmsgClock, timer: this.#o.timers })
    reader.on('gpu:event', (e) => { source.ingest(e) })
    reader.on('kmsg:error', (e) => { this.#log.warn(e, 'kernel log unreadable: XIDs only from NVML events (79, 119, 120 are kernel-log only)') })
    reader.on('kmsg:gap', (g) => { this.#log.warn(g, 'kernel log records were overwritten before they were read') })
    reader.on('kmsg:rejected', (r) => { this.#log.debug(r, 'kernel log line rejected') })
    this.#kmsg = reader
    reader.start()
  }

  async #startServers (): Promise<void> {
    const { config } = this.#o
    if (config.metrics.listen !== null) {
      this.#metricsServer = new MetricsServer(this.#metrics, config.metrics.listen)
      const at = await this.#metricsServer.listen()
      this.#log.info(at, 'metrics listening')
    }
    this.#admin = new AdminServer(async (req) => this.#answer(req), { path: config.admin.socket, mode: config.admin.mode })
    await this.#admin.listen()
    this.#log.info({ socket: config.admin.socket }, 'admin socket listening')
  }

  async #answer (req: AdminRequest): Promise<AdminResponse> {
    if (req.request.case === 'health') {
      return create(AdminResponseSchema, { response: { case: 'health', value: this.health(req.request.value.incidents) } })
    }
    const answer = await this.#fleetAnswer(req)
    return answer ?? adminError('bad-request', `this agent does not answer ${req.request.case ?? 'an empty request'}`)
  }

  get mesh (): MeshDriver | undefined { return this.#mesh }

  readonly #fleetAnswer = (req: AdminRequest): Promise<AdminResponse | undefined> => {
    const mesh = this.#mesh
    const clock = this.#o.clock
    const reader: FleetReader | undefined = mesh === undefined
      ? undefined
      : {
          status: () => fleetStatus(mesh.node, { fleet: this.#o.config.mesh.fleet, connectedPeers: mesh.host.connectedPeers().length, now: clock.wallMs() }),
          nodes: () => nodeViews(mesh.node, clock.wallMs()),
          events: (q) => mesh.node.fleet.events(q),
          coordinator: () => coordinatorStatus(mesh.node, clock.wallMs()),
          pools: () => mesh.node.pools,
        }
    const writer: CommandWriter | undefined = mesh === undefined
      ? undefined
      : {
          command: async (kind: CommandKind, target: string, reason: string, value: number): Promise<CommandResult> => {
            const drain = kind === 3
            return await mesh.command(kind, target, reason, drain ? this.#o.config.hooks.drainTimeoutMs + COMMAND_TIMEOUT_MS : COMMAND_TIMEOUT_MS, value)
          },
        }
    return fleetHandler(reader, writer)(req)
  }

  async #startMesh (): Promise<void> {
    const { config, clock, logger } = this.#o
    const m = config.mesh
    if (m.keyFile === null) {
      logger.warn('mesh.key_file is not set: this agent runs alone (no gossip, no coordinator); fleet commands answer mesh-off')
      return
    }
    // A bad coordinator file stops the agent at start with the field to blame, not at election time.
    const coordinatorFile = config.coordinator.file === null || !m.coordinatorEligible ? undefined : await loadCoordinatorFile(config.coordinator.file)
    const fleetKey = parseFleetKey(readFileSync(m.keyFile, 'utf8'), m.keyFile)
    const loopback = [...m.listen, ...m.announce].every((a) => isLoopback(a))
    const labels = config.node.labels
    this.#mesh = await MeshDriver.start({
      fleet: m.fleet,
      fleetKey,
      listen: [...m.listen],
      announce: [...m.announce],
      bootstrap: [...m.bootstrap],
      denyPeersFile: m.denyPeersFile,
      eligible: m.coordinatorEligible,
      meta: create(NodeMetaSchema, {
        name: config.node.name,
        pool: config.node.pool,
        labels: { ...labels },
        coordinatorEligible: m.coordinatorEligible,
        agentVersion: AGENT_VERSION,
        expectedGpus: config.node.expect.gpus ?? undefined,
        expectedModel: config.node.expect.model ?? '',
        zone: labels.zone ?? '',
        rack: labels.rack ?? '',
        region: labels.region ?? '',
        provider: labels.provider ?? '',
        instanceId: config.node.instanceId ?? '',
      }),
      ...(coordinatorFile === undefined ? {} : { pools: new Map(coordinatorFile.pools.map((p) => [p.name, { min: p.minNodes, max: p.maxNodes }])) }),
      onEffects: (fx) => {
        const c = this.#coordinator
        if (c === undefined) return
        if (fx.poolWrites.length > 0) c.poolWrites(fx.poolWrites)
        if (fx.events.length > 0) {
          c.fleetEvents(fx.events)
          c.poke()
        }
      },
      config: {
        ...DEFAULT_MESH_CONFIG,
        election: { ...DEFAULT_MESH_CONFIG.election, councilSize: m.councilSize },
        membership: { ...DEFAULT_MESH_CONFIG.membership, probeIntervalMs: m.probeIntervalMs, probeTimeoutMs: m.probeTimeoutMs },
      },
      store: this.#store,
      sync: config.store.sync,
      hooks: new HookRunner(config.hooks, { node: this.#store.identity.peerId, nodeName: config.node.name }),
      log: logger.child({ part: 'mesh' }),
      clock,
      alarm: this.#o.alarm ?? systemAlarm,
      rng: this.#o.rng ?? systemRng(),
      loopback,
    })
    this.#publishHealth()
    if (coordinatorFile !== undefined) await this.#startCoordinator(coordinatorFile)
  }

  async #startCoordinator (file: CoordinatorConfig): Promise<void> {
    const { config, clock, logger } = this.#o
    const mesh = this.#mesh!
    const log = logger.child({ part: 'coordinator' })
    const webhooks = file.webhooks.length === 0
      ? undefined
      : new Webhooks(await webhookTargets(file.webhooks, { env: process.env, readFile: async (p) => await readFile(p, 'utf8') }), systemWebhookComponents({ warn: (obj, msg) => { log.warn(obj, msg) } }))
    this.#webhooks = webhooks
    // A deposed coordinator stops retrying at once: its successor may send the same token to
    // another cloud, where it is not idempotent.
    const guard = (): void => {
      if (!mesh.node.acting(clock.wallMs())) throw new ProviderError('transient', 'deposed', 'this agent lost the coordinator lease; the call is abandoned')
    }
    const providers = new Map(file.providers.map((p) => [p.name, createProvider(p, { guard })]))
    this.#coordinator = new CoordinatorRuntime({
      fleet: config.mesh.fleet,
      pools: file.pools,
      providers,
      config: {
        ...DEFAULT_RECONCILER_CONFIG,
        planIntervalMs: file.reconcile.intervalMs,
        listIntervalMs: file.reconcile.listIntervalMs,
        planner: { ...DEFAULT_RECONCILER_CONFIG.planner, orphanGraceMs: file.orphanGraceMs },
      },
      mesh: {
        self: mesh.node.self,
        acting: (now) => mesh.node.acting(now),
        term: () => mesh.node.term,
        lastPools: () => mesh.node.pools,
        nodes: (now) => observe(mesh.node.nodes(now)),
        publishPools: (r) => { mesh.publishPools(r) },
        command: async (kind, target, reason, timeoutMs) => await mesh.command(kind, target, reason, timeoutMs),
        lastLook: (node) => { mesh.lastLook(node) },
      },
      clock,
      alarm: this.#o.alarm ?? systemAlarm,
      log,
      metrics: new CoordinatorMetrics(this.#metrics.registry),
      ...(webhooks === undefined ? {} : { notify: (e: WebhookEvent) => { webhooks.notify(e) } }),
    })
    this.#coordinator.start()
    log.info({ pools: file.pools.map((p) => p.name), providers: [...providers.keys()] }, 'coordinator file loaded: this agent manages pools when elected')
  }

  #publishHealth (): void {
    this.#mesh?.setHealth({
      verdict: this.#judge.verdict(),
      incidents: this.#judge.incidents(8),
      gpus: this.#judge.gpuSummaries(),
      bootGate: this.#bootGate,
    })
  }

  #watchPolicy (): void {
    const path = this.#policy.path
    if (path === null || !this.#o.config.health.watch) return
    try {
      this.#watcher = watch(path, () => {
        if (this.#watchTimer !== undefined) clearTimeout(this.#watchTimer)
        this.#watchTimer = setTimeout(() => { this.reloadPolicy('file changed') }, POLICY_WATCH_DEBOUNCE_MS)
      })
      this.#watcher.on('error', (err) => { this.#log.warn({ path, err: err.message }, 'policy file watch failed; SIGHUP still reloads') })
    } catch (err) {
      this.#log.warn({ path, err: (err as Error).message }, 'cannot watch the policy file; SIGHUP still reloads')
    }
  }

  #onSamples (samples: readonly GpuSample[]): void {
    const now = this.#o.clock.wallMs()
    const t0 = performance.now()
    const fx = this.#judge.samples(samples, now)
    this.#metrics.observePolicyEval((performance.now() - t0) / 1000)
    if (this.#source !== undefined) this.#metrics.observeSampleCycle(this.#source.lastCycleMs / 1000)
    this.#metrics.updateGpus(this.#source?.inventory ?? [], samples, this.#o.config.node.name)
    this.#apply(fx)
  }

  #onEvent (e: GpuEvent): void {
    this.#metrics.observeEvent(e)
    if (e.kind === GpuEventKind.WAIT_ERROR) this.#log.warn({ detail: e.detail }, 'NVML event wait failed')
    else this.#log.info({ kind: GpuEventKind[e.kind], xid: e.xid, gpu: e.gpuIndex, source: e.source, detail: e.detail }, 'GPU event')
    this.#apply(this.#judge.event(e, this.#o.clock.wallMs()))
  }

  #apply (fx: JudgeEffects): void {
    for (const f of fx.faults) {
      this.#metrics.observeRuleErrors(f.rule, 1)
      const key = `${f.rule}#${f.gpu}`
      if (!this.#faultsLogged.has(key)) {
        this.#faultsLogged.add(key)
        this.#log.warn({ rule: f.rule, gpu: f.gpu, err: f.message }, 'policy rule failed to evaluate (treated as not holding; logged once)')
      }
    }
    if (fx.journal.length > 0) this.#enqueue(fx.journal)
    const verdict = fx.verdict
    const incidents: Incident[] = fx.incidents
    // Speak only after the journal has it (DESIGN.md §2: persist before you speak).
    this.#writes = this.#writes.then(() => {
      for (const i of incidents) this.#metrics.observeIncident(i)
      if (verdict !== undefined || incidents.length > 0) this.#publishHealth()
      if (verdict !== undefined) {
        this.#metrics.observeVerdict(verdict)
        const level = verdict.state >= 3 ? 'error' : verdict.state === 2 ? 'warn' : 'info'
        this.#log[level]({
          state: stateName(verdict.state),
          action: actionName(verdict.action),
          reasons: verdict.reasons.map((r) => `${r.rule}${r.gpuIndex === undefined ? '' : `[gpu ${r.gpuIndex}]`}: ${r.message}`),
        }, 'verdict changed')
      }
    })
  }

  #enqueue (entries: Parameters<Store['journal']['append']>[0]): void {
    this.#writes = this.#writes.then(async () => {
      try {
        for (let i = 0; i < entries.length; i += MAX_APPEND_ENTRIES) {
          await this.#store.journal.append(entries.slice(i, i + MAX_APPEND_ENTRIES))
        }
        this.#metrics.setJournalSeq(this.#store.journal.lastSeq)
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, 'journal write failed')
      }
    })
  }

  async #journalNote (note: string): Promise<void> {
    this.#enqueue([{ timeMs: this.#o.clock.wallMs(), entry: { case: 'note', value: note } }])
    await this.#writes
  }
}

function isLoopback (addr: string): boolean {
  try {
    const host = multiaddr(addr).getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')?.value ?? ''
    return host === '::1' || host.startsWith('127.')
  } catch {
    return false
  }
}
