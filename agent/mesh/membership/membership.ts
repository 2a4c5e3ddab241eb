// SWIM membership with Lifeguard (DESIGN.md §4; reference/mesh.md §1), as a deterministic core:
// probes, gossip and the passing of time go in, effects come out. One peer is probed per
// interval; a miss asks `indirectChecks` relays; a miss through them too makes the peer suspect,
// which this node says once on 'members' and to the suspect itself (buddy system). Every node
// that hears a suspicion times it (long, shrinking with independent reporters); when it runs out
// the node probes the suspect once more and declares it dead only if that fails too, unless the
// peer refuted with a higher incarnation first.
//
// Only changes travel, and only those this node can sign for: its own alive/left, its own
// suspicions and the deaths it declared as one of a suspicion's reporters. Gossipsub already
// carries every published update to every member, so an update learned from gossip is never
// re-published (that would multiply each change by N), and a duplicate changes nothing here.
//
// Recovery (memberlist, Serf): a member we hold dead that speaks to us is told so, and members
// dead for a short while are still pinged now and then, so that two sides of a healed partition
// hear from each other and refute; an alive that only push-pull brought us is news the fleet
// may lack too, and we gossip it once (see the config for the bounds).
//
// A last look (lastLook): before the coordinator replaces a node it holds dead, it probes it once
// more, directly and through relays. A dead record may be a partition's, decided on the other
// side of a cut that has healed since; a node that answers is told it is held dead and refutes,
// and only a look that goes unanswered is recorded (lookFailedAt) for the planner to act on.
import { create } from '@bufbuild/protobuf'
import {
  AckSchema, MemberUpdateSchema, NackSchema, PingReqSchema, PingSchema,
  type Ack, type MemberUpdate, type Nack, type NodeMeta, type Ping, type PingReq,
} from '../../../proto/gen/shoal_pb.js'
import { assert } from '../../lib/assert.js'
import { pick, type Rng } from '../../lib/rng.js'
import type { Body, MemberChange, MemberStateName, NodeId, Publish, Send } from '../types.js'
import { Awareness } from './awareness.js'
import { validateMembershipConfig, type MembershipConfig } from './config.js'
import { DeadlineHeap } from './deadlines.js'
import { ProbeRing } from './probe-ring.js'
import {
  isLive, isTombstone, malformed, MAX_INCARNATION, precedence, stateName, wireState, type MemberRecord,
} from './records.js'
import { Suspicion, suspicionBounds } from './suspicion.js'

export { DEFAULT_MEMBERSHIP_CONFIG, MembershipConfigError, validateMembershipConfig, type MembershipConfig } from './config.js'
export type { MemberRecord } from './records.js'

export interface MemberEffects {
  send: Send[]
  publish: Publish[]
  /** One per record whose state or incarnation changed; from === to: a newer incarnation (new addrs/meta). */
  changes: MemberChange[]
  /** own incarnation changed: persist it before sending anything else */
  persistIncarnation?: number
}

export interface SelfInfo {
  id: NodeId
  /** The persisted incarnation + 1 after a restart, so this life's alive beats the last one's death. */
  incarnation: number
  addrs: string[]
  meta: NodeMeta
}

/** Counts since construction, for metrics and tests. */
export interface MembershipCounters {
  probes: number
  acked: number
  /** Probes that ended without an ack and made (or confirmed) a suspicion. */
  failed: number
  /** Probes whose timers fired during a stall: no verdict. */
  inconclusive: number
  /** Expired suspicions whose suspect still answered: re-armed, not killed. */
  verifiedAlive: number
  indirect: number
  relayed: number
  relaysDropped: number
  refutations: number
  /** Suspicions this node declared dead when their timer ran out. */
  declaredDead: number
  /** Malformed updates, and updates about unknown nodes with no room left. */
  ignored: number
  /** Pings to members held dead (deadProbeEvery). */
  deadProbes: number
  /** Dead records sent to the member they declare dead because it spoke to us. */
  deadNotices: number
  /** Alive updates learned by push-pull that we gossiped again. */
  regossiped: number
  /** Last looks at dead members (lastLook) sent, answered, and ended without an answer. */
  looks: number
  looksAnswered: number
  looksFailed: number
}

interface Probe {
  /** round: the SWIM schedule; verify: one last look at a suspect whose timer ran out; look: at a dead member (lastLook). */
  readonly kind: 'round' | 'verify' | 'look'
  readonly target: NodeId
  readonly seq: number
  readonly incarnation: number
  readonly indirectAt: number
  readonly deadline: number
  /** Undefined until the direct ping timed out and ping_reqs went out. */
  relays: NodeId[] | undefined
  readonly nacked: NodeId[]
  /** A timer of this probe fired more than stallMs late. */
  late: boolean
}

