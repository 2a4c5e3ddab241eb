// The mesh driver (boring glue): it feeds the MeshNode core from the libp2p host and a one-shot
// alarm, and carries out its effects in order: persist first (DESIGN.md §2), then send and
// publish; commands to apply go to the hook runner, answers back to whoever asked.
import { create } from '@bufbuild/protobuf'
import type { Logger } from 'pino'
import {
  CommandAckSchema, CommandRequestSchema, CommandStatus,
  type Command, type CommandKind, type CommandResult, type NodeMeta, type PoolsReport,
} from '../../proto/gen/shoal_pb.js'
import type { HookRunner } from '../actions/hooks.js'
import type { Alarm, WallClock } from '../lib/time.js'
import type { Rng } from '../lib/rng.js'
import type { Store } from '../store/store.js'
import { MeshNode, type MeshConfig, type MeshEffects, type OwnHealth, type PoolBounds } from './node.js'
import { MeshHost } from './p2p/host.js'
import { MeshState } from './state.js'
import type { NodeId } from './types.js'

export interface MeshDriverOptions {
  fleet: string
  fleetKey: Uint8Array
  listen: string[]
  announce: string[]
  bootstrap: string[]
  eligible: boolean
  meta: NodeMeta
  config: MeshConfig
  store: Store
  /** fsync mesh state on every write (votes are always synced). */
  sync: boolean
  hooks: HookRunner
  log: Logger
  clock: WallClock
  alarm: Alarm
  rng: Rng
  /** Loopback fleets (tests, `shoal demo`): gossipsub's IP-colocation penalty off for 127.0.0.1. */
  loopback?: boolean
  /** mesh.deny_peers_file (MeshHostOptions.denyPeersFile). */
  denyPeersFile?: string | null
  /** The pools this agent would coordinate, to check `shoal scale` where it is taken. */
  pools?: ReadonlyMap<string, PoolBounds>
  /** Called after each batch of effects is carried out (the coordinator runtime listens). */
  onEffects?: (fx: MeshEffects) => void
}

/** Never sleep longer than this between ticks, whatever the core says: a cheap guard against a lost wake. */
const MAX_SLEEP_MS = 1000
/** The latest a driver may run behind a core's wake time before it says so in the log. */
const LATE_WAKE_LOG_MS = 500

export class MeshDriver {
  readonly node: MeshNode
  readonly host: MeshHost
  readonly #o: MeshDriverOptions
  readonly #state: MeshState
  readonly #waiting = new Map<string, (r: CommandResult) => void>()
  #chain: Promise<void> = Promise.resolve()
  #alarm: unknown
  #stopped = false
  #requestSeq = 0

  private constructor (o: MeshDriverOptions, host: MeshHost, node: MeshNode, state: MeshState) {
    this.#o = o
    this.host = host
    this.node = node
    this.#state = state
  }

