// One agent's whole mesh as a single core (DESIGN.md §2): membership (SWIM + Lifeguard), the
// election, the fleet view, push-pull repair and the command path, composed so that the libp2p
// driver (agent/mesh/driver.ts) and the simulator (test/harness/sim) drive exactly the same code.
// Inputs carry `now`; outputs are MeshEffects. The driver persists `persist` before it sends.
import { create } from '@bufbuild/protobuf'
import {
  CommandAckSchema, CommandKind, CommandResultSchema, CommandSchema, CommandStatus, HealthState, HealthUpdateSchema, IncidentSchema,
  PushPullSchema,
  type BootGate, type Command, type CommandAck, type CommandRequest, type CommandResult, type CoordinatorAnnounce,
  type FleetEvent, type GpuSummary, type HealthUpdate, type Incident, type MemberUpdate, type MeshMessage, type NodeMeta,
  type PoolsReport, type PushPull, type Verdict,
} from '../../proto/gen/shoal_pb.js'
import { CommandLedger } from '../actions/ledger.js'
import { assert } from '../lib/assert.js'
import { pick, type Rng } from '../lib/rng.js'
import { DEFAULT_ELECTION_CONFIG, Election, type ElectionConfig, type ElectionEffects, type ElectionState } from './election/election.js'
import { FleetView, newerHealth } from './fleet-view.js'
import { DEFAULT_MEMBERSHIP_CONFIG, Membership, type MemberEffects, type MemberRecord, type MembershipConfig, type MembershipCounters } from './membership/membership.js'
import { wireState } from './membership/records.js'
import { commandId, kindName } from './command-id.js'
import { digestHash, digestOf, whatTheyLack, type SyncSource } from './sync.js'
import type { Body, MemberStateName, NodeId, Publish, Send, Topic } from './types.js'

export interface MeshConfig {
  membership: MembershipConfig
  election: ElectionConfig
  /**
   * Push-pull repair with one random peer, every this long, scaled by ceil(log2(N) − 5) + 1 above
   * 32 nodes (memberlist). It only repairs what gossip missed, so it can be slow; converged peers
   * exchange a hash, not the digest. Default 30 s, memberlist's LAN value.
   */
  pushPullIntervalMs: number
  /** Fleet events kept for `shoal events`. */
  maxEvents: number
  /** Resend a command, or a request to the coordinator, when unanswered this long: loss is normal. */
  commandResendMs: number
  /** The coordinator forgets a command it issued after this (a drain may run for its hook's 10 min). */
  commandExpiryMs: number
  /** Open incidents carried in a health update (each stripped of its events). */
  maxGossipIncidents: number
}

export const DEFAULT_MESH_CONFIG: MeshConfig = {
  membership: DEFAULT_MEMBERSHIP_CONFIG,
  election: DEFAULT_ELECTION_CONFIG,
  pushPullIntervalMs: 30_000,
  maxEvents: 10_000,
  commandResendMs: 1_000,
  commandExpiryMs: 15 * 60_000,
  maxGossipIncidents: 8,
}

export interface PersistedMesh {
  incarnation: number
  election: ElectionState | null
  acks?: CommandAck[]
}

export interface MeshEffects {
  send: Send[]
  publish: Publish[]
  persist: { incarnation?: number, election?: ElectionState, ack?: CommandAck }
  events: FleetEvent[]
  apply: Command[]
  results: Array<{ requestId: string, result: CommandResult }>
  /** `shoal scale` and `shoal queue set` taken by this node as the acting coordinator, for its reconciler. */
  poolWrites: PoolWrite[]
}

export interface PoolWrite {
  readonly kind: 'scale' | 'queue'
  readonly pool: string
  /** scale: nodes, or undefined to hand the pool back to its autoscaler; queue: jobs. */
  readonly value: number | undefined
}

/** A pool's bounds, for checking `shoal scale` where it is taken (the coordinator file has them). */
export interface PoolBounds { readonly min: number, readonly max: number }

export interface OwnHealth {
  verdict: Verdict
  incidents: Incident[]
  gpus: GpuSummary[]
  bootGate?: BootGate | undefined
}

export interface MeshNodeOptions {
  self: NodeId
  fleet: string
  meta: NodeMeta
  addrs: string[]
  eligible: boolean
  /** Found a new fleet (council of one) if there is no persisted council: an agent with no bootstrap peers. */
  found: boolean
  config: MeshConfig
  persisted: PersistedMesh | null
  rng: Rng
  now: number
  /** The pools this node would coordinate (empty: it has no coordinator file). */
  pools?: ReadonlyMap<string, PoolBounds>
}

