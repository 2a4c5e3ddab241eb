// SimFleet: N agents, each the real MeshNode core, on the simulated drivers (virtual clock, the
// modelled network and gossip, an in-memory store per agent). It boots them, ticks each at its
// nextWakeAt, delivers what the network carries, carries out every effect in the core's order
// (persist, send, publish, events, apply, results), injects faults, and records a trace. After every
// event it checks the key safety invariant: never two agents acting as coordinator at one instant.
import { create } from '@bufbuild/protobuf'
import { CommandAckSchema, CommandRequestSchema, CommandStatus, MemberState, MemberUpdateSchema, NodeMetaSchema, PushPullSchema, type CommandAck, type CommandKind, type CommandResult, type NodeMeta } from '../../../proto/gen/shoal_pb.js'
import { assert } from '../../../agent/lib/assert.js'
import type { Rng } from '../../../agent/lib/rng.js'
import type { ElectionState } from '../../../agent/mesh/election/election.js'
import { DEFAULT_MESH_CONFIG, MeshNode, type MeshConfig, type MeshEffects, type OwnHealth, type PersistedMesh, type PoolBounds } from '../../../agent/mesh/node.js'
import type { Body, NodeId, Topic } from '../../../agent/mesh/types.js'
import { Scheduler } from './clock.js'
import { deepFreeze, Wire, type WireMode } from './envelope.js'
import { DEFAULT_GOSSIP_CONFIG, Gossip, type GossipConfig } from './gossip.js'
import { DOWN, Hosts, PAUSED, UP } from './hosts.js'
import { Meter } from './metrics.js'
import { DEFAULT_LINK_CONFIG, Network, type LinkConfig } from './network.js'
import { stream } from './random.js'
import { Trace } from './trace.js'

export interface SimFleetOptions {
  agents: number
  seed: number | string
  /** Fleet name on every envelope. Default 'sim'. */
  fleet?: string
  mesh?: MeshConfig
  link?: Partial<LinkConfig>
  gossip?: Partial<GossipConfig>
  /** Agents 0..seeds-1 are bootstrap seeds; every other agent connects to all of them. Default 1 (agent 0). */
  seeds?: number
  /** Agents 0..eligible-1 are coordinator-eligible. Default: all. */
  eligible?: number
  /** Agent 0 founds at 0; the others boot at uniform times in [0, startSpreadMs). Default 2,000. */
  startSpreadMs?: number
  /**
   * Bootstrap links (agent/mesh/p2p/bootstrap.ts): a link to a seed closes when either end dies, or
   * after `connectionTimeoutMs` of partition (libp2p's connection monitor pings every 10 s); the
   * agent redials it after redialMinMs, doubling to redialMaxMs; each link that comes up is a
   * `connected` on both sides (a push-pull). Defaults 500 ms, 30 s, 10 s, as the agent's.
   */
  bootstrap?: { redialMinMs: number, redialMaxMs: number, connectionTimeoutMs: number }
  /**
   * Connections for direct messages. 'seeds' (default): every pair counts as connected and only
   * bootstrap links call `connected`. 'contact': as the agent's driver on libp2p: a direct send to a
   * peer without a connection dials it first (dialMs), and the new connection is a `connected` on
   * both sides (each a push-pull); each agent keeps at most maxConnections (libp2p's default 300),
   * dropping the least recently used, so a fleet larger than that keeps redialling.
   */
  connections?: 'seeds' | 'contact'
  maxConnections?: number
  /** From boot to its first connections (gossip mesh, `connected` with each seed): TCP + Noise + identify. Default 5 ms. */
  dialMs?: number
  /** A command's hook (cordon, drain) runs this long before commandDone. Default 50 ms. */
  hookDelayMs?: number
  /** Keep every FleetEvent in the trace (memory: ~100 bytes each). Default true. */
  keepEvents?: boolean
  /** Event kinds not kept (still in the digest). Default ['joined']: a 1,000-agent boot makes a million. */
  skipKinds?: string[]
  /**
   * 'copy': every message encoded, gated by validateMessage and decoded per receiver (fidelity);
   * 'share': sizes computed, bodies shared, every checkEvery-th message encoded and gated (speed).
   * Default: 'copy' up to 100 agents, 'share' above.
   */
  wire?: WireMode
  /** In 'share' mode, encode and gate one message in this many. Default 50. */
  checkEvery?: number
  /**
   * What happens to gossip an agent publishes before its first connection is up (dialMs after
   * boot): 'drop' (default) as libp2p does (allowPublishToZeroTopicPeers: nobody receives it), or
   * 'hold': publish it once connected, as a driver that queued it would.
   */
  earlyPublish?: 'drop' | 'hold'
  /** Each agent's NodeMeta at boot (default simMeta); setMeta changes it for the next boot. */
  meta?: (i: number, eligible: boolean) => NodeMeta
  /** Pool bounds each MeshNode checks `shoal scale` against. */
  pools?: ReadonlyMap<string, PoolBounds>
  /** Agents start() and startKnown() boot: 0..bootOnStart-1 (default all); the rest are spare hosts for boot(). */
  bootOnStart?: number
  /** Called after an agent's effects are carried out (the simulated coordinator runtime listens). */
  onEffects?: (i: number, fx: MeshEffects) => void
}

