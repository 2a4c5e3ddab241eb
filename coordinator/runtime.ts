// The coordinator's driver (boring glue): while this agent holds the lease it ticks the Reconciler,
// makes the provider calls it asks for, sends cordon and drain through the mesh, gossips the pools
// report, and tells webhooks and metrics. Every decision is the Reconciler's.
import type { Logger } from 'pino'
import { CommandKind, CommandStatus, type CommandResult, type FleetEvent, type PoolsReport } from '../proto/gen/shoal_pb.js'
import type { Alarm, WallClock } from '../agent/lib/time.js'
import type { PoolWrite } from '../agent/mesh/node.js'
import type { ObservedNode } from './observed.js'
import { commandKindOf } from './planner.js'
import { Reconciler, type Call, type CallOutcome, type ReconcilerConfig, type NodeCommand } from './reconciler.js'
import type { CoordinatorMetrics } from './metrics.js'
import type { PoolSpec } from './pool.js'
import { readQueueDepth } from './queue-source.js'
import { ProviderError, type Provider } from './providers/provider.js'
import { WEBHOOK_EVENT_KINDS, type WebhookEvent, type WebhookEventKind } from './webhook.js'

/** What the runtime needs of the mesh: small on purpose (the agent's MeshDriver, or a test's fake). */
export interface CoordinatorMesh {
  readonly self: string
  acting: (now: number) => boolean
  term: () => number
  /** The last pools report heard: a successor's starting point. */
  lastPools: () => PoolsReport | undefined
  nodes: (now: number) => ObservedNode[]
  publishPools: (report: PoolsReport) => void
  command: (kind: CommandKind, target: string, reason: string, timeoutMs: number) => Promise<CommandResult>
  /** Probe a node held dead once more; an unanswered look shows in nodes() as lookFailedMs. */
  lastLook: (node: string) => void
}

export interface CoordinatorRuntimeOptions {
  fleet: string
  pools: readonly PoolSpec[]
  providers: ReadonlyMap<string, Provider>
  config: ReconcilerConfig
  mesh: CoordinatorMesh
  clock: WallClock
  alarm: Alarm
  log: Logger
  /** Optional: webhooks (coordinator/webhook.ts) and Prometheus series (coordinator/metrics.ts). */
  notify?: (e: WebhookEvent) => void
  metrics?: CoordinatorMetrics
  /** For pools' queue sources (default: the global fetch). */
  fetch?: typeof fetch
}

/** How long a cordon or drain may take to be acknowledged before the runtime stops waiting on it. */
const COMMAND_TIMEOUT_MS = 30_000
/** Poll for a lease change at least this often (the mesh tells us nothing directly). */
const MAX_SLEEP_MS = 500

export class CoordinatorRuntime {
  readonly reconciler: Reconciler
  readonly #o: CoordinatorRuntimeOptions
  #alarm: unknown
  #stopped = false
  #term = 0
  readonly #queueDue = new Map<string, number>()
  readonly #queuePolling = new Set<string>()
  readonly #wantsOfferings: boolean

  constructor (o: CoordinatorRuntimeOptions) {
    this.#o = o
    for (const p of o.pools) {
      for (const offer of p.offers) {
        if (!o.providers.has(offer.provider)) throw new Error(`pool ${p.name} uses provider ${offer.provider}, which is not configured`)
      }
    }
    this.#wantsOfferings = o.pools.some((p) => p.strategy === 'availability')
    this.reconciler = new Reconciler({ fleet: o.fleet, self: o.mesh.self, pools: o.pools, providers: [...o.providers.keys()], config: o.config })
  }

  start (): void {
    this.#wake(0)
  }