  static async start (o: MeshDriverOptions): Promise<MeshDriver> {
    const state = new MeshState(o.store, { sync: o.sync })
    const persisted = await state.load()
    let node: MeshNode | undefined
    const host = await MeshHost.create({
      privateKey: o.store.identity.privateKey,
      fleet: o.fleet,
      fleetKey: o.fleetKey,
      listen: o.listen,
      bootstrap: o.bootstrap,
      announce: o.announce,
      loopback: o.loopback ?? false,
      denyPeersFile: o.denyPeersFile ?? null,
      now: () => o.clock.wallMs(),
      isFresh: (m) => node?.isFresh(m) ?? true,
      // The host's lines are chatty per message, except a bootstrap peer that will not answer.
      log: (obj, msg) => { if (msg.includes('bootstrap')) o.log.warn(obj, msg); else o.log.debug(obj, msg) },
    })
    const addrs = o.announce.length > 0 ? o.announce : host.addrs()
    node = new MeshNode({
      self: host.peerId,
      fleet: o.fleet,
      meta: o.meta,
      addrs,
      eligible: o.eligible,
      // An agent told of no one else founds the fleet; everyone else joins (DESIGN.md §5).
      found: o.bootstrap.length === 0,
      config: o.config,
      persisted,
      rng: o.rng,
      now: o.clock.wallMs(),
      ...(o.pools === undefined ? {} : { pools: o.pools }),
    })
    const driver = new MeshDriver(o, host, node, state)
    host.on('message', (from, message, channel) => {
      if (message.body.case === undefined) return
      driver.#run(node.receive(from, message.body, channel, o.clock.wallMs()))
    })
    host.on('peer:connect', (peer) => { driver.#run(node.connected(peer, o.clock.wallMs())) })
    host.on('rejected', (from, channel, reason) => { o.log.warn({ from, channel, reason }, 'mesh message rejected') })
    driver.#run(node.start(o.clock.wallMs()))
    o.log.info({ peerId: host.peerId, addrs, fleet: o.fleet, bootstrap: o.bootstrap.length, persisted: persisted !== null }, 'mesh started')
    return driver
  }

  setHealth (h: OwnHealth): void {
    if (this.#stopped) return
    this.#run(this.node.setHealth(h, this.#o.clock.wallMs()))
  }

  /** An operator's cordon/uncordon/drain, through the coordinator. Resolves with its result, never rejects. */
  async command (kind: CommandKind, target: NodeId, reason: string, timeoutMs: number, value = 0): Promise<CommandResult> {
    const requestId = `${this.host.peerId.slice(-6)}-${this.#o.clock.wallMs().toString(36)}-${(++this.#requestSeq).toString(36)}`
    const answer = new Promise<CommandResult>((resolve) => { this.#waiting.set(requestId, resolve) })
    this.#run(this.node.request(requestId, create(CommandRequestSchema, { kind, target, reason, requestId, value }), this.#o.clock.wallMs(), timeoutMs))
    return await answer
  }

  /** The coordinator's last look at a node it holds dead (MeshNode.lastLook). */
  lastLook (node: NodeId): void {
    if (this.#stopped) return
    this.#run(this.node.lastLook(node, this.#o.clock.wallMs()))
  }

  /** The acting coordinator's pools report: gossip it and keep it. */
  publishPools (report: PoolsReport): void {
    if (this.#stopped) return
    this.#run(this.node.publishPools(report))
  }

  /** Graceful: say goodbye (LEFT) so peers do not take us for dead, then stop the host. */
  async stop (): Promise<void> {
    if (this.#stopped) return
    this.#run(this.node.leave(this.#o.clock.wallMs()))
    this.#stopped = true
    this.#o.hooks.close()
    if (this.#alarm !== undefined) this.#o.alarm.clearTimeout(this.#alarm)
    await this.#chain
    await this.host.stop()
  }

  /** Effects are carried out strictly in the order the core produced them. */
  #run (fx: MeshEffects): void {
    if (this.#stopped) return
    this.#chain = this.#chain.then(async () => { await this.#carryOut(fx) }).catch((err: unknown) => {
      this.#o.log.error({ err: (err as Error).message }, 'mesh effect failed')
    })
    this.#schedule()
  }

  async #carryOut (fx: MeshEffects): Promise<void> {
    await this.#state.save(fx.persist) // returns at once when there is nothing to persist
    // Addresses of members we send about were added when we learned them (the events below).
    for (const s of fx.send) this.host.send(s.to, s.body).catch(() => { /* SWIM treats a failed send as loss */ })
    for (const pub of fx.publish) {
      this.host.publish(pub.topic, pub.body).catch((err: unknown) => { this.#o.log.debug({ topic: pub.topic, err: (err as Error).message }, 'publish failed') })
    }
    for (const e of fx.events) {
      this.#o.log.info({ node: e.node, name: e.name, kind: e.kind, term: e.term === 0 ? undefined : e.term }, `fleet: ${e.detail}`)
      if (e.kind === 'joined' || e.kind === 'alive') {
        const rec = this.node.member(e.node)
        if (rec !== undefined && rec.addrs.length > 0) void this.host.addAddresses(e.node, [...rec.addrs]).catch(() => {})
      }
    }
    for (const c of fx.apply) void this.#apply(c)
    for (const r of fx.results) {
      const resolve = this.#waiting.get(r.requestId)
      this.#waiting.delete(r.requestId)
      resolve?.(r.result)
    }
    this.#o.onEffects?.(fx)
  }

  async #apply (c: Command): Promise<void> {
    this.#o.log.info({ id: c.id, kind: c.kind, term: c.term, coordinator: c.coordinator, reason: c.reason }, 'applying command')
    let status: CommandStatus
    let detail: string
    try {
      const r = await this.#o.hooks.run(c)
      status = r.status
      detail = r.detail
    } catch (err) {
      status = CommandStatus.FAILED
      detail = `hook runner failed: ${(err as Error).message}`
    }
    if (this.#stopped) return
    const ack = create(CommandAckSchema, { id: c.id, term: c.term, node: this.node.self, status, detail, timeMs: this.#o.clock.wallMs(), kind: c.kind })
    this.#run(this.node.commandDone(ack, this.#o.clock.wallMs()))
  }

  #schedule (): void {
    if (this.#stopped) return
    if (this.#alarm !== undefined) this.#o.alarm.clearTimeout(this.#alarm)
    const now = this.#o.clock.wallMs()
    const at = this.node.nextWakeAt()
    const wait = Math.max(0, Math.min(MAX_SLEEP_MS, at - now))
    this.#alarm = this.#o.alarm.setTimeout(() => {
      this.#alarm = undefined
      const t = this.#o.clock.wallMs()
      if (t - at > LATE_WAKE_LOG_MS) this.#o.log.warn({ lateMs: t - at }, 'mesh tick ran late: the event loop is overloaded')
      this.#run(this.node.tick(t))
    }, wait)
  }
}