/** A predicate over agents, evaluated after each input an agent processes; records when it first held. */
export class Watch {
  readonly name: string
  /** Virtual time each agent first satisfied it; NaN: not yet. */
  readonly at: Float64Array
  readonly since: number
  readonly pred: (node: MeshNode, i: number) => boolean
  active = true

  constructor (name: string, n: number, since: number, pred: (node: MeshNode, i: number) => boolean) {
    this.name = name
    this.at = new Float64Array(n).fill(NaN)
    this.since = since
    this.pred = pred
  }

  /** Whether every agent in `agents` has satisfied it. */
  doneFor (agents: readonly number[]): boolean {
    for (const i of agents) if (Number.isNaN(this.at[i]!)) return false
    return true
  }

  countFor (agents: readonly number[]): number {
    let c = 0
    for (const i of agents) if (!Number.isNaN(this.at[i]!)) c++
    return c
  }

  /** Delays (at − since) for `agents` that satisfied it. */
  delays (agents: readonly number[]): number[] {
    const out: number[] = []
    for (const i of agents) if (!Number.isNaN(this.at[i]!)) out.push(this.at[i]! - this.since)
    return out
  }
}

interface Store { incarnation: number, election: ElectionState | null, acks: Map<string, CommandAck> }

export interface ResultRecord { readonly t: number, readonly at: number, readonly requestId: string, readonly result: CommandResult }

/** A core that loops on its own wake time (nextWakeAt ≤ now after tick) this often at one instant is broken. */
const MAX_TICKS_AT_ONE_INSTANT = 1000
/** Acks kept per agent store, as agent/mesh/state.ts keeps. */
const MAX_STORED_ACKS = 1024

export class SimFleet {
  readonly n: number
  readonly seed: string
  readonly fleet: string
  readonly ids: readonly NodeId[]
  readonly sched = new Scheduler()
  readonly hosts: Hosts
  readonly meter: Meter
  readonly network: Network
  readonly gossip: Gossip
  readonly trace: Trace
  readonly link: LinkConfig
  readonly results: ResultRecord[] = []
  readonly config: MeshConfig
  /** Inputs handed to cores (ticks, deliveries, starts, ...). */
  inputs = 0
  /** Messages the agent's gate refused (or sized wrong), by "<body> on <channel>". */
  readonly wireRejects = new Map<string, number>()
  /** Sends to ids outside the fleet. */
  unknownTargets = 0
  /** Gossip published before the agent had any connection, dropped (earlyPublish 'drop'). */
  earlyDropped = 0

  readonly #o: Required<Omit<SimFleetOptions, 'mesh' | 'link' | 'gossip' | 'wire' | 'checkEvery' | 'skipKinds' | 'bootstrap' | 'connections' | 'maxConnections' | 'meta' | 'pools' | 'onEffects' | 'bootOnStart'>>
  /** 'contact' mode: each agent's open connections, least recently used first. */
  readonly #conns: Array<Map<number, true>> | undefined
  readonly #maxConnections: number
  /** 'contact' mode: connections opened (dials that succeeded). */
  dials = 0
  readonly #bootstrap: { redialMinMs: number, redialMaxMs: number, connectionTimeoutMs: number }
  readonly #meta: NodeMeta[]
  readonly #pools: ReadonlyMap<string, PoolBounds> | undefined
  readonly #onEffects: ((i: number, fx: MeshEffects) => void) | undefined
  readonly #bootOnStart: number
  /** Per (agent, seed): the bootstrap link is up. Index i * seeds + s. */
  readonly #seedLink: Uint8Array
  readonly wire: Wire
  readonly #index = new Map<NodeId, number>()
  readonly #nodes: Array<MeshNode | undefined>
  readonly #stores: Array<Store | undefined>
  readonly #life: Uint32Array
  readonly #wake: Float64Array
  readonly #tickTime: Float64Array
  /**
   * Each agent's last local time handed to its core. Local time is global + offset in floating
   * point, and (w - offset) + offset can land a hair below w: a wake found due in global time would
   * then tick a core that is not yet due, for ever. Inputs get max(local now, this), which a wake
   * raises to the wake time itself, so a host's clock never runs backwards either.
   */
  readonly #localFloor: Float64Array
  readonly #tickCount: Uint32Array
  readonly #acting: Uint8Array
  readonly #viewTerm: Float64Array
  readonly #viewCoord: Int32Array
  readonly #viewRole: string[]
  /** Agents that may be acting: role coordinator or acting at their last input. Small. */
  readonly #watchActing = new Set<number>()
  readonly #watches: Watch[] = []
  /** Per agent: not yet connected (publishes go nowhere or wait, see earlyPublish), and what waits. */
  readonly #unconnected: Uint8Array
  readonly #early: Array<Array<() => void> | undefined>
  readonly #fleetRng: Rng
  #twoActing = false