  stop (): void {
    this.#stopped = true
    if (this.#alarm !== undefined) this.#o.alarm.clearTimeout(this.#alarm)
    this.reconciler.deactivate(this.#o.clock.wallMs())
  }

  /** Something changed in the mesh (health, membership): plan now. */
  poke (): void {
    if (!this.reconciler.active || this.#stopped) return
    this.reconciler.poke(this.#o.clock.wallMs())
    this.#wake(0)
  }

  /** `shoal scale` / `shoal queue set`, taken by this agent's mesh node as the acting coordinator. */
  poolWrites (writes: readonly PoolWrite[]): void {
    const now = this.#o.clock.wallMs()
    for (const w of writes) {
      if (w.kind === 'scale') this.reconciler.setScale(w.pool, w.value, now)
      else this.reconciler.setQueue(w.pool, w.value ?? 0, now)
    }
    if (writes.length > 0) this.#wake(0)
  }

  #wake (ms: number): void {
    if (this.#stopped) return
    if (this.#alarm !== undefined) this.#o.alarm.clearTimeout(this.#alarm)
    this.#alarm = this.#o.alarm.setTimeout(() => { this.#alarm = undefined; this.#tick() }, ms)
  }

  #tick (): void {
    if (this.#stopped) return
    try {
      this.#tickOnce()
    } catch (err) {
      // A broken invariant in a core: stop coordinating rather than crash the agent (every
      // council member would crash the same way on the same inputs). The mesh keeps running.
      this.#o.log.error({ err: (err as Error).stack ?? String(err) }, 'coordinator stopped: a core failed; this agent no longer manages pools')
      this.stop()
    }
  }

  #tickOnce (): void {
    const now = this.#o.clock.wallMs()
    const acting = this.#o.mesh.acting(now)
    const term = this.#o.mesh.term()
    if (acting && (!this.reconciler.active || term !== this.#term)) {
      this.#term = term
      this.reconciler.activate(term, this.#o.mesh.lastPools(), now)
      this.#o.log.info({ term, pools: this.#o.pools.length }, 'coordinating: listing providers')
    } else if (!acting && this.reconciler.active) {
      this.reconciler.deactivate(now)
    }
    if (this.reconciler.active) {
      this.#pollQueues(now)
      const fx = this.reconciler.tick(now, this.#o.mesh.nodes(now))
      for (const c of fx.calls) {
        if (c.kind === 'provision' && c.faultAgeMs !== undefined) this.#o.metrics?.replacementRequest(c.faultAgeMs)
        void this.#call(c)
      }
      for (const c of fx.commands) void this.#command(c)
      for (const node of fx.looks) this.#o.mesh.lastLook(node)
      if (fx.report !== undefined) {
        this.#o.mesh.publishPools(fx.report)
        this.#o.metrics?.report(fx.report)
      }
    }
    this.#o.metrics?.acting(this.reconciler.active)
    this.#flushEvents()
    const next = this.reconciler.nextWakeAt()
    this.#wake(Math.max(0, Math.min(MAX_SLEEP_MS, next - this.#o.clock.wallMs())))
  }

  /** Queue sources are read by the acting coordinator only, each at its interval, one poll at a time. */
  #pollQueues (now: number): void {
    for (const p of this.#o.pools) {
      const src = p.queueSource
      if (src === undefined || src === null || this.#queuePolling.has(p.name) || now < (this.#queueDue.get(p.name) ?? 0)) continue
      this.#queuePolling.add(p.name)
      this.#queueDue.set(p.name, now + src.intervalMs)
      void readQueueDepth(src, this.#o.fetch ?? fetch).then((r) => {
        this.#queuePolling.delete(p.name)
        if (this.#stopped || !this.reconciler.active) return
        if (r.ok) this.reconciler.setQueue(p.name, r.depth, this.#o.clock.wallMs())
        else this.#o.log.warn({ pool: p.name, url: new URL(src.url).origin, error: r.error }, 'queue source unreadable; the last queue depth stands')
        this.#wake(0)
      })
    }
  }

  async #call (call: Call): Promise<void> {
    const provider = this.#o.providers.get(call.provider)!
    const started = this.#o.clock.wallMs()
    let outcome: CallOutcome
    try {
      switch (call.kind) {
        case 'list': {
          const instances = await provider.list(this.#o.fleet)
          // Offerings only matter to the availability strategy; a provider that cannot say is simply not consulted.
          const offerings = this.#wantsOfferings && provider.offerings !== undefined ? await provider.offerings().catch(() => undefined) : undefined
          outcome = { ok: true, instances, ...(offerings === undefined ? {} : { offerings }) }
          break
        }
        case 'provision': outcome = { ok: true, instance: await provider.provision(call.request) }; break
        case 'terminate': await provider.terminate(call.ref); outcome = { ok: true }; break
      }
    } catch (err) {
      outcome = err instanceof ProviderError
        ? { ok: false, errorClass: err.errorClass, code: err.code, message: err.message }
        : { ok: false, errorClass: 'transient', code: 'unexpected', message: (err as Error).message }
    }
    const now = this.#o.clock.wallMs()
    this.#o.metrics?.call(call, outcome, now - started)
    if (this.#stopped) return
    const log = outcome.ok ? this.#o.log.info.bind(this.#o.log) : this.#o.log.warn.bind(this.#o.log)
    if (call.kind !== 'list' || !outcome.ok) log({ provider: call.provider, call: call.kind, ms: now - started, ...(outcome.ok ? {} : { errorClass: outcome.errorClass, code: outcome.code }) }, `provider ${call.kind} ${outcome.ok ? 'done' : `failed: ${outcome.message}`}`)
    this.reconciler.done(call, outcome, now)
    this.#wake(0)
  }

  async #command (c: NodeCommand): Promise<void> {
    const kind = commandKindOf(c.kind)
    const r = await this.#o.mesh.command(kind, c.node, c.reason, COMMAND_TIMEOUT_MS)
    const ok = r.errorCode === '' && r.ack?.status === CommandStatus.APPLIED
    if (!ok) this.#o.log.warn({ node: c.node, kind: c.kind, error: r.errorCode, message: r.message || r.ack?.detail }, 'coordinator command not applied; it will be asked again')
    this.poke()
  }

  #flushEvents (): void {
    for (const { event: e, pool, hook } of this.reconciler.drainEvents()) {
      this.#o.log.info({ node: e.node || undefined, kind: e.kind, term: e.term }, `coordinator: ${e.detail}`)
      if (hook !== undefined) this.#notify(hook, e, pool)
    }
  }

  /** Node state changes the mesh saw (joined, suspect, dead, left, health): the acting coordinator tells the webhooks, once for the fleet. */
  fleetEvents (events: readonly FleetEvent[]): void {
    if (!this.reconciler.active) return
    for (const e of events) {
      const hook = MEMBER_HOOKS.has(e.kind) ? e.kind : e.kind === 'health' ? healthHook(e.detail) : undefined
      if (hook !== undefined) this.#notify(hook, e, '')
    }
  }

  #notify (kind: string, e: FleetEvent, pool: string): void {
    if (!(WEBHOOK_EVENT_KINDS as readonly string[]).includes(kind)) return
    this.#o.notify?.({ kind: kind as WebhookEventKind, node: e.node, name: e.name, pool, detail: e.detail, term: e.term, timeMs: e.timeMs })
  }
}

const MEMBER_HOOKS = new Set(['joined', 'suspect', 'dead', 'left'])

function healthHook (detail: string): string | undefined {
  if (/^unhealthy/.test(detail)) return 'unhealthy'
  if (/^healthy/.test(detail)) return 'healthy'
  return undefined
}