export interface NodeRecord {
  readonly id: NodeId
  readonly member: MemberRecord
  readonly health: HealthUpdate | undefined
  readonly council: boolean
  readonly coordinator: boolean
  readonly self: boolean
  /** Dead, and our last look at it since went unanswered (Membership.lastLook): when. */
  readonly lookFailedMs: number | undefined
}

/** Someone we never heard of spoke to us: ask them for a repair at most this often. */
const UNKNOWN_SYNC_EVERY_MS = 10_000
const MAX_SYNC_MEMORY = 4096
/** Admin requests this node waits on at once; more are refused rather than queued without bound. */
const MAX_PENDING_REQUESTS = 256
const MAX_ISSUED_COMMANDS = 4096

interface PendingRequest { cmd: CommandRequest, deadline: number, resendAt: number }
interface IssuedCommand { command: Command, origin: NodeId, requestId: string, expires: number, resendAt: number }

export function emptyEffects (): MeshEffects {
  return { send: [], publish: [], persist: {}, events: [], apply: [], results: [], poolWrites: [] }
}

export class MeshNode {
  readonly self: NodeId
  readonly #o: MeshNodeOptions
  readonly #members: Membership
  readonly #election: Election
  readonly #fleet: FleetView
  readonly #ledger: CommandLedger
  readonly #rng: Rng
  #own: OwnHealth | undefined
  #eligible: boolean
  #ownKey = ''
  #healthSeq = 0
  #started = false
  /** When to gossip our alive and health again after the first connection (Infinity: done or not yet). */
  #reannounceAt = Infinity
  #everConnected = false
  #nextPushPullAt: number
  #nextCandidatesAt = 0
  readonly #syncedAt = new Map<NodeId, number>()
  readonly #pending = new Map<string, PendingRequest>()
  readonly #issued = new Map<string, IssuedCommand>()
  /** Which coordinator sent each command being applied here, for the ack. */
  readonly #applying = new Map<string, NodeId>()
  /** The latest pools report from any coordinator, by (term, seq). */
  #pools: PoolsReport | undefined

  constructor (o: MeshNodeOptions) {
    this.self = o.self
    this.#o = o
    this.#rng = o.rng
    this.#eligible = o.eligible
    // A restart is a new life: one above anything we said before, so our alive beats our old dead.
    const incarnation = o.persisted === null ? 1 : o.persisted.incarnation + 1
    this.#members = new Membership({ id: o.self, incarnation, addrs: o.addrs, meta: o.meta }, o.config.membership, o.rng, o.now)
    this.#election = new Election(o.self, { eligible: o.eligible, found: o.found }, o.config.election, o.persisted?.election ?? null, o.rng, o.now)
    this.#fleet = new FleetView({ maxNodes: o.config.membership.maxMembers, maxEvents: o.config.maxEvents })
    this.#fleet.setName(o.self, o.meta.name)
    this.#ledger = new CommandLedger(o.persisted?.acks ?? [], { maxEntries: 1024, self: o.self })
    this.#nextPushPullAt = o.now + this.#pushPullEvery()
  }

  // ---- inputs ---------------------------------------------------------------------------------