  constructor (o: SimFleetOptions) {
    assert(Number.isInteger(o.agents) && o.agents >= 1, `agents must be a positive integer, got ${o.agents}`)
    this.n = o.agents
    this.seed = String(o.seed)
    this.#o = {
      agents: o.agents,
      seed: this.seed,
      fleet: o.fleet ?? 'sim',
      seeds: Math.min(o.seeds ?? 1, o.agents),
      eligible: o.eligible ?? o.agents,
      startSpreadMs: o.startSpreadMs ?? 2000,
      dialMs: o.dialMs ?? 5,
      hookDelayMs: o.hookDelayMs ?? 50,
      keepEvents: o.keepEvents ?? true,
      earlyPublish: o.earlyPublish ?? 'drop',
    }
    this.fleet = this.#o.fleet
    this.config = o.mesh ?? DEFAULT_MESH_CONFIG
    this.ids = Array.from({ length: this.n }, (_, i) => simPeerId(i))
    this.ids.forEach((id, i) => this.#index.set(id, i))
    this.hosts = new Hosts(this.n)
    this.meter = new Meter(this.n)
    this.link = { ...DEFAULT_LINK_CONFIG, ...o.link }
    this.network = new Network({ sched: this.sched, hosts: this.hosts, meter: this.meter, seed: this.seed, config: this.link })
    this.gossip = new Gossip({ sched: this.sched, hosts: this.hosts, meter: this.meter, seed: this.seed, link: this.link, config: { ...DEFAULT_GOSSIP_CONFIG, ...o.gossip } })
    this.trace = new Trace(this.#o.keepEvents, o.skipKinds ?? ['joined'])
    this.wire = new Wire({
      fleet: this.fleet,
      mode: o.wire ?? (o.agents <= 100 ? 'copy' : 'share'),
      checkEvery: o.checkEvery ?? 50,
      problem: (p) => {
        const key = `${p.bodyCase} on ${p.channel}`
        this.wireRejects.set(key, (this.wireRejects.get(key) ?? 0) + 1)
        this.trace.violation({ t: this.sched.now, seed: this.seed, kind: 'wire-reject', detail: `${key}: ${p.detail}` })
      },
    })
    assert(new Set(this.ids).size === this.n, 'simulated peer ids collide')
    this.#meta = Array.from({ length: this.n }, (_, i) => (o.meta ?? simMeta)(i, i < this.#o.eligible))
    this.#pools = o.pools
    this.#onEffects = o.onEffects
    this.#bootOnStart = Math.min(o.bootOnStart ?? this.n, this.n)
    this.#nodes = new Array<MeshNode | undefined>(this.n)
    this.#stores = new Array<Store | undefined>(this.n)
    this.#life = new Uint32Array(this.n)
    this.#wake = new Float64Array(this.n).fill(Infinity)
    this.#tickTime = new Float64Array(this.n).fill(NaN)
    this.#localFloor = new Float64Array(this.n).fill(-Infinity)
    this.#tickCount = new Uint32Array(this.n)
    this.#acting = new Uint8Array(this.n)
    this.#viewTerm = new Float64Array(this.n).fill(-1)
    this.#viewCoord = new Int32Array(this.n).fill(-1)
    this.#viewRole = new Array<string>(this.n).fill('')
    this.#fleetRng = stream(this.seed, 'fleet')
    this.#unconnected = new Uint8Array(this.n)
    this.#bootstrap = o.bootstrap ?? { redialMinMs: 500, redialMaxMs: 30_000, connectionTimeoutMs: 10_000 }
    this.#seedLink = new Uint8Array(this.n * this.#o.seeds)
    this.#conns = o.connections === 'contact' ? Array.from({ length: this.n }, () => new Map<number, true>()) : undefined
    this.#maxConnections = o.maxConnections ?? 300
    this.#early = new Array<Array<() => void> | undefined>(this.n)
    this.sched.afterEach = () => { if (this.#watchActing.size > 0) this.#checkActing() }
  }

  get now (): number { return this.sched.now }

  /** The meta agent i boots with next (a spare host about to run a new instance's agent). */
  setMeta (i: number, meta: NodeMeta): void {
    this.#checkIndex(i)
    this.#meta[i] = meta
  }

  meta (i: number): NodeMeta { return this.#meta[i]! }

  /** Boot one agent now (one not started by start(), or after a kill). */
  boot (i: number): void {
    this.#checkIndex(i)
    if (this.hosts.isAlive(i)) return
    this.#boot(i)
  }

  /** Hand agent i an input of the caller's (the simulated coordinator runtime's), with its effects carried out. */
  drive (i: number, fn: (node: MeshNode, now: number) => MeshEffects): void {
    this.#checkIndex(i)
    this.#input(i, fn)
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  /** Schedules every agent's boot (agent 0 at now, the others spread) and the gossip heartbeat. */
  start (): void {
    const t0 = this.sched.now
    this.gossip.start()
    for (let i = 0; i < this.#bootOnStart; i++) {
      const at = i === 0 ? t0 : t0 + this.#fleetRng.next() * this.#o.startSpreadMs
      this.sched.at(at, () => { this.#boot(i) })
    }
  }

  /**
   * A quick boot for scenarios that are not about joining: every agent boots now, and once
   * connected learns the whole membership from one push-pull (as the seed would send it: every
   * member alive at incarnation 1) instead of the join storm. The election then runs as usual.
   * Its cost is the cores' own: each agent takes N member updates.
   */
  startKnown (): void {
    this.gossip.start()
    const members = deepFreeze(this.ids.slice(0, this.#bootOnStart).map((id, i) => create(MemberUpdateSchema, {
      node: id, state: MemberState.ALIVE, incarnation: 1, reporter: id, addrs: [simAddr(i)], meta: this.#meta[i]!,
    })))
    const body: Body = { case: 'pushPull', value: deepFreeze(create(PushPullSchema, { members, reply: true })) }
    for (let i = 0; i < this.#bootOnStart; i++) this.#boot(i, body)
  }

  /** kill -9 / host loss: the process and everything in flight to it is gone; its store stays. */
  kill (i: number): void {
    this.#checkIndex(i)
    if (!this.hosts.isAlive(i)) return
    this.hosts.setDown(i)
    this.gossip.leave(i)
    this.#life[i]!++
    this.#dropSeedLinks(i)
    this.#closeConnections(i, () => false)
    this.#wake[i] = Infinity
    if (this.#acting[i] === 1) this.#setActing(i, false, 0)
    this.#watchActing.delete(i)
  }

  /** A new process on the same host: a new MeshNode with the persisted store. */
  restart (i: number): void {
    this.#checkIndex(i)
    this.kill(i)
    this.#boot(i)
  }

  /** SIGSTOP: nothing runs, messages wait in its buffers. */
  pause (i: number): void {
    this.#checkIndex(i)
    this.hosts.pause(i)
  }

  /** SIGCONT: the buffered messages are read in order, then its late timers fire. */
  resume (i: number): void {
    this.#checkIndex(i)
    const held = this.hosts.resume(i)
    for (const fn of held) this.sched.after(0, fn)
    this.#wake[i] = Infinity
    const life = this.#life[i]!
    this.sched.after(0, () => { if (this.#life[i] === life) this.#reschedule(i) })
  }

  /** Each listed set becomes its own side (the rest share one); bootstrap links across close after the monitor's timeout. */
  partition (sides: ReadonlyArray<readonly number[]>): void {
    this.hosts.partition(sides)
    this.sched.after(this.#bootstrap.connectionTimeoutMs, () => {
      for (let i = 0; i < this.n; i++) {
        for (let s = 0; s < this.#o.seeds; s++) {
          if (this.#seedLink[i * this.#o.seeds + s] === 1 && !this.hosts.sameSide(i, s)) this.#dropSeedLink(i, s)
        }
        this.#closeConnections(i, (j) => this.hosts.sameSide(i, j))
      }
    })
  }

  heal (): void { this.hosts.heal() }

  setLoss (rate: number): void {
    assert(rate >= 0 && rate < 1, `loss rate ${rate} outside [0, 1)`)
    this.link.lossRate = rate
  }

  /** Moves agent i's clock by `offsetMs` relative to true virtual time. */
  skew (i: number, offsetMs: number): void {
    this.#checkIndex(i)
    this.hosts.clockOffsetMs[i] = offsetMs
    this.#wake[i] = Infinity
    if (this.hosts.isUp(i)) this.#reschedule(i)
  }

  // ---- inputs a scenario gives ---------------------------------------------------------------------

  setHealth (i: number, h: OwnHealth): void {
    this.#input(i, (node, now) => node.setHealth(h, now))
  }

  /** An operator's write on agent i's admin socket. The answer lands in `results`. */
  request (i: number, requestId: string, cmd: { kind: CommandKind, target: number | NodeId, reason?: string }, timeoutMs = 10_000): void {
    const target = typeof cmd.target === 'number' ? this.ids[cmd.target]! : cmd.target
    const req = create(CommandRequestSchema, { kind: cmd.kind, target, reason: cmd.reason ?? '', requestId })
    this.#input(i, (node, now) => node.request(requestId, req, now, timeoutMs))
  }

  // ---- running -------------------------------------------------------------------------------------

  runUntil (t: number): void { this.sched.runUntil(t) }
  runFor (ms: number): void { this.sched.runFor(ms) }
  /** Runs until `done()` (checked after every event) or for at most `maxMs`; returns whether it held. */
  runUntilTrue (done: () => boolean, maxMs: number): boolean { return this.sched.runUntilTrue(done, this.sched.now + maxMs) }

  // ---- reads ---------------------------------------------------------------------------------------

  node (i: number): MeshNode {
    const n = this.#nodes[i]
    assert(n !== undefined, `agent ${i} has not booted`)
    return n
  }

  indexOf (id: NodeId): number { return this.#index.get(id) ?? -1 }
  localNow (i: number): number { return this.sched.now + this.hosts.clockOffsetMs[i]! }
  isLive (i: number): boolean { return this.hosts.isAlive(i) && this.#nodes[i] !== undefined }

  /** Agents whose process exists (up or paused). */
  live (): number[] {
    const out: number[] = []
    for (let i = 0; i < this.n; i++) if (this.isLive(i)) out.push(i)
    return out
  }

  /** Agents acting as coordinator right now (up or paused). */
  actingNow (): number[] {
    const out: number[] = []
    for (let i = 0; i < this.n; i++) if (this.isLive(i) && this.#nodes[i]!.acting(this.localNow(i))) out.push(i)
    return out
  }

  /** The acting coordinator if exactly one agent acts, else -1. */
  coordinator (): number {
    const a = this.actingNow()
    return a.length === 1 ? a[0]! : -1
  }

  /** Starts recording when each agent first satisfies `pred`; evaluated now for every live agent. */
  watch (name: string, pred: (node: MeshNode, i: number) => boolean): Watch {
    const w = new Watch(name, this.n, this.sched.now, pred)
    for (let i = 0; i < this.n; i++) {
      const node = this.#nodes[i]
      if (node !== undefined && this.hosts.isAlive(i) && pred(node, i)) w.at[i] = this.sched.now
    }
    this.#watches.push(w)
    return w
  }

  unwatch (w: Watch): void {
    w.active = false
    const k = this.#watches.indexOf(w)
    if (k >= 0) this.#watches.splice(k, 1)
  }

  /** Persisted state of agent i, as its disk holds it. */
  stored (i: number): Readonly<Store> | undefined { return this.#stores[i] }

  // ---- the driver ------------------------------------------------------------------------------------

  #checkIndex (i: number): void {
    assert(Number.isInteger(i) && i >= 0 && i < this.n, `agent ${i} is not in 0..${this.n - 1}`)
  }

  #boot (i: number, known?: Body): void {
    const store = this.#stores[i]
    const persisted: PersistedMesh | null = store === undefined
      ? null
      : { incarnation: store.incarnation, election: structuredClone(store.election), acks: [...store.acks.values()] }
    const life = ++this.#life[i]!
    const now = this.localNow(i)
    const node = new MeshNode({
      self: this.ids[i]!,
      fleet: this.fleet,
      meta: this.#meta[i]!,
      addrs: [simAddr(i)],
      eligible: i < this.#o.eligible,
      found: i === 0,
      config: this.config,
      persisted,
      rng: stream(this.seed, `node:${i}:${life}`),
      now,
      ...(this.#pools === undefined ? {} : { pools: this.#pools }),
    })
    this.#nodes[i] = node
    this.hosts.setUp(i)
    this.#wake[i] = Infinity
    this.#acting[i] = 0
    this.#unconnected[i] = 1
    this.#early[i] = undefined
    // Nothing is connected yet: what start() publishes reaches nobody (libp2p's
    // allowPublishToZeroTopicPeers), as on a real host.
    this.#input(i, (nd, t) => nd.start(t))
    this.sched.after(this.#o.dialMs, () => { this.#connect(i, life, known) })
  }

  /** Agent i's first connections are up: it joins the gossip mesh, and it and each seed learn of the other. */
  #connect (i: number, life: number, known?: Body): void {
    if (this.#life[i] !== life || !this.hosts.isUp(i)) return
    this.gossip.join(i)
    this.#unconnected[i] = 0
    if (known !== undefined) {
      // startKnown: the seed's answer, already in sync; the links are up without a push-pull.
      const from = this.ids[i === 0 ? 1 % this.n : 0]!
      this.#early[i] = undefined
      this.#input(i, (node, now) => node.receive(from, known, 'direct', now))
      for (let s = 0; s < this.#o.seeds; s++) {
        if (s === i) continue
        this.#seedLink[i * this.#o.seeds + s] = 1
        this.#conns?.[i]!.set(s, true)
        this.#conns?.[s]!.set(i, true)
        this.gossip.connect(i, s)
      }
      return
    }
    const early = this.#early[i] ?? []
    this.#early[i] = undefined
    for (const publish of early) publish()
    for (let s = 0; s < this.#o.seeds; s++) {
      if (s === i) continue
      if (this.hosts.isUp(s) && this.hosts.sameSide(i, s)) this.#linkSeed(i, s)
      else this.#redial(i, s, 1, life)
    }
  }

  #linkSeed (i: number, s: number): void {
    this.#seedLink[i * this.#o.seeds + s] = 1
    this.#conns?.[i]!.set(s, true)
    this.#conns?.[s]!.set(i, true)
    this.gossip.connect(i, s)
    this.#input(i, (node, now) => node.connected(this.ids[s]!, now))
    this.#input(s, (node, now) => node.connected(this.ids[i]!, now))
  }

  /** The link from i to seed s closed; i (if it lives) redials with backoff. */
  #dropSeedLink (i: number, s: number): void {
    const k = i * this.#o.seeds + s
    if (this.#seedLink[k] === 0) return
    this.#seedLink[k] = 0
    this.gossip.disconnect(i, s)
    if (this.hosts.isUp(i)) this.#redial(i, s, 1, this.#life[i]!)
  }

  /** Agent i died: its links close; if it is a seed, so does every agent's link to it. */
  #dropSeedLinks (i: number): void {
    for (let s = 0; s < this.#o.seeds; s++) this.#dropSeedLink(i, s)
    if (i < this.#o.seeds) for (let j = 0; j < this.n; j++) this.#dropSeedLink(j, i)
  }

  #redial (i: number, s: number, attempt: number, life: number): void {
    const b = this.#bootstrap
    const delay = Math.min(b.redialMaxMs, b.redialMinMs * 2 ** Math.min(30, attempt - 1))
    this.sched.after(delay, () => {
      if (this.#life[i] !== life || !this.hosts.isUp(i) || this.#seedLink[i * this.#o.seeds + s] === 1) return
      if (this.hosts.isUp(s) && this.hosts.sameSide(i, s)) this.#linkSeed(i, s)
      else this.#redial(i, s, attempt + 1, life)
    })
  }

  /** Hands one input to agent i's core and carries out its effects. */
  #input (i: number, fn: (node: MeshNode, now: number) => MeshEffects): void {
    const node = this.#nodes[i]
    if (node === undefined || this.hosts.state[i] === DOWN) return
    // A paused process runs nothing: the input waits with its buffered messages.
    if (this.hosts.state[i] === PAUSED) { this.hosts.deliver(i, () => { this.#input(i, fn) }); return }
    const now = Math.max(this.localNow(i), this.#localFloor[i]!)
    this.#localFloor[i] = now
    let fx: MeshEffects
    try {
      fx = fn(node, now)
    } catch (err) {
      const e = err as Error
      this.trace.violation({ t: this.sched.now, seed: this.seed, kind: 'core-error', detail: `agent ${i}: ${e.stack ?? e.message}` })
      throw new Error(`seed ${this.seed}, t=${this.sched.now.toFixed(3)} ms, agent ${i}: the core threw: ${e.message}`, { cause: err })
    }
    this.inputs++
    this.#carryOut(i, node, fx, now)
    this.#observe(i, node, now)
    this.#reschedule(i)
  }

  #carryOut (i: number, node: MeshNode, fx: MeshEffects, now: number): void {
    this.#persist(i, fx.persist)
    const self = this.ids[i]!
    for (const s of fx.send) this.#send(i, self, s.to, s.body, now)
    for (const p of fx.publish) this.#publish(i, self, p.topic, p.body, now)
    for (const e of fx.events) {
      this.trace.event({ t: this.sched.now, at: i, kind: e.kind, node: this.indexOf(e.node), term: e.term, detail: e.detail })
    }
    if (fx.apply.length > 0) {
      const life = this.#life[i]!
      for (const c of fx.apply) {
        this.sched.after(this.#o.hookDelayMs, () => {
          if (this.#life[i] !== life) return
          const ack = create(CommandAckSchema, { id: c.id, term: c.term, node: node.self, status: CommandStatus.APPLIED, detail: 'hook ok (simulated)', timeMs: this.localNow(i), kind: c.kind })
          this.#input(i, (nd, t) => nd.commandDone(ack, t))
        })
      }
    }
    for (const r of fx.results) this.results.push({ t: this.sched.now, at: i, requestId: r.requestId, result: r.result })
    this.#onEffects?.(i, fx)
  }

  #persist (i: number, p: MeshEffects['persist']): void {
    if (p.incarnation === undefined && p.election === undefined && p.ack === undefined) return
    const store = this.#stores[i] ??= { incarnation: 0, election: null, acks: new Map() }
    if (p.incarnation !== undefined) store.incarnation = p.incarnation
    // A copy, as a disk holds one: the core cannot change what it wrote.
    if (p.election !== undefined) store.election = structuredClone(p.election)
    if (p.ack !== undefined) {
      store.acks.set(p.ack.id, p.ack)
      if (store.acks.size > MAX_STORED_ACKS) store.acks.delete(store.acks.keys().next().value!)
    }
  }

  #send (i: number, self: NodeId, to: NodeId, body: Body, now: number): void {
    const j = this.#index.get(to)
    if (j === undefined) { this.unknownTargets++; return }
    const out = this.wire.direct(self, now, body)
    const send = (): void => {
      this.network.send(i, j, out.size, body.case, () => {
        const m = out.body(this.localNow(j))
        if (m !== undefined) this.#input(j, (node, t) => node.receive(self, m, 'direct', t))
      })
    }
    const conns = this.#conns
    if (conns === undefined || i === j) { send(); return }
    if (conns[i]!.has(j)) {
      conns[i]!.delete(j); conns[i]!.set(j, true) // most recently used last
      send()
      return
    }
    const life = this.#life[i]!
    this.sched.after(this.#o.dialMs, () => {
      if (this.#life[i] !== life || !this.hosts.isUp(i) || !this.hosts.passes(i, j)) return // the dial failed
      if (!conns[i]!.has(j)) this.#openConnection(i, j)
      send()
    })
  }

  /** 'contact' mode: a new connection: both sides get peer:connect, then the LRU limit applies. */
  #openConnection (i: number, j: number): void {
    const conns = this.#conns!
    conns[i]!.set(j, true)
    conns[j]!.set(i, true)
    this.dials++
    this.#input(i, (node, now) => node.connected(this.ids[j]!, now))
    this.#input(j, (node, now) => node.connected(this.ids[i]!, now))
    for (const a of [i, j]) {
      // Bootstrap peers are tagged keep-alive in libp2p: never pruned.
      while (conns[a]!.size > this.#maxConnections) {
        let lru = -1
        for (const k of conns[a]!.keys()) if (k >= this.#o.seeds && a >= this.#o.seeds) { lru = k; break }
        if (lru < 0) break
        conns[a]!.delete(lru)
        conns[lru]!.delete(a)
      }
    }
  }

  #closeConnections (i: number, keep: (j: number) => boolean): void {
    const conns = this.#conns
    if (conns === undefined) return
    for (const j of [...conns[i]!.keys()]) {
      if (keep(j)) continue
      conns[i]!.delete(j)
      conns[j]!.delete(i)
    }
  }

  #publish (i: number, self: NodeId, topic: Topic, body: Body, now: number): void {
    const out = this.wire.gossip(self, now, body, topic)
    if (out === undefined) return
    const message = out.message
    const m = message.body as Body
    const publish = (): void => {
      this.gossip.publish(i, out.size, `gossip:${topic}`, {
        // gossipsub's topic validator: the agent's host ignores stale health and announces.
        accept: (to) => this.hosts.isUp(to) && this.#nodes[to]!.isFresh(message),
        deliver: (to) => { this.#input(to, (node, t) => node.receive(self, m, topic, t)) },
      })
    }
    if (this.#unconnected[i] === 0) publish()
    else if (this.#o.earlyPublish === 'hold') (this.#early[i] ??= []).push(publish)
    else this.earlyDropped++
  }

  #reschedule (i: number): void {
    const node = this.#nodes[i]
    if (node === undefined || this.hosts.state[i] !== UP) return
    const w = node.nextWakeAt() - this.hosts.clockOffsetMs[i]!
    if (!(w < this.#wake[i]!)) return
    this.#wake[i] = w
    const life = this.#life[i]!
    this.sched.at(Math.max(w, this.sched.now), () => { this.#onWake(i, life, w) })
  }

  #onWake (i: number, life: number, w: number): void {
    if (this.#life[i] !== life || this.#wake[i] !== w) return // superseded, or another life
    this.#wake[i] = Infinity
    if (this.hosts.state[i] === PAUSED) return // resume() reschedules
    const node = this.#nodes[i]!
    const due = node.nextWakeAt()
    if (due - this.hosts.clockOffsetMs[i]! > this.sched.now) { this.#reschedule(i); return }
    if (due > this.#localFloor[i]!) this.#localFloor[i] = due
    if (this.#tickTime[i] === this.sched.now) {
      assert(++this.#tickCount[i]! < MAX_TICKS_AT_ONE_INSTANT,
        `seed ${this.seed}: agent ${i} ticked ${MAX_TICKS_AT_ONE_INSTANT} times at t=${this.sched.now}: its nextWakeAt never moves past now`)
    } else {
      this.#tickTime[i] = this.sched.now
      this.#tickCount[i] = 0
    }
    this.#input(i, (nd, t) => nd.tick(t))
  }

  /** After an input: coordinator view, acting, watches. */
  #observe (i: number, node: MeshNode, now: number): void {
    const c = node.coordinator(now)
    const coord = c.coordinator === undefined ? -1 : this.indexOf(c.coordinator)
    if (c.term !== this.#viewTerm[i] || coord !== this.#viewCoord[i] || c.role !== this.#viewRole[i]) {
      this.#viewTerm[i] = c.term
      this.#viewCoord[i] = coord
      this.#viewRole[i] = c.role
      this.trace.view({ t: this.sched.now, at: i, term: c.term, coordinator: coord, role: c.role })
    }
    if (c.acting !== (this.#acting[i] === 1)) this.#setActing(i, c.acting, c.term)
    if (c.acting || c.role === 'coordinator') this.#watchActing.add(i)
    else this.#watchActing.delete(i)
    for (const w of this.#watches) {
      if (Number.isNaN(w.at[i]!) && w.pred(node, i)) w.at[i] = this.sched.now
    }
  }

  #setActing (i: number, acting: boolean, term: number): void {
    this.#acting[i] = acting ? 1 : 0
    if (acting) this.trace.startActing(i, term, this.sched.now)
    else this.trace.stopActing(i, this.sched.now)
  }

  /** The safety invariant, after every event: at most one agent acting at this instant. */
  #checkActing (): void {
    let count = 0
    for (const i of this.#watchActing) {
      const node = this.#nodes[i]!
      const acting = this.hosts.isAlive(i) && node.acting(this.localNow(i))
      if (acting !== (this.#acting[i] === 1)) this.#setActing(i, acting, node.term)
      if (acting) count++
    }
    const two = count >= 2
    if (two && !this.#twoActing) {
      const who = [...this.#watchActing].filter((i) => this.#acting[i] === 1).map((i) => `agent ${i} (term ${this.#nodes[i]!.term})`)
      this.trace.violation({ t: this.sched.now, seed: this.seed, kind: 'two-acting', detail: `acting at once: ${who.join(', ')}` })
    }
    this.#twoActing = two
  }
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** A 52-character Ed25519-style peer id, fixed per index (the same across seeds). */
export function simPeerId (i: number): NodeId {
  let h = (i + 1) * 2654435761 >>> 0
  let s = '12D3KooW'
  while (s.length < 52) {
    h = Math.imul(h ^ (h >>> 15), 2246822519) >>> 0
    h = (h ^ (h >>> 13)) >>> 0
    s += BASE58[h % 58]
  }
  return s
}

export function simAddr (i: number): string {
  return `/ip4/10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/tcp/4001`
}

/** Frozen: it is shared by every agent's member record, and its encoded size is cached. */
export function simMeta (i: number, eligible: boolean): ReturnType<typeof create<typeof NodeMetaSchema>> {
  return deepFreeze(create(NodeMetaSchema, {
    name: `gpu-${String(i).padStart(5, '0')}`,
    pool: 'h100',
    coordinatorEligible: eligible,
    agentVersion: '0.1.0-sim',
    expectedGpus: 8,
    expectedModel: 'NVIDIA H100 80GB HBM3',
    provider: 'sim',
    region: 'sim-1',
    zone: `sim-1${'abc'[i % 3]!}`,
    rack: `rack-${Math.floor(i / 16)}`,
    instanceId: `i-${i.toString(16).padStart(8, '0')}`,
    instanceType: 'p5.48xlarge',
  }))
}