interface Relay {
  readonly requester: NodeId
  readonly seq: number
  readonly target: NodeId
  readonly deadline: number
}

interface Timed { readonly id: NodeId, readonly suspicion: Suspicion }
interface Tombstone { readonly id: NodeId, readonly changedMs: number }

type Outcome = 'accepted' | 'confirmed' | 'ignored'

const SEQ_WRAP = 2 ** 52

function effects (): MemberEffects {
  return { send: [], publish: [], changes: [] }
}

function member (update: MemberUpdate): Body {
  return { case: 'member', value: update }
}

export class Membership {
  readonly #id: NodeId
  #incarnation: number
  #addrs: readonly string[]
  #meta: NodeMeta
  readonly #config: Readonly<MembershipConfig>
  readonly #rng: Rng
  readonly #awareness: Awareness
  /** Immutable records, replaced on change (thousands of instances share one process: no wrappers). */
  readonly #members = new Map<NodeId, MemberRecord>()
  /** Present exactly for the suspect records. */
  readonly #suspicions = new Map<NodeId, Suspicion>()
  readonly #ring: ProbeRing
  readonly #timers: DeadlineHeap<Timed>
  /** Keyed by our own ping's seq; insertion order is deadline order (one fixed timeout). */
  readonly #relays = new Map<number, Relay>()
  /** Dead/left transitions in time order; stale entries are skipped when reached. */
  #tombstones: Tombstone[] = []
  #tombstoneHead = 0
  /** Probes in flight by seq: at most one round probe plus maxVerifications verifications. */
  readonly #probes = new Map<number, Probe>()
  #verifications = 0
  #looking = 0
  /** Dead members whose last look went unanswered, and when; cleared when their record changes. */
  readonly #lookFailed = new Map<NodeId, number>()
  /** Probe rounds since the last one that also pinged a dead member. */
  #roundsSinceDeadProbe = 0
  /** Dead members told so (heardFrom), by when; insertion order is time order. */
  readonly #noticed = new Map<NodeId, number>()
  #nextProbeAt: number
  #seq: number
  #live = 1
  #joined = false
  #left = false
  #now: number
  readonly #counters: MembershipCounters = {
    probes: 0, acked: 0, failed: 0, inconclusive: 0, verifiedAlive: 0, indirect: 0, relayed: 0, relaysDropped: 0,
    refutations: 0, declaredDead: 0, ignored: 0, deadProbes: 0, deadNotices: 0, regossiped: 0,
    looks: 0, looksAnswered: 0, looksFailed: 0,
  }

  constructor (self: SelfInfo, config: MembershipConfig, rng: Rng, now: number) {
    this.#config = Object.freeze({ ...validateMembershipConfig(config) })
    assert(self.id !== '', 'membership: self id is empty')
    assert(Number.isSafeInteger(self.incarnation) && self.incarnation >= 0 && self.incarnation <= MAX_INCARNATION,
      `membership: bad own incarnation ${self.incarnation}`)
    assert(Number.isFinite(now), `membership: bad time ${now}`)
    this.#id = self.id
    this.#incarnation = self.incarnation
    this.#addrs = self.addrs.slice(0, config.maxAddrs)
    this.#meta = self.meta
    this.#rng = rng
    this.#now = now
    this.#awareness = new Awareness(config.awarenessMax)
    this.#ring = new ProbeRing(rng)
    // At most one live entry per suspicion; #arm compacts the stale ones long before this.
    this.#timers = new DeadlineHeap(4 * config.maxMembers + 64)
    // A restarted node must not take an ack meant for its previous life as one for this one.
    this.#seq = pick(rng, 2 ** 31)
    // Spread the first probes of nodes that start together.
    this.#nextProbeAt = now + pick(rng, config.probeIntervalMs)
    this.#members.set(self.id, this.#selfRecord('alive', now))
  }

  get self (): NodeId { return this.#id }
  get incarnation (): number { return this.#incarnation }
  /** Lifeguard local health score, 0..awarenessMax−1. */
  get healthScore (): number { return this.#awareness.score }
  get counters (): Readonly<MembershipCounters> { return this.#counters }

  member (id: NodeId): MemberRecord | undefined {
    return this.#members.get(id)
  }

  * members (): Iterable<MemberRecord> {
    yield * this.#members.values()
  }

  liveCount (): number {
    return this.#live
  }

  /** When the last look at dead `id` went unanswered, if one did since it died. */
  lookFailedAt (id: NodeId): number | undefined {
    return this.#lookFailed.get(id)
  }

  /**
   * Probe a member held dead once more (directly, then through indirectChecks relays), before
   * something irreversible is done to it. An answer tells it it is held dead, so that it refutes;
   * silence until the probe's deadline is recorded in lookFailedAt. Nothing if it is not dead, a
   * look at it is in flight, or maxLooks are.
   */
  lastLook (id: NodeId, now: number): MemberEffects {
    this.#clock(now)
    const fx = effects()
    if (this.#left || this.#members.get(id)?.state !== 'dead' || this.#looking >= this.#config.maxLooks) return fx
    for (const probe of this.#probes.values()) if (probe.kind === 'look' && probe.target === id) return fx
    this.#counters.looks++
    this.#sendProbe('look', id, now, fx)
    return fx
  }

  /** When the suspicion of `id` runs out, if it is suspect. */
  suspicionDeadline (id: NodeId): number | undefined {
    return this.#suspicions.get(id)?.deadlineMs
  }

  /** Current knowledge of `id` as an update that can be sent again (push-pull repair). */
  updateFor (id: NodeId): MemberUpdate | undefined {
    const record = this.#members.get(id)
    if (record === undefined) return undefined
    return create(MemberUpdateSchema, {
      node: id,
      state: wireState(record.state),
      incarnation: record.incarnation,
      reporter: record.reporter,
      addrs: [...record.addrs],
      meta: record.meta,
    })
  }

  /** Announce ourselves. Again after leave(): a new incarnation, so the alive beats our left. */
  join (now: number): MemberEffects {
    this.#clock(now)
    const fx = effects()
    if (this.#left) {
      this.#left = false
      this.#incarnation = this.#bumped(this.#incarnation)
      this.#transition(this.#id, 'alive', this.#incarnation, this.#id, this.#addrs, this.#meta, now, fx)
    } else if (!this.#joined) {
      fx.changes.push({ node: this.#id, from: undefined, to: 'alive', incarnation: this.#incarnation, reporter: this.#id })
    }
    this.#joined = true
    fx.persistIncarnation = this.#incarnation
    fx.publish.push({ topic: 'members', body: member(this.#aliveUpdate()) })
    return fx
  }

  /** Graceful goodbye: left beats alive and suspect at our incarnation. No probing afterwards. */
  leave (now: number): MemberEffects {
    this.#clock(now)
    const fx = effects()
    if (this.#left) return fx
    this.#left = true
    for (const probe of this.#probes.values()) if (probe.kind === 'round') this.#probes.delete(probe.seq)
    this.#transition(this.#id, 'left', this.#incarnation, this.#id, this.#addrs, this.#meta, now, fx)
    fx.publish.push({ topic: 'members', body: member(this.#update(this.#id, 'left', this.#incarnation)) })
    return fx
  }

  /**
   * Gossip our alive again at the same incarnation: what join() published before this node had a
   * connection reached nobody. Receivers that already hold it change nothing.
   */
  reannounce (now: number): MemberEffects {
    this.#clock(now)
    const fx = effects()
    if (this.#left || !this.#joined) return fx
    fx.publish.push({ topic: 'members', body: member(this.#aliveUpdate()) })
    return fx
  }

  /** New addresses or meta: a new incarnation carries them. */
  setSelf (addrs: string[], meta: NodeMeta, now: number): MemberEffects {
    this.#clock(now)
    const fx = effects()
    this.#addrs = addrs.slice(0, this.#config.maxAddrs)
    this.#meta = meta
    if (this.#left) return fx
    this.#incarnation = this.#bumped(this.#incarnation)
    this.#announce(now, fx)
    return fx
  }

  tick (now: number): MemberEffects {
    this.#clock(now)
    const fx = effects()
    this.#expireRelays(now, fx)
    for (const probe of [...this.#probes.values()]) this.#advanceProbe(probe, now, fx)
    if (!this.#left && now >= this.#nextProbeAt) this.#startProbe(now, fx)
    this.#expireSuspicions(now, fx)
    this.#reap(now)
    return fx
  }

  nextWakeAt (): number {
    let at = this.#left ? Infinity : this.#nextProbeAt
    for (const probe of this.#probes.values()) at = Math.min(at, probe.relays === undefined ? probe.indirectAt : probe.deadline)
    for (const relay of this.#relays.values()) {
      at = Math.min(at, relay.deadline)
      break
    }
    const timer = this.#timers.peek()
    if (timer !== undefined) at = Math.min(at, timer.at)
    const tomb = this.#tombstones[this.#tombstoneHead]
    if (tomb !== undefined) at = Math.min(at, tomb.changedMs + this.#config.deadRetentionMs)
    return at
  }

  /** Direct-stream bodies: ping, ack, nack, ping_req, and member (the buddy system's suspicion). */
  receive (from: NodeId, body: Body, now: number): MemberEffects {
    this.#clock(now)
    const fx = effects()
    switch (body.case) {
      case 'ping': this.#onPing(from, body.value, fx); break
      case 'ack': this.#onAck(from, body.value, now, fx); break
      case 'nack': this.#onNack(from, body.value); break
      case 'pingReq': this.#onPingReq(from, body.value, now, fx); break
      case 'member': return this.apply(body.value, from, now)
      default: break
    }
    return fx
  }

  /** An update from gossip (or a direct send). `from` stands in for a missing reporter. */
  apply (update: MemberUpdate, from: NodeId, now: number): MemberEffects {
    this.#clock(now)
    const fx = effects()
    this.#applyUpdate(update, from, now, fx)
    return fx
  }

  /**
   * The member updates of one push-pull from `from`. What is news here (a member we held comes
   * back with a higher incarnation: a refutation, a new life) is gossiped again, at most
   * syncRegossipMax of them: gossip missed us, so it likely missed others around us. Signed by us,
   * as every gossip is signed by its reporter; receivers learn it by gossip and stop there.
   */
  repair (updates: readonly MemberUpdate[], from: NodeId, now: number): MemberEffects {
    this.#clock(now)
    const fx = effects()
    let regossiped = 0
    for (const update of updates) {
      const known = this.#members.has(update.node)
      const accepted = this.#applyUpdate(update, from, now, fx)
      if (!accepted || !known || update.state !== wireState('alive') || regossiped >= this.#config.syncRegossipMax) continue
      const relayed = this.updateFor(update.node)!
      relayed.reporter = this.#id
      fx.publish.push({ topic: 'members', body: member(relayed) })
      regossiped++
      this.#counters.regossiped++
    }
    return fx
  }

  /**
   * A message from `from` reached us (any body, already applied). A member we hold dead is told
   * so with our dead record, so that it refutes (and gossips its new alive); at most once per
   * deadNoticeIntervalMs each. A gossip reaches everyone who holds its sender dead at once, so
   * each of us answers one with probability deadNoticeGossipFanout / live members only.
   */
  heardFrom (from: NodeId, via: 'direct' | 'gossip', now: number): MemberEffects {
    this.#clock(now)
    const fx = effects()
    const record = this.#members.get(from)
    if (this.#left || record?.state !== 'dead') return fx
    const interval = this.#config.deadNoticeIntervalMs
    for (const [id, at] of this.#noticed) {
      if (now - at < interval) break
      this.#noticed.delete(id)
    }
    if (this.#noticed.has(from)) return fx
    if (via === 'gossip' && this.#rng.next() * this.#live >= this.#config.deadNoticeGossipFanout) return fx
    this.#noticed.set(from, now)
    assert(this.#noticed.size <= this.#config.maxMembers, `membership: ${this.#noticed.size} dead notices pending`)
    this.#counters.deadNotices++
    fx.send.push({ to: from, body: member(this.#update(from, 'dead', record.incarnation)) })
    return fx
  }

  /** True when the update replaced another node's record (about us: false, #aboutSelf speaks for itself). */
  #applyUpdate (update: MemberUpdate, from: NodeId, now: number, fx: MemberEffects): boolean {
    if (malformed(update, this.#config.maxAddrs) !== undefined) {
      this.#counters.ignored++
      return false
    }
    const state = stateName(update.state)!
    if (update.node === this.#id) {
      this.#aboutSelf(state, update.incarnation, from, now, fx)
      return false
    }
    const reporter = update.reporter === '' ? from : update.reporter
    const outcome = this.#applyOther(update.node, state, update.incarnation, reporter, update.addrs, update.meta, now, fx)
    if (outcome === 'ignored' && !this.#members.has(update.node)) this.#counters.ignored++
    return outcome === 'accepted'
  }

  // ---- self ------------------------------------------------------------------------------------

  #aboutSelf (state: MemberStateName, incarnation: number, from: NodeId, now: number, fx: MemberEffects): void {
    if (this.#left) return
    // An alive at our own incarnation is our own echo; anything else about a newer or equal
    // incarnation is an accusation (or a previous life's record) that must lose to a new alive.
    const stale = state === 'alive' ? incarnation <= this.#incarnation : incarnation < this.#incarnation
    if (stale) {
      // An accusation of an older life: its sender missed our alive. Tell it alone, not the fleet.
      if (state !== 'alive' && from !== this.#id) fx.send.push({ to: from, body: member(this.#aliveUpdate()) })
      return
    }
    this.#incarnation = this.#bumped(incarnation)
    this.#awareness.applyDelta(1)
    this.#counters.refutations++
    this.#announce(now, fx)
  }

  #announce (now: number, fx: MemberEffects): void {
    this.#transition(this.#id, 'alive', this.#incarnation, this.#id, this.#addrs, this.#meta, now, fx)
    fx.persistIncarnation = this.#incarnation
    fx.publish.push({ topic: 'members', body: member(this.#aliveUpdate()) })
  }

  #bumped (incarnation: number): number {
    assert(incarnation < Number.MAX_SAFE_INTEGER, `membership: incarnation ${incarnation} cannot grow`)
    return incarnation + 1
  }

  #selfRecord (state: MemberStateName, now: number): MemberRecord {
    return {
      id: this.#id, state, incarnation: this.#incarnation, addrs: this.#addrs, meta: this.#meta, changedMs: now, reporter: this.#id,
    }
  }

  #aliveUpdate (): MemberUpdate {
    return create(MemberUpdateSchema, {
      node: this.#id, state: wireState('alive'), incarnation: this.#incarnation, reporter: this.#id,
      addrs: [...this.#addrs], meta: this.#meta,
    })
  }

  #update (node: NodeId, state: MemberStateName, incarnation: number): MemberUpdate {
    return create(MemberUpdateSchema, { node, state: wireState(state), incarnation, reporter: this.#id })
  }

  // ---- others ----------------------------------------------------------------------------------

  #applyOther (
    id: NodeId, state: MemberStateName, incarnation: number, reporter: NodeId,
    addrs: readonly string[], meta: NodeMeta | undefined, now: number, fx: MemberEffects,
  ): Outcome {
    const prev = this.#members.get(id)
    const rule = precedence(prev, { state, incarnation })
    if (rule === 'ignore') return 'ignored'
    if (rule === 'confirm') {
      const suspicion = this.#suspicions.get(id)
      assert(suspicion !== undefined, `membership: ${id} is suspect without a suspicion`)
      if (!suspicion.confirm(reporter)) return 'ignored'
      this.#arm(id, suspicion)
      return 'confirmed'
    }
    if (prev === undefined && !this.#makeRoom()) return 'ignored'
    // Addresses and meta come with alive updates; the others keep what we knew.
    const keep = state !== 'alive' && prev !== undefined && prev.addrs.length > 0
    const nextAddrs = keep ? prev.addrs : addrs
    const nextMeta = state === 'alive' ? meta ?? prev?.meta : prev?.meta ?? meta
    this.#transition(id, state, incarnation, reporter, nextAddrs, nextMeta, now, fx)
    return 'accepted'
  }

  /** The one place a record changes: counters, ring, suspicion timer, tombstone queue, change. */
  #transition (
    id: NodeId, state: MemberStateName, incarnation: number, reporter: NodeId,
    addrs: readonly string[], meta: NodeMeta | undefined, now: number, fx: MemberEffects,
  ): void {
    const prev = this.#members.get(id)
    const record: MemberRecord = { id, state, incarnation, addrs, meta, changedMs: now, reporter }
    const wasLive = prev !== undefined && isLive(prev.state)
    if (wasLive !== isLive(state)) this.#live += isLive(state) ? 1 : -1
    this.#suspicions.delete(id)
    this.#lookFailed.delete(id)
    if (state === 'suspect') {
      const c = this.#config
      const { k, minMs, maxMs } = suspicionBounds(c.suspicionMult, c.suspicionMaxMult, c.suspicionMinMs, this.#live, c.probeIntervalMs)
      const suspicion = new Suspicion(reporter, incarnation, k, minMs, maxMs, now)
      this.#suspicions.set(id, suspicion)
      this.#arm(id, suspicion)
    }
    this.#members.set(id, record)
    if (id !== this.#id) {
      if (state === 'alive') this.#ring.insert(id)
      if (isTombstone(state)) this.#pushTombstone({ id, changedMs: now })
    }
    assert(this.#live >= 0 && this.#live <= this.#members.size, `membership: live count ${this.#live} of ${this.#members.size}`)
    fx.changes.push({ node: id, from: prev?.state, to: state, incarnation, reporter })
  }

  // ---- probing ---------------------------------------------------------------------------------

  #startProbe (now: number, fx: MemberEffects): void {
    this.#nextProbeAt = now + this.#awareness.scale(this.#config.probeIntervalMs)
    const every = this.#config.deadProbeEvery
    if (every > 0 && ++this.#roundsSinceDeadProbe >= every) {
      this.#roundsSinceDeadProbe = 0
      this.#probeTheDead(now, fx)
    }
    const target = this.#ring.next((id) => {
      const record = this.#members.get(id)
      return record !== undefined && isLive(record.state)
    })
    if (target === undefined) return
    this.#sendProbe('round', target, now, fx)
  }

  #sendProbe (kind: Probe['kind'], target: NodeId, now: number, fx: MemberEffects): void {
    const record = this.#members.get(target)!
    const seq = this.#nextSeq()
    this.#probes.set(seq, {
      kind, target, seq, incarnation: record.incarnation, relays: undefined, nacked: [], late: false,
      indirectAt: now + this.#awareness.scale(this.#config.probeTimeoutMs),
      deadline: now + this.#awareness.scale(this.#config.probeIntervalMs),
    })
    if (kind === 'verify') this.#verifications++
    if (kind === 'look') this.#looking++
    assert(this.#verifications <= this.#config.maxVerifications, 'membership: too many verifications')
    assert(this.#looking <= this.#config.maxLooks, 'membership: too many last looks')
    this.#counters.probes++
    fx.send.push({ to: target, body: { case: 'ping', value: create(PingSchema, { seq, target }) } })
    // Buddy system: a suspect we probe hears of its suspicion from us too, and can refute.
    if (record.state === 'suspect') fx.send.push({ to: target, body: member(this.#update(target, 'suspect', record.incarnation)) })
  }

  /**
   * Ping one member dead for less than deadProbeWindowMs, at random. Untracked: its ack changes
   * nothing here (only the member's own refutation makes it alive); what counts is that a live
   * one hears from us, and we from it (heardFrom, on both sides).
   */
  #probeTheDead (now: number, fx: MemberEffects): void {
    const tombs = this.#tombstones
    // The queue is in time order: find the first death inside the window.
    const since = now - this.#config.deadProbeWindowMs
    let lo = this.#tombstoneHead
    let hi = tombs.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (tombs[mid]!.changedMs <= since) lo = mid + 1
      else hi = mid
    }
    if (lo >= tombs.length) return
    // Bounded tries: stale entries (a flapping node, a member back alive) are skipped, not searched.
    for (let tries = 0; tries < 8; tries++) {
      const tomb = tombs[lo + pick(this.#rng, tombs.length - lo)]!
      const record = this.#members.get(tomb.id)
      if (record?.state !== 'dead' || record.changedMs !== tomb.changedMs) continue
      this.#counters.deadProbes++
      fx.send.push({ to: tomb.id, body: { case: 'ping', value: create(PingSchema, { seq: this.#nextSeq(), target: tomb.id }) } })
      return
    }
  }

  #endProbe (probe: Probe): void {
    this.#probes.delete(probe.seq)
    if (probe.kind === 'verify') this.#verifications--
    if (probe.kind === 'look') this.#looking--
    assert(this.#verifications >= 0 && this.#looking >= 0, 'membership: probe count below zero')
  }

  #advanceProbe (probe: Probe, now: number, fx: MemberEffects): void {
    if (probe.relays === undefined && now >= probe.indirectAt) {
      if (now - probe.indirectAt > this.#config.stallMs) probe.late = true
      probe.relays = this.#ring.sample(this.#config.indirectChecks, (id) =>
        id !== probe.target && this.#members.get(id)?.state === 'alive')
      if (probe.relays.length > 0) this.#counters.indirect++
      for (const relay of probe.relays) {
        fx.send.push({ to: relay, body: { case: 'pingReq', value: create(PingReqSchema, { seq: probe.seq, target: probe.target }) } })
      }
    }
    if (now < probe.deadline) return
    if (now - probe.deadline > this.#config.stallMs) probe.late = true
    this.#endProbe(probe)
    if (probe.kind === 'look') {
      // The dead owe us no ack: a silent look says nothing about our own health. A late one says
      // nothing about the target either; the caller asks again.
      if (probe.late || this.#members.get(probe.target)?.state !== 'dead') return
      this.#counters.looksFailed++
      this.#lookFailed.set(probe.target, now)
      return
    }
    if (probe.late) {
      // We were the slow one: what timed out says nothing about the target.
      this.#counters.inconclusive++
      this.#awareness.applyDelta(1)
      if (probe.kind === 'verify') this.#verified(probe, 'unsure', now)
      return
    }
    // Lifeguard: relays that did not even nack point at us, not at the target.
    const relays = probe.relays?.length ?? 0
    this.#awareness.applyDelta(relays > 0 ? Math.max(0, relays - probe.nacked.length) : 1)
    this.#counters.failed++
    if (probe.kind === 'verify') this.#verified(probe, 'failed', now, fx)
    else this.#suspect(probe.target, probe.incarnation, now, fx)
  }

  /** Our own probe failed: suspect, or confirm a suspicion we hold; say so once either way. */
  #suspect (target: NodeId, incarnation: number, now: number, fx: MemberEffects): void {
    if (!this.#members.has(target)) return
    const outcome = this.#applyOther(target, 'suspect', incarnation, this.#id, [], undefined, now, fx)
    if (outcome === 'ignored') return
    const update = this.#update(target, 'suspect', incarnation)
    fx.publish.push({ topic: 'members', body: member(update) })
    fx.send.push({ to: target, body: member(update) })
  }

  #onPing (from: NodeId, ping: Ping, fx: MemberEffects): void {
    // A ping for another node reached us through a stale address: silence is the right answer.
    if (ping.target !== this.#id) return
    fx.send.push({ to: from, body: { case: 'ack', value: create(AckSchema, { seq: ping.seq, target: this.#id }) } })
  }

  #onAck (from: NodeId, ack: Ack, now: number, fx: MemberEffects): void {
    const probe = this.#probes.get(ack.seq)
    if (probe !== undefined && ack.target === probe.target && (from === probe.target || (probe.relays?.includes(from) ?? false))) {
      this.#endProbe(probe)
      this.#counters.acked++
      this.#awareness.applyDelta(-1)
      if (probe.kind === 'verify') this.#verified(probe, 'answered', now)
      if (probe.kind === 'look') this.#lookAnswered(probe.target, now, fx)
      return
    }
    const relay = this.#relays.get(ack.seq)
    if (relay === undefined || ack.target !== relay.target || from !== relay.target) return
    this.#relays.delete(ack.seq)
    this.#counters.relayed++
    fx.send.push({ to: relay.requester, body: { case: 'ack', value: create(AckSchema, { seq: relay.seq, target: relay.target }) } })
  }

  /** A dead member answered a last look: tell it so now (not rate-limited as heardFrom is), so that it refutes. */
  #lookAnswered (id: NodeId, now: number, fx: MemberEffects): void {
    this.#counters.looksAnswered++
    const record = this.#members.get(id)
    if (record?.state !== 'dead') return
    this.#noticed.delete(id)
    this.#noticed.set(id, now)
    this.#counters.deadNotices++
    fx.send.push({ to: id, body: member(this.#update(id, 'dead', record.incarnation)) })
  }

  #onNack (from: NodeId, nack: Nack): void {
    const probe = this.#probes.get(nack.seq)
    if (probe === undefined || nack.target !== probe.target) return
    if (!(probe.relays?.includes(from) ?? false) || probe.nacked.includes(from)) return
    probe.nacked.push(from)
  }

  #onPingReq (from: NodeId, req: PingReq, now: number, fx: MemberEffects): void {
    if (req.target === '' || req.target === this.#id || req.target === from) return
    if (this.#relays.size >= this.#config.maxRelays) {
      this.#counters.relaysDropped++
      return
    }
    const seq = this.#nextSeq()
    // The relay's own timeout is not scaled: its nack must reach the prober inside the period.
    this.#relays.set(seq, { requester: from, seq: req.seq, target: req.target, deadline: now + this.#config.probeTimeoutMs })
    fx.send.push({ to: req.target, body: { case: 'ping', value: create(PingSchema, { seq, target: req.target }) } })
  }

  #expireRelays (now: number, fx: MemberEffects): void {
    for (const [seq, relay] of this.#relays) {
      if (relay.deadline > now) break
      this.#relays.delete(seq)
      fx.send.push({ to: relay.requester, body: { case: 'nack', value: create(NackSchema, { seq: relay.seq, target: relay.target }) } })
    }
  }

  #nextSeq (): number {
    this.#seq = this.#seq >= SEQ_WRAP ? 1 : this.#seq + 1
    return this.#seq
  }

  // ---- suspicion timers ------------------------------------------------------------------------

  /**
   * A suspicion that runs out is not yet a death: we probe the suspect once more (buddy suspicion
   * attached). Gossip can lose the suspect's refutation on its way to us, or the suspicion on its
   * way to the suspect; either way a live suspect answers this probe, and only a silent one dies.
   */
  #expireSuspicions (now: number, fx: MemberEffects): void {
    for (let top = this.#timers.peek(); top !== undefined && top.at <= now; top = this.#timers.peek()) {
      this.#timers.pop()
      const { id, suspicion } = top.item
      if (this.#suspicions.get(id) !== suspicion || suspicion.deadlineMs !== top.at || suspicion.verifying) continue
      if (this.#verifications >= this.#config.maxVerifications) {
        this.#declareDead(id, suspicion, now, fx)
        continue
      }
      suspicion.verifying = true
      this.#sendProbe('verify', id, now, fx)
    }
  }

  #verified (probe: Probe, outcome: 'answered' | 'unsure', now: number): void
  #verified (probe: Probe, outcome: 'failed', now: number, fx: MemberEffects): void
  #verified (probe: Probe, outcome: 'answered' | 'unsure' | 'failed', now: number, fx?: MemberEffects): void {
    const suspicion = this.#suspicions.get(probe.target)
    // Refuted, replaced or declared dead by gossip meanwhile: nothing left to decide.
    if (suspicion === undefined || suspicion.incarnation !== probe.incarnation || !suspicion.verifying) return
    suspicion.verifying = false
    if (outcome === 'failed') {
      this.#declareDead(probe.target, suspicion, now, fx!)
      return
    }
    // Its alive is on its way (a refutation of our buddy suspicion, or the answer to a stale one).
    if (outcome === 'answered') this.#counters.verifiedAlive++
    suspicion.rearm(now + suspicion.minMs)
    this.#arm(probe.target, suspicion)
  }

  #declareDead (id: NodeId, suspicion: Suspicion, now: number, fx: MemberEffects): void {
    // Only a reporter says so: every node runs its own timer, so N announcements would be noise.
    const reporter = suspicion.hasReporter(this.#id)
    const outcome = this.#applyOther(id, 'dead', suspicion.incarnation, this.#id, [], undefined, now, fx)
    assert(outcome === 'accepted', `membership: death of ${id} not accepted`)
    this.#counters.declaredDead++
    if (reporter) fx.publish.push({ topic: 'members', body: member(this.#update(id, 'dead', suspicion.incarnation)) })
  }

  /** (Re)schedule a suspicion's deadline; entries it moved away from go stale and are skipped. */
  #arm (id: NodeId, suspicion: Suspicion): void {
    // Stale entries wait for their time; with k up to mult − 2 per suspicion they can pile up.
    if (this.#timers.size >= 2 * this.#config.maxMembers + 32) {
      this.#timers.retain((e) => this.#suspicions.get(e.item.id) === e.item.suspicion && e.item.suspicion.deadlineMs === e.at)
    }
    this.#timers.push(suspicion.deadlineMs, { id, suspicion })
  }

  // ---- tombstones ------------------------------------------------------------------------------

  #pushTombstone (tomb: Tombstone): void {
    this.#tombstones.push(tomb)
    const pending = this.#tombstones.length - this.#tombstoneHead
    if (this.#tombstoneHead > 1024 && this.#tombstoneHead * 2 > this.#tombstones.length) {
      this.#tombstones = this.#tombstones.slice(this.#tombstoneHead)
      this.#tombstoneHead = 0
    } else if (pending > 2 * this.#config.maxMembers) {
      // A flapping node pushes one entry per death; keep only the ones that still stand.
      this.#tombstones = this.#tombstones.slice(this.#tombstoneHead).filter((t) => this.#isCurrent(t))
      this.#tombstoneHead = 0
    }
    assert(this.#tombstones.length - this.#tombstoneHead <= 2 * this.#config.maxMembers + 1, 'membership: tombstone queue unbounded')
  }

  #reap (now: number): void {
    const retention = this.#config.deadRetentionMs
    while (this.#tombstoneHead < this.#tombstones.length) {
      const tomb = this.#tombstones[this.#tombstoneHead]!
      if (tomb.changedMs + retention > now) break
      this.#tombstoneHead++
      if (this.#isCurrent(tomb)) this.#forget(tomb.id)
    }
  }

  /** Room for one more record: evict the oldest tombstone when full. */
  #makeRoom (): boolean {
    while (this.#members.size >= this.#config.maxMembers && this.#tombstoneHead < this.#tombstones.length) {
      const tomb = this.#tombstones[this.#tombstoneHead++]!
      if (this.#isCurrent(tomb)) this.#forget(tomb.id)
    }
    return this.#members.size < this.#config.maxMembers
  }

  #forget (id: NodeId): void {
    this.#members.delete(id)
    this.#lookFailed.delete(id)
  }

  #isCurrent (tomb: Tombstone): boolean {
    const record = this.#members.get(tomb.id)
    return record !== undefined && isTombstone(record.state) && record.changedMs === tomb.changedMs
  }

  #clock (now: number): void {
    assert(Number.isFinite(now) && now >= this.#now, `membership: time went from ${this.#now} to ${now}`)
    this.#now = now
  }
}