  start (now: number): MeshEffects {
    assert(!this.#started, 'MeshNode.start called twice')
    this.#started = true
    const fx = emptyEffects()
    fx.persist.incarnation = this.#members.incarnation
    this.#takeMembers(fx, this.#members.join(now), now)
    this.#takeElection(fx, this.#election.tick(now), now)
    if (this.#own !== undefined) this.#publishHealth(fx, now)
    return fx
  }

  /**
   * A transport connection came up: compare pictures with the peer (a join or a healed link
   * differs, and the full exchange follows; a pruned-and-redialled peer is usually equal). The
   * first one also schedules our announcement again: the one start() made had nowhere to go.
   */
  connected (peer: NodeId, now: number): MeshEffects {
    const fx = emptyEffects()
    if (peer === this.self) return fx
    this.#syncedAt.set(peer, now)
    fx.send.push({ to: peer, body: { case: 'pushPull', value: this.#hashCheck() } })
    if (!this.#everConnected) {
      this.#everConnected = true
      this.#reannounceAt = now + this.#o.config.membership.joinAnnounceDelayMs
      if (this.#started && now >= this.#reannounceAt) this.#reannounce(fx, now)
    }
    return fx
  }

  tick (now: number): MeshEffects {
    const fx = emptyEffects()
    this.#takeMembers(fx, this.#members.tick(now), now)
    if (this.#started && now >= this.#reannounceAt) this.#reannounce(fx, now)
    this.#takeElection(fx, this.#election.tick(now), now)
    if (now >= this.#nextCandidatesAt) {
      this.#nextCandidatesAt = now + this.#o.config.election.renewIntervalMs
      if (this.#election.acting(now)) this.#takeElection(fx, this.#election.setCandidates(this.#candidates(), now), now)
    }
    if (now >= this.#nextPushPullAt) {
      this.#nextPushPullAt = now + this.#pushPullEvery()
      const peer = this.#randomPeer()
      if (peer !== undefined) fx.send.push({ to: peer, body: { case: 'pushPull', value: this.#hashCheck() } })
    }
    this.#tickCommands(fx, now)
    return fx
  }

  nextWakeAt (): number {
    let at = Math.min(this.#members.nextWakeAt(), this.#election.nextWakeAt(), this.#nextPushPullAt, this.#reannounceAt)
    if (this.#pending.size > 0 || this.#issued.size > 0) at = Math.min(at, this.#earliestCommandWake())
    return at
  }

  receive (from: NodeId, body: Body, via: 'direct' | Topic, now: number): MeshEffects {
    const fx = emptyEffects()
    if (from === this.self && via !== 'direct') return fx // our own gossip coming back
    switch (body.case) {
      case 'ping': case 'ack': case 'nack': case 'pingReq':
        this.#takeMembers(fx, this.#members.receive(from, body, now), now)
        this.#maybeSyncUnknown(fx, from, now)
        break
      case 'member':
        this.#takeMembers(fx, this.#members.apply(body.value, from, now), now)
        break
      case 'health':
        this.#onHealth(fx, body.value, now)
        break
      case 'coordinator':
        this.#takeElection(fx, this.#election.announce(from, body.value, now), now)
        break
      case 'pushPull':
        this.#onPushPull(fx, from, body.value, now)
        break
      case 'voteRequest': case 'voteReply': case 'leaseRenew': case 'leaseAck':
        this.#takeElection(fx, this.#election.receive(from, body, now), now)
        this.#maybeSyncUnknown(fx, from, now)
        break
      case 'command':
        this.#onCommand(fx, from, body.value, now)
        break
      case 'commandAck':
        this.#onCommandAck(fx, from, body.value, now)
        break
      case 'commandRequest':
        this.#onCommandRequest(fx, from, body.value, now)
        break
      case 'commandResult':
        this.#onCommandResult(fx, body.value)
        break
      case 'pools':
        if (body.value.coordinator === from) this.#onPools(fx, body.value)
        break
    }
    // After the body: a refutation it carried already made the sender alive again. The state test
    // first keeps the common case (a live sender) free of an effects object per message.
    if (from !== this.self && this.#members.member(from)?.state === 'dead') {
      this.#takeMembers(fx, this.#members.heardFrom(from, via === 'direct' ? 'direct' : 'gossip', now), now)
    }
    return fx
  }

  /** This node's own health, judged by agent/health. Published when something an operator would see changed. */
  setHealth (h: OwnHealth, now: number): MeshEffects {
    const fx = emptyEffects()
    this.#own = h
    // An unhealthy node should not coordinate: it steps down and stops standing (its own verdict
    // is the first to know; the coordinator's candidate list follows from gossip).
    const eligible = this.#o.eligible && h.verdict.state !== HealthState.UNHEALTHY
    if (eligible !== this.#eligible) {
      this.#eligible = eligible
      this.#takeElection(fx, this.#election.setEligible(eligible, now), now)
    }
    if (this.#started) this.#publishHealth(fx, now)
    return fx
  }

  /** A local admin write. The answer comes back in `results` with the same requestId. */
  request (requestId: string, cmd: CommandRequest, now: number, timeoutMs: number): MeshEffects {
    const fx = emptyEffects()
    if (this.#pending.has(requestId)) return fx
    if (this.#pending.size >= MAX_PENDING_REQUESTS) {
      fx.results.push({ requestId, result: this.#error('busy', `${MAX_PENDING_REQUESTS} requests are already waiting on the coordinator; try again`, requestId) })
      return fx
    }
    if (this.#election.acting(now)) {
      this.#coordinate(fx, this.self, requestId, cmd, now)
      return fx
    }
    const coordinator = this.#election.status(now).coordinator
    if (coordinator === undefined) {
      fx.results.push({ requestId, result: this.#error('no-coordinator', 'no coordinator is known: the council has not elected one yet, or this agent has not heard from it', requestId) })
      return fx
    }
    const c = { ...cmd, requestId }
    this.#pending.set(requestId, { cmd: c, deadline: now + timeoutMs, resendAt: now + this.#o.config.commandResendMs })
    // Ourselves, with our lease lapsed (a stall, a lost renewal): it waits for the resend, by when
    // we act again or have heard of a successor. Never sent to ourselves (chaos campaign 3, run 36).
    if (coordinator !== this.self) fx.send.push({ to: coordinator, body: { case: 'commandRequest', value: c } })
    return fx
  }

  /** The driver applied a command from `apply` (ran its hook); `ack` says how it went. */
  commandDone (ack: CommandAck, now: number): MeshEffects {
    const fx = emptyEffects()
    this.#ledger.record(ack)
    fx.persist.ack = ack
    fx.events.push(this.#fleet.record({ timeMs: now, node: this.self, kind: 'ack', detail: `${kindName(ack.kind)} ${CommandStatus[ack.status]?.toLowerCase() ?? ack.status}: ${ack.detail}`, term: ack.term }))
    if (this.#own !== undefined) this.#publishHealth(fx, now)
    const coordinator = this.#applying.get(ack.id)
    this.#applying.delete(ack.id)
    if (coordinator === this.self) this.#onCommandAck(fx, this.self, ack, now)
    else if (coordinator !== undefined) fx.send.push({ to: coordinator, body: { case: 'commandAck', value: ack } })
    return fx
  }

  /** The acting coordinator's pools report: gossip it, and keep it as ours. */
  publishPools (report: PoolsReport): MeshEffects {
    const fx = emptyEffects()
    assert(report.coordinator === this.self, 'publishPools: a report names its publisher as coordinator')
    this.#onPools(fx, report)
    fx.publish.push({ topic: 'coord', body: { case: 'pools', value: report } })
    return fx
  }

  /** The coordinator's last look at a node it holds dead, before it replaces it (Membership.lastLook). */
  lastLook (id: NodeId, now: number): MeshEffects {
    const fx = emptyEffects()
    this.#takeMembers(fx, this.#members.lastLook(id, now), now)
    return fx
  }

  leave (now: number): MeshEffects {
    const fx = emptyEffects()
    this.#takeMembers(fx, this.#members.leave(now), now)
    return fx
  }

  // ---- reads ----------------------------------------------------------------------------------

  get fleet (): FleetView { return this.#fleet }
  /** The membership core's counters (probes, refutations, dead notices, ...), for metrics and tests. */
  get memberCounters (): Readonly<MembershipCounters> { return this.#members.counters }
  get incarnation (): number { return this.#members.incarnation }
  get term (): number { return this.#election.term }
  get cordoned (): boolean { return this.#ledger.cordoned }
  /** The latest pools report heard (or published), for `shoal pools` and a successor's start. */
  get pools (): PoolsReport | undefined { return this.#pools }

  acting (now: number): boolean { return this.#election.acting(now) }
  coordinator (now: number): ReturnType<Election['status']> { return this.#election.status(now) }
  health (id: NodeId): HealthUpdate | undefined { return this.#fleet.health(id) }
  memberState (id: NodeId): MemberStateName | undefined { return this.#members.member(id)?.state }
  member (id: NodeId): MemberRecord | undefined { return this.#members.member(id) }
  liveCount (): number { return this.#members.liveCount() }

  nodes (now: number): NodeRecord[] {
    const status = this.#election.status(now)
    const council = new Set(status.council?.members ?? [])
    const out: NodeRecord[] = []
    for (const m of this.#members.members()) {
      out.push({ id: m.id, member: m, health: this.#fleet.health(m.id), council: council.has(m.id), coordinator: status.coordinator === m.id, self: m.id === this.self,
        lookFailedMs: m.state === 'dead' ? this.#members.lookFailedAt(m.id) : undefined,
      })
    }
    return out
  }

  /** The validator's freshness check: a stale health or announce is ignored, not re-gossiped. */
  isFresh (m: MeshMessage): boolean {
    switch (m.body.case) {
      case 'health': return newerHealth(m.body.value, this.#fleet.health(m.body.value.node))
      case 'coordinator': return this.#election.wantsAnnouncement(m.body.value)
      default: return true
    }
  }

  // ---- membership and election plumbing --------------------------------------------------------

  #takeMembers (fx: MeshEffects, m: MemberEffects, now: number): void {
    fx.send.push(...m.send)
    fx.publish.push(...m.publish)
    if (m.persistIncarnation !== undefined) {
      fx.persist.incarnation = m.persistIncarnation
      // Our health updates carry the incarnation: republish so the new life's health is the newest.
      if (this.#own !== undefined && this.#started) this.#publishHealth(fx, now, true)
    }
    for (const c of m.changes) {
      const rec = this.#members.member(c.node)
      if (rec?.meta !== undefined) this.#fleet.setName(c.node, rec.meta.name)
      const kind = c.from === undefined ? 'joined' : c.to
      const detail = c.from === undefined
        ? `${c.to} (incarnation ${c.incarnation})`
        : `${c.from} → ${c.to} (incarnation ${c.incarnation}${c.reporter === c.node ? '' : `, reported by ${this.#fleet.nameOf(c.reporter) || c.reporter}`})`
      fx.events.push(this.#fleet.record({ timeMs: now, node: c.node, kind, detail }))
    }
  }

  #takeElection (fx: MeshEffects, e: ElectionEffects, now: number): void {
    if (e.persist !== undefined) fx.persist.election = e.persist
    fx.send.push(...e.send)
    fx.publish.push(...e.publish)
    for (const ev of e.events) {
      fx.events.push(this.#fleet.record({ timeMs: now, node: ev.node ?? this.self, kind: ev.kind, detail: ev.detail, term: ev.term }))
    }
  }

  #candidates (): NodeId[] {
    const out: NodeId[] = []
    for (const m of this.#members.members()) {
      // Suspect members stay: a council member that flaps would otherwise be removed and re-added.
      if ((m.state !== 'alive' && m.state !== 'suspect') || m.meta?.coordinatorEligible !== true) continue
      const h = this.#fleet.health(m.id)
      if (h?.verdict?.state === HealthState.UNHEALTHY) continue
      out.push(m.id)
    }
    return out.sort()
  }

  #randomPeer (): NodeId | undefined {
    const live: NodeId[] = []
    for (const m of this.#members.members()) if (m.id !== this.self && (m.state === 'alive' || m.state === 'suspect')) live.push(m.id)
    return live.length === 0 ? undefined : live[pick(this.#rng, live.length)]
  }

  #pushPullEvery (): number {
    const n = Math.max(1, this.#members.liveCount())
    const scale = n <= 32 ? 1 : Math.ceil(Math.log2(n) - Math.log2(32)) + 1
    // Jitter so a fleet started at once does not repair in lockstep.
    return Math.round(this.#o.config.pushPullIntervalMs * scale * (0.75 + 0.5 * this.#rng.next()))
  }

  // ---- health -----------------------------------------------------------------------------------

  #publishHealth (fx: MeshEffects, now: number, force = false): void {
    const own = this.#own
    assert(own !== undefined, 'publishing health before any was set')
    const incidents = own.incidents.filter((i) => i.open).slice(0, this.#o.config.maxGossipIncidents)
      .map((i) => create(IncidentSchema, { ...i, events: [] }))
    const draft = {
      verdict: own.verdict,
      incidents,
      gpus: own.gpus,
      bootGate: own.bootGate,
      cordoned: this.#ledger.cordoned,
      draining: this.#ledger.draining,
      drained: this.#ledger.drained,
    }
    const key = healthKey(draft)
    if (!force && key === this.#ownKey) return
    this.#ownKey = key
    const update = create(HealthUpdateSchema, { ...draft, node: this.self, incarnation: this.#members.incarnation, seq: ++this.#healthSeq, timeMs: now })
    const r = this.#fleet.applyHealth(update, now)
    if (r.event !== undefined) fx.events.push(r.event)
    fx.publish.push({ topic: 'health', body: { case: 'health', value: update } })
  }

  #onHealth (fx: MeshEffects, u: HealthUpdate, now: number): void {
    if (u.node === this.self) return // only we speak for ourselves; an echo or a replay
    const r = this.#fleet.applyHealth(u, now)
    if (r.event !== undefined) fx.events.push(r.event)
  }

  // ---- push-pull repair -------------------------------------------------------------------------

  #syncSource (): SyncSource {
    const members = this.#members
    const fleet = this.#fleet
    return {
      * memberEntries () {
        for (const m of members.members()) yield { id: m.id, state: wireState(m.state), incarnation: m.incarnation }
      },
      health: (id) => fleet.health(id),
      memberUpdate: (id) => members.updateFor(id),
    }
  }

  #digestMessage (reply: boolean, extra?: { members: MemberUpdate[], health: HealthUpdate[] }): PushPull {
    return create(PushPullSchema, {
      digest: digestOf(this.#syncSource()),
      members: extra?.members ?? [],
      health: extra?.health ?? [],
      reply,
      coordinator: this.#election.announcement(),
    })
  }

  /**
   * A push-pull that carries only our digest's hash: a converged peer answers nothing, one that
   * differs answers with its digest and the full exchange follows. Used on every new connection
   * too: a fleet larger than the connection limit opens and prunes connections all the time, and
   * a full digest per connection (tens of KiB at 1,000 agents) was most of its traffic.
   */
  #hashCheck (): PushPull {
    const digest = digestOf(this.#syncSource())
    return create(PushPullSchema, { digestHash: digestHash(digest), digestCount: digest.length })
  }

  #maybeSyncUnknown (fx: MeshEffects, from: NodeId, now: number): void {
    if (this.#members.member(from) !== undefined) return
    const last = this.#syncedAt.get(from)
    if (last !== undefined && now - last < UNKNOWN_SYNC_EVERY_MS) return
    if (this.#syncedAt.size >= MAX_SYNC_MEMORY) this.#syncedAt.clear()
    this.#syncedAt.set(from, now)
    fx.send.push({ to: from, body: { case: 'pushPull', value: this.#digestMessage(false) } })
  }

  #onPushPull (fx: MeshEffects, from: NodeId, pp: PushPull, now: number): void {
    if (pp.coordinator !== undefined) this.#applyRelayedAnnounce(fx, pp.coordinator, now)
    if (pp.reply) {
      this.#applySync(fx, from, pp, now)
      if (pp.digest.length > 0) {
        const lack = whatTheyLack(pp.digest, this.#syncSource())
        if (lack.members.length + lack.health.length > 0) {
          fx.send.push({ to: from, body: { case: 'pushPull', value: create(PushPullSchema, { ...lack, reply: true }) } })
        }
      }
      return
    }
    if (pp.digest.length === 0) {
      // A hash check: answer only when we differ, with our digest, and let them send what we lack.
      const digest = digestOf(this.#syncSource())
      if (digestHash(digest) === pp.digestHash && digest.length === pp.digestCount) return
      fx.send.push({ to: from, body: { case: 'pushPull', value: create(PushPullSchema, { digest, coordinator: this.#election.announcement() }) } })
      return
    }
    const lack = whatTheyLack(pp.digest, this.#syncSource())
    fx.send.push({ to: from, body: { case: 'pushPull', value: this.#digestMessage(true, lack) } })
  }

  #applySync (fx: MeshEffects, from: NodeId, pp: PushPull, now: number): void {
    // Membership gossips again only what is news (a refutation, a new life), bounded per message.
    if (pp.members.length > 0) this.#takeMembers(fx, this.#members.repair(pp.members, from, now), now)
    for (const h of pp.health) this.#onHealth(fx, h, now)
  }

  /** Our alive and health again, at the same incarnation and seq: start()'s went nowhere. */
  #reannounce (fx: MeshEffects, now: number): void {
    this.#reannounceAt = Infinity
    this.#takeMembers(fx, this.#members.reannounce(now), now)
    const own = this.#fleet.health(this.self)
    if (own !== undefined) fx.publish.push({ topic: 'health', body: { case: 'health', value: own } })
  }

  #applyRelayedAnnounce (fx: MeshEffects, a: CoordinatorAnnounce, now: number): void {
    if (a.coordinator === '' || !this.#election.wantsAnnouncement(a)) return
    this.#takeElection(fx, this.#election.announce(a.coordinator, a, now), now)
  }

  // ---- commands: origin → coordinator → target → coordinator → origin -------------------------

  #error (code: string, message: string, requestId: string): CommandResult {
    return create(CommandResultSchema, { errorCode: code, message, requestId, term: this.#election.term })
  }

  #onCommandRequest (fx: MeshEffects, from: NodeId, req: CommandRequest, now: number): void {
    this.#coordinate(fx, from, req.requestId, req, now)
  }

  #answer (fx: MeshEffects, origin: NodeId, result: CommandResult): void {
    if (origin === this.self) fx.results.push({ requestId: result.requestId, result })
    else fx.send.push({ to: origin, body: { case: 'commandResult', value: result } })
  }

  /** The coordinator's half: check, turn the request into a Command with an intent id, send it. */
  #coordinate (fx: MeshEffects, origin: NodeId, requestId: string, req: CommandRequest, now: number): void {
    if (!this.#election.acting(now)) {
      const known = this.#election.status(now).coordinator
      this.#answer(fx, origin, this.#error('not-coordinator', known === undefined || known === this.self
        ? 'this agent is not the acting coordinator (no majority lease); try again shortly'
        : `this agent is not the coordinator; ${this.#fleet.nameOf(known) || known} is`, requestId))
      return
    }
    const originState = origin === this.self ? 'alive' : this.#members.member(origin)?.state
    if (originState !== 'alive' && originState !== 'suspect') {
      this.#answer(fx, origin, this.#error('not-member', `the asking agent ${origin} is not a live member of this fleet (${originState ?? 'unknown'})`, requestId))
      return
    }
    if (req.kind === CommandKind.SCALE || req.kind === CommandKind.QUEUE) {
      this.#poolWrite(fx, origin, requestId, req, now)
      return
    }
    const target = this.#members.member(req.target)
    if (target === undefined) {
      this.#answer(fx, origin, this.#error('unknown-node', `no node ${req.target} in this fleet`, requestId))
      return
    }
    if (target.state === 'dead' || target.state === 'left') {
      this.#answer(fx, origin, this.#error('not-member', `${this.#fleet.nameOf(target.id) || target.id} is ${target.state}; it cannot apply a command`, requestId))
      return
    }
    const id = commandId(origin, requestId, req.kind, req.target)
    const existing = this.#issued.get(id)
    if (existing !== undefined) {
      existing.resendAt = now // a resent request: resend the command now
      return
    }
    if (this.#issued.size >= MAX_ISSUED_COMMANDS) {
      this.#answer(fx, origin, this.#error('busy', 'the coordinator has too many commands in flight; try again', requestId))
      return
    }
    const command = create(CommandSchema, {
      id, term: this.#election.term, coordinator: this.self, target: req.target, kind: req.kind, reason: req.reason, requestedBy: origin, timeMs: now,
    })
    this.#issued.set(id, { command, origin, requestId, expires: now + this.#o.config.commandExpiryMs, resendAt: now + this.#o.config.commandResendMs })
    fx.events.push(this.#fleet.record({ timeMs: now, node: req.target, kind: 'command', detail: `${kindName(req.kind)} issued by the coordinator${req.reason === '' ? '' : `: ${req.reason}`}`, term: command.term }))
    this.#deliver(fx, command, now)
  }

  /** `shoal scale POOL N|auto`, `shoal queue set POOL N`: checked and taken here, acknowledged at once. */
  #poolWrite (fx: MeshEffects, origin: NodeId, requestId: string, req: CommandRequest, now: number): void {
    const pools = this.#o.pools ?? new Map<string, PoolBounds>()
    const bounds = pools.get(req.target)
    if (bounds === undefined) {
      const known = [...pools.keys()].sort().join(', ')
      this.#answer(fx, origin, this.#error('unknown-pool', `no pool ${req.target} in the coordinator file${known === '' ? ' (it declares none)' : ` (pools: ${known})`}`, requestId))
      return
    }
    const v = req.value
    let write: PoolWrite
    let detail: string
    if (req.kind === CommandKind.SCALE) {
      if (v < 0) {
        write = { kind: 'scale', pool: req.target, value: undefined }
        detail = `pool ${req.target} handed back to its autoscaler`
      } else if (!Number.isInteger(v) || v < bounds.min || v > bounds.max) {
        this.#answer(fx, origin, this.#error('out-of-bounds', `pool ${req.target} takes ${bounds.min} to ${bounds.max} nodes, not ${v}`, requestId))
        return
      } else {
        write = { kind: 'scale', pool: req.target, value: v }
        detail = `pool ${req.target} scaled to ${v}`
      }
    } else {
      if (!Number.isFinite(v) || v < 0) {
        this.#answer(fx, origin, this.#error('bad-value', `a queue depth is a number of jobs ≥ 0, not ${v}`, requestId))
        return
      }
      write = { kind: 'queue', pool: req.target, value: v }
      detail = `pool ${req.target} queue depth ${v}`
    }
    fx.poolWrites.push(write)
    const id = commandId(origin, requestId, req.kind, req.target)
    fx.events.push(this.#fleet.record({ timeMs: now, node: '', kind: 'scale', detail: `${detail}${req.reason === '' ? '' : `: ${req.reason}`}`, term: this.#election.term }))
    const ack = create(CommandAckSchema, { id, term: this.#election.term, node: this.self, status: CommandStatus.APPLIED, detail, timeMs: now, kind: req.kind })
    this.#answer(fx, origin, create(CommandResultSchema, { ack, term: this.#election.term, coordinator: this.self, requestId }))
  }

  #onPools (fx: MeshEffects, r: PoolsReport): void {
    const cur = this.#pools
    if (cur !== undefined && (r.term < cur.term || (r.term === cur.term && r.seq <= cur.seq))) return
    this.#pools = r
    if (r.coordinator === this.self) return // its events are already in this node's log
    for (const e of r.events) fx.events.push(this.#fleet.record({ timeMs: e.timeMs, node: e.node, kind: e.kind, detail: e.detail, term: e.term }))
  }

  #deliver (fx: MeshEffects, command: Command, now: number): void {
    if (command.target === this.self) this.#onCommand(fx, this.self, command, now)
    else fx.send.push({ to: command.target, body: { case: 'command', value: command } })
  }

  /** The target's half: fence by term, apply once. */
  #onCommand (fx: MeshEffects, from: NodeId, c: Command, now: number): void {
    const status = this.#election.status(now)
    // Fencing: the sender must be the coordinator of the term it claims, and that term current.
    // Only a command that names its own sender as coordinator may raise our term: a forged one
    // must not push this node (and through it the council) into a new election.
    if (c.coordinator === from && c.term > this.#election.term) this.#takeElection(fx, this.#election.observeTerm(c.term, now), now)
    const knownCoordinator = c.term === status.term ? status.coordinator : undefined
    let refusal: string | undefined
    if (c.coordinator !== from) refusal = `sent by ${from}, not by the coordinator it names`
    else if (knownCoordinator !== undefined && knownCoordinator !== from) refusal = `${from} is not the coordinator of term ${c.term}`
    const decision = refusal === undefined ? this.#ledger.decide(c, this.#election.term, now) : undefined
    if (decision === undefined || decision.kind === 'refuse') {
      const ack = decision?.kind === 'refuse'
        ? decision.ack
        : create(CommandAckSchema, { id: c.id, term: this.#election.term, node: this.self, status: CommandStatus.REFUSED, detail: refusal, timeMs: now, kind: c.kind })
      fx.events.push(this.#fleet.record({ timeMs: now, node: this.self, kind: 'refused', detail: `${kindName(c.kind)} from term ${c.term}: ${ack.detail}`, term: c.term }))
      this.#replyAck(fx, from, ack, now)
      return
    }
    if (decision.kind === 'duplicate') {
      this.#replyAck(fx, from, decision.ack, now)
      return
    }
    if (decision.kind === 'in-progress') return
    this.#ledger.started(c)
    this.#applying.set(c.id, from)
    fx.apply.push(c)
  }

  #replyAck (fx: MeshEffects, to: NodeId, ack: CommandAck, now: number): void {
    if (to === this.self) this.#onCommandAck(fx, this.self, ack, now)
    else fx.send.push({ to, body: { case: 'commandAck', value: ack } })
  }

  #onCommandAck (fx: MeshEffects, from: NodeId, ack: CommandAck, now: number): void {
    const issued = this.#issued.get(ack.id)
    if (issued === undefined || issued.command.target !== from) return
    this.#issued.delete(ack.id)
    if (from !== this.self) {
      fx.events.push(this.#fleet.record({ timeMs: now, node: from, kind: 'ack', detail: `${kindName(ack.kind)} ${CommandStatus[ack.status]?.toLowerCase() ?? ack.status}: ${ack.detail}`, term: ack.term }))
    }
    this.#answer(fx, issued.origin, create(CommandResultSchema, {
      ack, term: issued.command.term, coordinator: this.self, requestId: issued.requestId,
      ...(ack.status === CommandStatus.REFUSED ? { errorCode: 'refused', message: ack.detail } : {}),
    }))
  }

  #onCommandResult (fx: MeshEffects, r: CommandResult): void {
    const p = this.#pending.get(r.requestId)
    if (p === undefined) return
    // A coordinator between leases (a failover, a slow renewal) is transient: keep asking until
    // the deadline, which then reports a timeout instead of a race the operator cannot act on.
    if (r.errorCode === 'not-coordinator') return
    this.#pending.delete(r.requestId)
    fx.results.push({ requestId: r.requestId, result: r })
  }

  #tickCommands (fx: MeshEffects, now: number): void {
    for (const [requestId, p] of this.#pending) {
      if (now >= p.deadline) {
        this.#pending.delete(requestId)
        fx.results.push({ requestId, result: this.#error('timeout', 'no answer from the coordinator in time; the command may still be applied (see shoal events)', requestId) })
      } else if (now >= p.resendAt) {
        p.resendAt = now + this.#o.config.commandResendMs
        if (this.#election.acting(now)) {
          this.#pending.delete(requestId)
          this.#coordinate(fx, this.self, requestId, p.cmd, now)
        } else {
          const coordinator = this.#election.status(now).coordinator
          if (coordinator !== undefined && coordinator !== this.self) fx.send.push({ to: coordinator, body: { case: 'commandRequest', value: p.cmd } })
        }
      }
    }
    for (const [id, c] of this.#issued) {
      if (now >= c.expires || !this.#election.acting(now)) {
        // A coordinator that lost its lease stops pursuing: the asker resends to the next one.
        this.#issued.delete(id)
        if (now >= c.expires) this.#answer(fx, c.origin, this.#error('timeout', `${c.command.target} did not acknowledge in time`, c.requestId))
      } else if (now >= c.resendAt) {
        c.resendAt = now + this.#o.config.commandResendMs
        this.#deliver(fx, c.command, now)
      }
    }
  }

  #earliestCommandWake (): number {
    let at = Infinity
    for (const p of this.#pending.values()) at = Math.min(at, p.resendAt, p.deadline)
    for (const c of this.#issued.values()) at = Math.min(at, c.resendAt, c.expires)
    return at
  }
}

/** What in a health update an operator would notice; live readings (temperature, power) are not. */
function healthKey (h: { verdict: Verdict, incidents: Incident[], gpus: GpuSummary[], bootGate?: BootGate | undefined, cordoned: boolean, draining: boolean, drained: boolean }): string {
  return JSON.stringify([
    h.verdict.state, h.verdict.action, h.verdict.reasons.map((r) => [r.rule, r.gpuIndex, r.state, r.action]),
    h.incidents.map((i) => [i.id, i.action, i.state, i.eventCount]),
    h.gpus.map((g) => [g.index, g.uuid, g.state, g.action, g.lost]),
    h.bootGate?.passed, h.cordoned, h.draining, h.drained,
  ])
}
