// The planner (DESIGN.md §2, §6): level-triggered reconciliation. From the pools, the instances
// every provider lists, the mesh's picture of the nodes, the desired sizes and now, it returns the
// actions that move the world towards the pools: provision, cordon, drain, terminate. It never
// awaits; the driver (coordinator/runtime.ts) carries the actions out and tells it how they went.
//
// What it remembers is soft: a successor rebuilds it by listing the providers and reading the
// mesh (and the last pools report, for generations and dead-on-arrival attempts). Idempotency does
// not depend on it: a provision's token is a function of (fleet, pool, slot, generation), and the
// generation of a slot's next instance is one above the highest the clouds (or the last report)
// show, so a successor that re-decides an unfinished provision presents the same token.
import { create } from '@bufbuild/protobuf'
import { CommandKind, PoolStatusSchema, SlotStatusSchema, type PoolStatus, type PoolsReport, type SlotStatus } from '../proto/gen/shoal_pb.js'
import { assert } from '../agent/lib/assert.js'
import { DEFAULT_BACKOFF_CONFIG, OfferingBackoff, offeringKey, type BackoffConfig } from './backoff.js'
import { correlatedSilence, DEFAULT_CORRELATION_CONFIG, type CorrelatedGroup, type CorrelationConfig } from './correlation.js'
import type { ObservedNode } from './observed.js'
import type { Offer, PoolSpec } from './pool.js'
import type { Instance, ProviderErrorClass } from './providers/provider.js'
import { selectOffer } from './selector.js'
import { instanceName, provisionToken } from './token.js'

export interface PlannerConfig {
  /**
   * A node must look replace-class this long before a replacement starts. Gossip delivers a burst
   * of faults over a few hundred ms; waiting one beat lets the breaker see a correlated burst whole
   * instead of replacing its first few. Default 500 ms (of the 2 s p50 budget).
   */
  readonly replaceSettleMs: number
  /**
   * A node dead past dead_replace_after is looked at once more before it is replaced (a `look`:
   * one probe, direct and through relays; Membership.lastLook): its death may be the far side of
   * a partition that has healed since, and a node that answers refutes instead. The plan is made
   * again this long after a look is asked for, and the look asked again while it has no answer.
   * Default 1 s: four probe intervals, what a look takes unless the coordinator's own health
   * score stretches its probes.
   */
  readonly lastLookWaitMs: number
  /** A tagged instance no slot owns is reported at once and terminated after this. Default 10 min. */
  readonly orphanGraceMs: number
  /** A provision the driver reported done stays visible this long while listings catch up. Default 10 min. */
  readonly overlayMs: number
  /** Quota and fatal errors back an offering off for this long (retrying will not help soon). Default 30 min. */
  readonly hardBackoffMs: number
  /** Slots per pool are numbered below maxNodes × 2 + this; anything above is an orphan. */
  readonly slotHeadroom: number
  /**
   * The breaker needs at least this many bad nodes as well as the fraction: in a 2-node pool one
   * fault is 50%, and one fault is still one fault. Default 2.
   */
  readonly breakerMinBad: number
  readonly backoff: BackoffConfig
  readonly correlation: CorrelationConfig
}

export const DEFAULT_PLANNER_CONFIG: PlannerConfig = {
  replaceSettleMs: 500,
  lastLookWaitMs: 1_000,
  orphanGraceMs: 10 * 60_000,
  overlayMs: 10 * 60_000,
  hardBackoffMs: 30 * 60_000,
  slotHeadroom: 8,
  breakerMinBad: 2,
  backoff: DEFAULT_BACKOFF_CONFIG,
  correlation: DEFAULT_CORRELATION_CONFIG,
}

export interface PlanInput {
  readonly now: number
  readonly pools: readonly PoolSpec[]
  /** Desired size per pool (the autoscaler's or the operator's), already within [min, max]. */
  readonly desired: ReadonlyMap<string, number>
  /** Everything every provider listed (the driver keeps a provider's last good listing when a list call fails). */
  readonly instances: readonly Instance[]
  /** When each provider's listing in `instances` was taken: a remembered provision or terminate outlives a stale listing. */
  readonly listedAt?: ReadonlyMap<string, number>
  readonly nodes: readonly ObservedNode[]
  /** Advisory capacity by offering key, for the availability strategy. */
  readonly available?: ReadonlyMap<string, boolean>
  /** Pools not to plan now (a provider of theirs not listed yet); their instances are still theirs, not orphans. */
  readonly hold?: ReadonlySet<string>
}

export type NodeCommandKind = 'cordon' | 'drain' | 'uncordon'

/** The mesh command for a planner's node action (shared by the runtime and the simulator). */
export function commandKindOf (k: NodeCommandKind): CommandKind {
  return k === 'cordon' ? CommandKind.CORDON : k === 'drain' ? CommandKind.DRAIN : CommandKind.UNCORDON
}

export type TerminateCause = 'replaced' | 'dead-on-arrival' | 'scale-down' | 'orphan'

export type Action =
  | { readonly kind: 'provision', readonly key: string, readonly pool: string, readonly slot: number, readonly generation: number, readonly token: string, readonly name: string, readonly offer: Offer, readonly replaces: string | undefined, readonly reason: string }
  | { readonly kind: 'terminate', readonly key: string, readonly pool: string, readonly slot: number, readonly instance: Instance, readonly node: string | undefined, readonly cause: TerminateCause, readonly reason: string }
  | { readonly kind: NodeCommandKind, readonly key: string, readonly pool: string, readonly node: string, readonly reason: string }
  /** Probe a node held dead once more before replacing it (see lastLookWaitMs). */
  | { readonly kind: 'look', readonly key: string, readonly pool: string, readonly node: string, readonly reason: string }

export interface Plan {
  readonly actions: Action[]
  readonly pools: PoolStatus[]
  /** Things an operator should know that are not actions: breaker, correlated silence, orphans, failed slots. */
  readonly notices: string[]
  readonly correlated: CorrelatedGroup[]
  /**
   * The earliest time a waiting replacement falls due with nothing else changing: a bad verdict
   * settling, a dead node reaching dead_replace_after. The driver plans again then rather than at
   * its next interval (Infinity: nothing waiting).
   */
  readonly wakeAt: number
  /**
   * Until when this plan stands if nothing but time changes: no action, no provision pending, no
   * scale-down under way, and before the first time-based rule falls due (a settle, a dead grace,
   * a boot deadline, an orphan's grace, a remembered provision or terminate expiring). A plan
   * made again before then, on the same inputs, would decide the same; the driver may skip it.
   * `now`: it may not (something is in progress, and plans retry it).
   */
  readonly idleUntil: number
}

interface Pending {
  generation: number
  token: string
  offer: Offer | undefined
  pinned: boolean
  since: number
  replaces: string | undefined
  /** The node being replaced has been seen cordoned since this was decided (our cordon landed). */
  sawCordon: boolean
}

/**
 * A pool's slots in a plan, by slot number: an array rather than a map, as slots are small
 * non-negative integers (below maxSlot, or a pending provision's), and a plan looks each up a few
 * times. Nothing reads them in insertion order; `sorted` lists them in slot order.
 */
class Slots {
  readonly #lists: Array<Instance[] | undefined>
  #size = 0

  constructor (maxSlot: number) {
    this.#lists = new Array<Instance[] | undefined>(maxSlot).fill(undefined)
  }

  get size (): number { return this.#size }
  get (slot: number): Instance[] | undefined { return this.#lists[slot] }
  has (slot: number): boolean { return this.#lists[slot] !== undefined }

  /** A slot not present yet. */
  add (slot: number, list: Instance[]): void {
    if (!Number.isSafeInteger(slot) || slot < 0 || this.#lists[slot] !== undefined) assert(false, `bad slot ${slot}`)
    this.#lists[slot] = list
    this.#size++
  }

  sorted (): number[] {
    const out: number[] = []
    for (let s = 0; s < this.#lists.length; s++) if (this.#lists[s] !== undefined) out.push(s)
    return out
  }
}

/** A slot whose instance a scale-down may take (node undefined: still booting). */
interface ActiveSlot { readonly slot: number, readonly node: ObservedNode | undefined, readonly instance: Instance }

interface SlotCache {
  readonly keys: string[]
  readonly generations: Array<number | undefined>
  /** The slot's current instance's node as #nodeIndex placed it: valid while nodeRound is #nodeRound and the id and name match. */
  readonly nodeRound: number[]
  readonly nodeId: string[]
  readonly nodeName: string[]
  readonly nodeAt: Array<number | undefined>
  /** The slot's current instance's #firstSeen entry: valid while seenRound is #seenRound and the id matches. */
  readonly seenRound: number[]
  readonly seenId: string[]
  readonly seen: number[]
}

interface NodeIndex { readonly nodes: ObservedNode[], readonly byId: Map<string, number>, readonly byName: Map<string, number> }

type JoinState = { kind: 'joined', node: ObservedNode } | { kind: 'booting', node: ObservedNode | undefined } | { kind: 'doa', why: string }

const MAX_NOTICES = 64
const MAX_MINE = 65_536
/** Slot keys are cached for slots below this, in at most this many pools (orphans' tags can name any). */
const MAX_KEY_CACHE_SLOT = 1 << 17
const MAX_KEY_CACHE_POOLS = 256
/** Empty slots (scaled down) reported per pool with their generation; failed slots are always reported. */
const REPORTED_EMPTY_SLOTS = 64
const UNCONFIRMED_STATES: ReadonlySet<string> = new Set(['booting', 'replacing', 'active', 'cordoned', 'draining', 'terminating', 'unhealthy'])
/** Orphans terminated per plan: a coordinator file that lost a pool must not wipe it out in one go. */
const MAX_ORPHAN_TERMINATIONS = 1

function slotKey (pool: string, slot: number): string {
  return `${pool}#${slot}`
}

/**
 * A fresh slot status, as `create(SlotStatusSchema, { index, generation, attempts })` makes it
 * (proto3: a plain object, every field present, in declaration order; checked once below), built
 * as a literal: a plan makes one per slot, and create() walking the descriptor was a sixth of a
 * 10,000-node plan.
 */
function slotStatus (index: number, generation: number, attempts: number): SlotStatus {
  return { $typeName: SLOT_STATUS_TYPE, index, generation, state: '', node: '', instanceId: '', provider: '', replacementInstanceId: '', attempts, detail: '' }
}
const SLOT_STATUS_TYPE = SlotStatusSchema.typeName as SlotStatus['$typeName']

type PoolStatusInit = Pick<PoolStatus, 'name' | 'min' | 'max' | 'desired' | 'current' | 'healthy' | 'unhealthy' | 'replacing' | 'breakerOpen' | 'breakerReason' | 'slots'>

/**
 * `create(PoolStatusSchema, init)` as a literal, for the same reason (create() also checks every
 * slot is a message, and copies the list). The optional fields (scale, queue depth) are absent,
 * as create() leaves them.
 */
function poolStatus (p: PoolStatusInit): PoolStatus {
  return {
    $typeName: POOL_STATUS_TYPE, name: p.name, min: p.min, max: p.max, desired: p.desired, current: p.current, healthy: p.healthy, unhealthy: p.unhealthy,
    replacing: p.replacing, queueSetMs: 0, autoscaler: '', autoscalerReason: '', breakerOpen: p.breakerOpen, breakerReason: p.breakerReason, slots: p.slots, notices: [],
  }
}
const POOL_STATUS_TYPE = PoolStatusSchema.typeName as PoolStatus['$typeName']
{
  const same = (a: object, b: object): boolean => JSON.stringify(Object.entries(a)) === JSON.stringify(Object.entries(b))
  assert(same(create(SlotStatusSchema, { index: 3, generation: 2, attempts: 1 }), slotStatus(3, 2, 1)), 'slotStatus() no longer matches create(SlotStatusSchema): update it')
  const init = { name: 'p', min: 1, max: 2, desired: 2, current: 1, healthy: 1, unhealthy: 0, replacing: 1, breakerOpen: true, breakerReason: 'r', slots: [slotStatus(0, 1, 0)] }
  assert(same(create(PoolStatusSchema, init), poolStatus(init)), 'poolStatus() no longer matches create(PoolStatusSchema): update it')
}

/** The first of the lowest generation: what a stable sort by generation puts first. */
function oldest (list: readonly Instance[]): Instance | undefined {
  let first = list[0]
  for (let k = 1; k < list.length; k++) if (list[k]!.tags!.generation < first!.tags!.generation) first = list[k]
  return first
}

function byGeneration (a: Instance, b: Instance): number {
  return a.tags!.generation - b.tags!.generation
}

function live (i: Instance): boolean {
  return i.state === 'pending' || i.state === 'running'
}

export class Planner {
  readonly #fleet: string
  readonly #c: PlannerConfig
  readonly #backoff: OfferingBackoff
  /** Highest generation seen per slot (listings, the overlay, the last report). */
  readonly #generation = new Map<string, number>()
  readonly #attempts = new Map<string, number>()
  readonly #pending = new Map<string, Pending>()
  /** Provisions the driver reported done, by instance id, until a listing shows them. */
  readonly #overlay = new Map<string, { instance: Instance, at: number }>()
  /** Instances terminated by us, by id, until listings stop showing them live. */
  readonly #gone = new Map<string, { at: number, provider: string }>()
  readonly #firstSeen = new Map<string, number>()
  readonly #badSince = new Map<string, number>()
  readonly #turn = new Map<string, number>()
  /** Instances this planner provisioned: young by definition, judged from their launch. */
  readonly #mine = new Set<string>()
  /** Generations a predecessor's report says it decided, not yet seen in a listing: re-sent, not skipped. */
  readonly #unconfirmed = new Map<string, number>()
  /** Nodes this planner cordoned for a scale-down: uncordoned if the pool grows back first. */
  readonly #shrinking = new Set<string>()
  /** Per pool, the highest generation the seeding report carried. */
  readonly #floor = new Map<string, number>()
  /** Dead-on-arrival instances already counted as an attempt (the terminate takes a few rounds to show). */
  readonly #counted = new Set<string>()
  /** When each orphan was first seen, by instance id (its grace period runs from then). */
  readonly #orphanSeen = new Map<string, number>()
  /** #pending's slot key by token (a token is a hash of the slot and generation: one slot each). */
  readonly #pendingByToken = new Map<string, string>()
  /**
   * #generation's keys per pool, as [slot, key] in #generation's order, with the pool and slot
   * read back from the key as the history in #planPool always did: it reads one pool's slots
   * without splitting every key of every pool on every plan.
   */
  readonly #generationKeys = new Map<string, Array<[number, string]>>()
  /** The last plan's nodes and their index (see #nodeIndex). */
  #nodesSeen: NodeIndex | undefined
  /** Bumped whenever #nodeIndex builds its maps, and whenever #forget sweeps: see SlotCache. */
  #nodeRound = 0
  #seenRound = 0
  /** The instance ids of the last #forget's sweep, in order. */
  #forgotAt: string[] = []
  /**
   * Per pool, by slot: the slot's key, built once (a plan looks each slot up a few times, and a
   * fresh string hashes again), and its #generation entry, mirrored (an array read, not a hash).
   * A pool's cache starts before its first generation is written (both go through #cache), so
   * the mirror has every entry of the slots it holds.
   */
  readonly #keys = new Map<string, SlotCache>()
  /** The earliest time-based rule of this plan falling due later (see Plan.idleUntil). */
  #due = Infinity
  /** The pool #cache answered for last: a plan asks for one pool's slots in a row. */
  #lastCache: { readonly pool: string, readonly cache: SlotCache } | undefined

  constructor (fleet: string, c: PlannerConfig = DEFAULT_PLANNER_CONFIG) {
    this.#fleet = fleet
    this.#c = c
    this.#backoff = new OfferingBackoff(c.backoff)
  }

  get backoff (): OfferingBackoff { return this.#backoff }
  /** Provisions reported done or instances terminated that a listing has yet to confirm: each listing may settle one. */
  get remembering (): boolean { return this.#overlay.size > 0 || this.#gone.size > 0 }

  /** The pool's slot cache, when this slot is one it holds. */
  #cache (pool: string, slot: number): SlotCache | undefined {
    if (!Number.isInteger(slot) || slot < 0 || slot >= MAX_KEY_CACHE_SLOT) return undefined
    if (this.#lastCache?.pool === pool) return this.#lastCache.cache
    let c = this.#keys.get(pool)
    if (c === undefined) {
      if (this.#keys.size >= MAX_KEY_CACHE_POOLS) return undefined
      c = { keys: [], generations: [], nodeRound: [], nodeId: [], nodeName: [], nodeAt: [], seenRound: [], seenId: [], seen: [] }
      this.#keys.set(pool, c)
    }
    this.#lastCache = { pool, cache: c }
    return c
  }

  #key (pool: string, slot: number): string {
    const c = this.#cache(pool, slot)
    return c === undefined ? slotKey(pool, slot) : c.keys[slot] ??= slotKey(pool, slot)
  }

  /** #generation.get(key) for this (pool, slot) key. */
  #generationOf (pool: string, slot: number, key: string): number | undefined {
    const c = this.#cache(pool, slot)
    return c === undefined ? this.#generation.get(key) : c.generations[slot]
  }

  /** Raises a slot's highest generation (never lowers it). Every write to #generation is here. */
  #raiseGeneration (pool: string, slot: number, generation: number): void {
    const c = this.#cache(pool, slot)
    const key = c === undefined ? slotKey(pool, slot) : c.keys[slot] ??= slotKey(pool, slot)
    const was = c === undefined ? this.#generation.get(key) : c.generations[slot]
    if (was !== undefined) {
      if (generation > was) {
        this.#generation.set(key, generation)
        if (c !== undefined) c.generations[slot] = generation
      }
      return
    }
    this.#generation.set(key, Math.max(0, generation))
    if (c !== undefined) c.generations[slot] = Math.max(0, generation)
    const [name, index] = key.split('#')
    let keys = this.#generationKeys.get(name!)
    if (keys === undefined) this.#generationKeys.set(name!, keys = [])
    keys.push([Number(index), key])
  }

  #setPending (key: string, p: Pending): void {
    this.#pending.set(key, p)
    this.#pendingByToken.set(p.token, key)
  }

  #dropPending (key: string): void {
    const p = this.#pending.get(key)
    if (p === undefined) return
    this.#pending.delete(key)
    if (this.#pendingByToken.get(p.token) === key) this.#pendingByToken.delete(p.token)
  }

  /** A successor's start: generations and attempts from the last pools report it heard. */
  seed (report: PoolsReport): void {
    for (const p of report.pools) {
      const top = p.slots.reduce((m, s) => Math.max(m, s.generation), 0)
      this.#floor.set(p.name, Math.max(this.#floor.get(p.name) ?? 0, top))
      for (const s of p.slots) {
        const key = this.#key(p.name, s.index)
        this.#raiseGeneration(p.name, s.index, s.generation)
        if (s.attempts > 0) this.#attempts.set(key, s.attempts)
        // An instance of this generation should exist: re-send its token rather than skip it if
        // the first listing lags. Not for an emptied or failed slot: that generation is gone.
        if (s.generation > 0 && UNCONFIRMED_STATES.has(s.state)) this.#unconfirmed.set(key, s.generation)
      }
    }
  }

  /** An operator acted on the pool (`shoal scale`): its failed slots may try again. */
  resetAttempts (pool: string): void {
    for (const key of this.#attempts.keys()) if (key.startsWith(`${pool}#`)) this.#attempts.delete(key)
  }

  // ---- what the driver reports back -----------------------------------------------------------

  provisioned (token: string, instance: Instance, now: number): void {
    const key = this.#pendingByToken.get(token)
    const p = key === undefined ? undefined : this.#pending.get(key)
    if (p !== undefined) {
      if (p.offer !== undefined) this.#backoff.success(offeringKey(p.offer))
      this.#dropPending(key!)
    }
    this.#overlay.set(instance.id, { instance, at: now })
    this.#mine.add(instance.id)
    if (this.#mine.size > MAX_MINE) this.#mine.delete(this.#mine.values().next().value as string)
  }

  /** A provision failed after the driver's retries. Returns what the operator should read. */
  provisionFailed (token: string, errorClass: ProviderErrorClass, message: string, now: number): string {
    const at = this.#pendingByToken.get(token)
    const entry = at === undefined ? undefined : this.#pending.get(at)
    if (entry === undefined || entry.offer === undefined) return `provision ${token}: ${message}`
    const key = offeringKey(entry.offer)
    switch (errorClass) {
      case 'capacity': {
        const ms = this.#backoff.capacityError(key, now)
        entry.offer = undefined
        entry.pinned = false
        return `${key}: out of capacity (${message}); backed off ${Math.round(ms / 60_000)} min, trying the next offering`
      }
      case 'quota': case 'fatal': case 'not-found': {
        // Nothing was created (the cloud refused): another offering is safe, this one is hopeless for now.
        this.#backoff.block(key, now, this.#c.hardBackoffMs)
        entry.offer = undefined
        entry.pinned = false
        return `${key}: ${errorClass} (${message}); backed off, trying the next offering`
      }
      case 'rate-limited': case 'transient':
        // The call may have created the instance: retry the same offering with the same token, never another.
        entry.pinned = true
        return `${key}: ${errorClass} (${message}); will retry the same request`
    }
  }

  terminated (instanceId: string, now: number, provider = ''): void {
    this.#gone.set(instanceId, { at: now, provider })
    this.#overlay.delete(instanceId)
  }

  // ---- the plan -------------------------------------------------------------------------------

  plan (input: PlanInput): Plan {
    const now = input.now
    this.#due = Infinity
    const actions: Action[] = []
    const notices: string[] = []
    const statuses: PoolStatus[] = []
    const instances = this.#instances(input.instances, now, input.listedAt)
    const { nodes: at, byId, byName } = this.#nodeIndex(input.nodes)
    const nodeOf = (i: Instance): ObservedNode | undefined => {
      const k = byId.get(i.id) ?? byName.get(i.name)
      return k === undefined ? undefined : at[k]
    }
    const correlated = correlatedSilence(input.nodes, this.#c.correlation)
    for (const g of correlated.groups) notices.push(`correlated silence in ${g.scope} ${g.name}: ${g.silent.length} of ${g.size} nodes; not replacing them`)
    this.#trackBad(input.nodes, correlated.nodes, now)
    if (this.#shrinking.size > 0) {
      const present = new Set(input.nodes.filter((n) => n.member !== 'left' && n.member !== 'dead').map((n) => n.id))
      for (const id of this.#shrinking) if (!present.has(id)) this.#shrinking.delete(id)
    }

    const known = new Set(input.pools.map((p) => p.name))
    const orphans: Instance[] = []
    const byPool = new Map<string, Instance[]>()
    for (const i of instances) {
      if (i.tags === null || i.tags.fleet !== this.#fleet) continue
      const key = this.#key(i.tags.pool, i.tags.slot)
      this.#raiseGeneration(i.tags.pool, i.tags.slot, i.tags.generation)
      if (this.#unconfirmed.size > 0 && (this.#unconfirmed.get(key) ?? Infinity) <= i.tags.generation) this.#unconfirmed.delete(key)
      if (this.#pendingByToken.size > 0) {
        const k = this.#pendingByToken.get(i.tags.token)
        if (k !== undefined) this.#dropPending(k)
      }
      if (!live(i)) continue
      if (!known.has(i.tags.pool)) orphans.push(i)
      else {
        const list = byPool.get(i.tags.pool)
        if (list === undefined) byPool.set(i.tags.pool, [i])
        else list.push(i)
      }
    }
    for (const pool of input.pools) {
      if (input.hold?.has(pool.name) === true) continue
      const desired = input.desired.get(pool.name) ?? pool.minNodes
      assert(desired >= pool.minNodes && desired <= pool.maxNodes, `pool ${pool.name}: desired ${desired} outside [${pool.minNodes}, ${pool.maxNodes}]`)
      statuses.push(this.#planPool(pool, desired, byPool.get(pool.name) ?? [], nodeOf, correlated.nodes, input, actions, notices, orphans))
    }
    this.#reapOrphans(orphans, nodeOf, now, actions, notices)
    this.#forget(now, instances, input.instances, input.listedAt)
    const wakeAt = this.#wakeAt(input, actions, now)
    const idle = actions.length === 0 && this.#pending.size === 0 && this.#shrinking.size === 0
    return {
      actions, pools: statuses, notices: notices.slice(0, MAX_NOTICES), correlated: correlated.groups, wakeAt,
      idleUntil: idle ? Math.min(wakeAt, this.#due) : now,
    }
  }

  /** A rule that reads the clock changes its answer at `at` (see Plan.idleUntil). */
  #dueAt (at: number, now: number): void {
    if (at > now && at < this.#due) this.#due = at
  }

  /**
   * The position of the node with each instance id and each name (the last one wins, as a map
   * built in order would have it), and the nodes. Kept between plans: positions depend only on
   * the ids and names in order, so while those are unchanged (a health or member update replaces
   * a node's record, not its place) the new records are copied in and the maps stay.
   */
  #nodeIndex (nodes: readonly ObservedNode[]): NodeIndex {
    const last = this.#nodesSeen
    if (last !== undefined && last.nodes.length === nodes.length) {
      let k = 0
      for (; k < nodes.length; k++) {
        const was = last.nodes[k]!
        const n = nodes[k]!
        if (was === n) continue
        if (was.instanceId !== n.instanceId || was.name !== n.name) break
        last.nodes[k] = n
      }
      if (k === nodes.length) return last
    }
    const byId = new Map<string, number>()
    const byName = new Map<string, number>()
    for (let k = 0; k < nodes.length; k++) {
      const n = nodes[k]!
      if (n.instanceId !== '') byId.set(n.instanceId, k)
      if (n.name !== '') byName.set(n.name, k)
    }
    this.#nodesSeen = { nodes: nodes.slice(), byId, byName }
    this.#nodeRound++
    return this.#nodesSeen
  }

  /** nodeOf(i) for a slot's current instance, remembered per slot (the maps are the same until #nodeIndex rebuilds them). */
  #slotNode (pool: string, slot: number, i: Instance): ObservedNode | undefined {
    const ix = this.#nodesSeen!
    const c = this.#cache(pool, slot)
    let k: number | undefined
    if (c !== undefined && c.nodeRound[slot] === this.#nodeRound && c.nodeId[slot] === i.id && c.nodeName[slot] === i.name) k = c.nodeAt[slot]
    else {
      k = ix.byId.get(i.id) ?? ix.byName.get(i.name)
      if (c !== undefined) {
        c.nodeRound[slot] = this.#nodeRound
        c.nodeId[slot] = i.id
        c.nodeName[slot] = i.name
        c.nodeAt[slot] = k
      }
    }
    return k === undefined ? undefined : ix.nodes[k]
  }

  /** #firstSeen's entry for the instance, made now if it has none; remembered per slot until #forget next sweeps. */
  #firstSeenOf (i: Instance, now: number, c: SlotCache | undefined, slot: number): number {
    if (c !== undefined && c.seenRound[slot] === this.#seenRound && c.seenId[slot] === i.id) return c.seen[slot]!
    let seen = this.#firstSeen.get(i.id)
    if (seen === undefined) this.#firstSeen.set(i.id, seen = now)
    if (c !== undefined) {
      c.seenRound[slot] = this.#seenRound
      c.seenId[slot] = i.id
      c.seen[slot] = seen
    }
    return seen
  }

  /** Listed instances, plus provisions reported done and not listed yet, minus what we terminated. */
  #instances (listed: readonly Instance[], now: number, listedAt: ReadonlyMap<string, number> | undefined): readonly Instance[] {
    if (this.#gone.size === 0 && this.#overlay.size === 0) return listed
    const out: Instance[] = []
    const ids = new Set<string>()
    for (const i of listed) {
      ids.add(i.id)
      if (this.#gone.size > 0 && this.#gone.has(i.id) && live(i)) continue
      out.push(i)
    }
    for (const [id, o] of this.#overlay) {
      // Forgotten only once a listing taken after it had its chance to show it.
      const newer = (listedAt?.get(o.instance.provider) ?? Infinity) > o.at
      if (ids.has(id)) this.#overlay.delete(id)
      else if (now - o.at > this.#c.overlayMs && newer) this.#overlay.delete(id)
      else {
        out.push(o.instance)
        this.#dueAt(o.at + this.#c.overlayMs + 1, now)
      }
    }
    return out
  }

  #trackBad (nodes: readonly ObservedNode[], correlated: ReadonlySet<string>, now: number): void {
    const bad = new Set<string>()
    for (const n of nodes) {
      if (this.#replaceClass(n, correlated, now) === undefined) continue
      bad.add(n.id)
      if (!this.#badSince.has(n.id)) this.#badSince.set(n.id, now)
    }
    for (const id of this.#badSince.keys()) if (!bad.has(id)) this.#badSince.delete(id)
  }

  /** Why this node should be replaced, or undefined. */
  #replaceClass (n: ObservedNode, correlated: ReadonlySet<string>, now: number, pool?: PoolSpec): string | undefined {
    if (n.health === 'unhealthy' && n.action === 'replace' && (n.member === 'alive' || n.member === 'suspect')) return 'its verdict says replace'
    if (n.bootGatePassed === false && (n.member === 'alive' || n.member === 'suspect')) return 'its boot gate fails'
    if (n.member === 'dead' && !correlated.has(n.id)) {
      const after = pool?.health.deadReplaceAfterMs ?? 0
      if (now - n.memberSinceMs >= after) return `dead for ${Math.round((now - n.memberSinceMs) / 1000)} s`
    }
    return undefined
  }

  #wakeAt (input: PlanInput, actions: readonly Action[], now: number): number {
    let at = actions.some((a) => a.kind === 'look') ? now + this.#c.lastLookWaitMs : Infinity
    for (const since of this.#badSince.values()) if (since + this.#c.replaceSettleMs > now) at = Math.min(at, since + this.#c.replaceSettleMs)
    const deadAfter = new Map(input.pools.map((p) => [p.name, p.health.deadReplaceAfterMs]))
    for (const n of input.nodes) {
      if (n.member !== 'dead') continue
      const due = n.memberSinceMs + (deadAfter.get(n.pool) ?? Infinity)
      if (due > now) at = Math.min(at, due)
    }
    return at
  }

  #settled (n: ObservedNode, now: number): boolean {
    const since = this.#badSince.get(n.id)
    return since !== undefined && now - since >= this.#c.replaceSettleMs
  }

  /**
   * `incoming`: a replacement that must prove itself (one that joins already broken is dead on
   * arrival). A slot's established instance is judged by this planner's own sight of it: a
   * coordinator that has just taken over, or has not heard a node's health yet, gives it a full
   * boot deadline from now, never from a launch hours ago. A boot gate that fails on an instance
   * older than the deadline (an agent restarted after a driver update) is a fault to replace
   * through the usual path, not a dead-on-arrival terminate.
   */
  #joinState (i: Instance, node: ObservedNode | undefined, pool: PoolSpec, now: number, incoming: boolean, slot?: number): JoinState {
    const seen = this.#firstSeenOf(i, now, slot === undefined ? undefined : this.#cache(pool.name, slot), slot ?? 0)
    const launched = i.launchedMs > 0 ? i.launchedMs : seen
    const since = incoming || this.#mine.has(i.id) ? launched : seen
    const young = now - launched <= pool.health.bootDeadlineMs
    if (node?.bootGatePassed === false) this.#dueAt(launched + pool.health.bootDeadlineMs + 1, now)
    if (node !== undefined && node.bootGatePassed === false && (incoming || young)) return { kind: 'doa', why: 'its boot gate failed' }
    if (node !== undefined && node.bootGatePassed !== undefined && (node.member === 'alive' || node.member === 'suspect')) {
      return incoming && node.health === 'unhealthy' && node.action === 'replace' ? { kind: 'doa', why: 'it joined unhealthy' } : { kind: 'joined', node }
    }
    if (node !== undefined && node.bootGatePassed !== undefined) return { kind: 'joined', node }
    if (now - since > pool.health.bootDeadlineMs) return { kind: 'doa', why: `no agent joined within ${Math.round(pool.health.bootDeadlineMs / 1000)} s` }
    this.#dueAt(since + pool.health.bootDeadlineMs + 1, now)
    return { kind: 'booting', node }
  }

  /**
   * One above the highest generation seen, except that a generation a predecessor reported and no
   * listing has shown yet is sent again with its own token: the cloud returns the instance if it
   * exists (a listing lagging behind a launch), or makes it.
   */
  #nextGeneration (key: string): number {
    const unconfirmed = this.#unconfirmed.get(key)
    if (unconfirmed !== undefined) {
      this.#unconfirmed.delete(key)
      return unconfirmed
    }
    const own = this.#generation.get(key)
    if (own !== undefined) return own + 1
    // No record of this slot: above every generation the last report had for the pool (its
    // emptied slots beyond the reported ones may have used any of them).
    return (this.#floor.get(key.split('#')[0]!) ?? 0) + 1
  }

  /** Emits (or re-emits) the provision for a slot; returns false when no offering is open. */
  #provision (pool: PoolSpec, slot: number, replaces: string | undefined, reason: string, input: PlanInput, actions: Action[], notices: string[]): boolean {
    const key = this.#key(pool.name, slot)
    let p = this.#pending.get(key)
    if (p === undefined) {
      const generation = this.#nextGeneration(key)
      p = { generation, token: provisionToken(this.#fleet, pool.name, slot, generation), offer: undefined, pinned: false, since: input.now, replaces, sawCordon: false }
      this.#setPending(key, p)
    }
    if (p.offer === undefined || (!p.pinned && this.#backoff.blocked(offeringKey(p.offer), input.now))) {
      const turn = this.#turn.get(pool.name) ?? 0
      p.offer = selectOffer({ strategy: pool.strategy, offers: pool.offers, blocked: (k) => this.#backoff.blocked(k, input.now), turn, available: input.available ?? new Map() })
      if (p.offer !== undefined) this.#turn.set(pool.name, turn + 1)
    }
    if (p.offer === undefined) {
      const next = Math.min(...pool.offers.map((o) => this.#backoff.until(offeringKey(o), input.now)))
      notices.push(`pool ${pool.name}: every offering is backed off; slot ${slot} waits until ${new Date(next).toISOString()}`)
      return false
    }
    actions.push({
      kind: 'provision', key: `provision:${p.token}`, pool: pool.name, slot, generation: p.generation, token: p.token,
      name: instanceName(pool.name, slot, p.generation, p.token), offer: p.offer, replaces: p.replaces, reason,
    })
    return true
  }

  #planPool (
    pool: PoolSpec, desired: number, mine: Instance[], nodeOf: (i: Instance) => ObservedNode | undefined,
    correlated: ReadonlySet<string>, input: PlanInput, actions: Action[], notices: string[], orphans: Instance[],
  ): PoolStatus {
    const now = input.now
    const maxSlot = pool.maxNodes * 2 + this.#c.slotHeadroom
    const slots = new Slots(maxSlot)
    for (const i of mine) {
      const slot = i.tags!.slot
      if (slot >= maxSlot) { orphans.push(i); continue }
      const list = slots.get(slot)
      if (list === undefined) slots.add(slot, [i])
      else list.push(i)
    }
    // Scale-up provisions that have not launched are withdrawn first when the pool wants fewer
    // nodes (a queue that drained while the offerings were backed off): never drain a running node
    // in favour of one that does not exist. A pinned one may exist (its answer was lost): it stays.
    const withInstances = slots.size // every list so far holds an instance
    if (this.#pending.size > 0) {
      const prefix = `${pool.name}#`
      const fills = [...this.#pending.entries()]
        .filter(([k, p]) => k.startsWith(prefix) && p.replaces === undefined && !p.pinned && !slots.has(Number(k.split('#')[1])))
        .sort((a, b) => Number(b[0].split('#')[1]) - Number(a[0].split('#')[1]))
      let excess = withInstances + fills.length - desired
      for (const [k] of fills) {
        if (excess-- <= 0) break
        this.#dropPending(k)
      }
      for (const key of this.#pending.keys()) {
        const [name, s] = key.split('#')
        if (name === pool.name && !slots.has(Number(s))) slots.add(Number(s), [])
      }
    }
    // The breaker counts the nodes that fill slots now (not incoming replacements).
    let bad = 0
    let occupied = 0
    const sorted = slots.sorted()
    // Each slot's current instance's node, found once: the slot loop below asks again.
    const currentNode: Array<ObservedNode | undefined> = new Array(sorted.length)
    for (let k = 0; k < sorted.length; k++) {
      const current = oldest(slots.get(sorted[k]!)!)
      if (current === undefined) continue
      occupied++
      const n = currentNode[k] = this.#slotNode(pool.name, sorted[k]!, current)
      if (n !== undefined && (n.member === 'dead' || (n.health === 'unhealthy' && n.member !== 'left'))) bad++
    }
    const breakerOpen = bad >= this.#c.breakerMinBad && bad / occupied > pool.health.breakerFraction
    const breakerReason = breakerOpen ? `${bad} of ${occupied} nodes unhealthy or dead (over ${Math.round(pool.health.breakerFraction * 100)}%): automatic replacement halted` : ''
    if (breakerOpen) notices.push(`pool ${pool.name}: breaker open: ${breakerReason}`)

    const status: SlotStatus[] = []
    let inFlight = 0
    let healthy = 0
    let unhealthy = 0
    // Slots a scale-down may take, as positions in `sorted` and their nodes (undefined: booting);
    // made into records only when a scale-down or a regrow needs them.
    const activeAt: number[] = []
    const activeNode: Array<ObservedNode | undefined> = []
    const keys: string[] = new Array(sorted.length)
    // In-flight replacements first, so the limit counts them before new ones start.
    for (let k = 0; k < sorted.length; k++) {
      const slot = sorted[k]!
      const key = keys[k] = this.#key(pool.name, slot)
      const list = slots.get(slot)!
      if (list.length > 1) list.sort(byGeneration)
      if (list.length > 2) orphans.push(...list.splice(1, list.length - 2))
      if (list.length === 2 || (list.length === 1 && this.#pending.has(key)) || (list.length === 0 && this.#pending.has(key))) inFlight++
    }
    for (let k = 0; k < sorted.length; k++) {
      const slot = sorted[k]!
      const key = keys[k]!
      const list = slots.get(slot)!
      const s = slotStatus(slot, this.#generationOf(pool.name, slot, key) ?? 0, this.#attempts.size > 0 ? this.#attempts.get(key) ?? 0 : 0)
      status.push(s)
      let pending = this.#pending.size > 0 ? this.#pending.get(key) : undefined
      // A replacement decided but not launched, for a node that has recovered (an operator fixed
      // it and uncordoned it after our cordon landed): withdrawn, so the node is not re-cordoned
      // and replaced regardless. Not while a provision is outstanding (it may land anyway).
      const subject = list.length === 1 ? currentNode[k] : undefined
      if (pending !== undefined && subject !== undefined && subject.id === pending.replaces && subject.cordoned) pending.sawCordon = true
      if (pending?.replaces !== undefined && !pending.pinned && pending.offer === undefined && pending.sawCordon && subject !== undefined &&
          subject.id === pending.replaces && !subject.cordoned && this.#replaceClass(subject, correlated, now, pool) === undefined) {
        this.#dropPending(key)
        notices.push(`pool ${pool.name}: the replacement of ${subject.name} is withdrawn: it recovered`)
        pending = undefined
      }
      if (list.length === 0) {
        if (pending !== undefined) {
          s.state = 'provisioning'
          this.#provision(pool, slot, pending.replaces, 'retrying an unfinished provision', input, actions, notices)
        } else s.state = 'empty'
        continue
      }
      const current = list[0]!
      const node = currentNode[k]
      s.instanceId = current.id
      s.provider = current.provider
      s.node = node?.id ?? ''
      const incoming = list.length === 2 ? list[1]! : undefined
      if (incoming === undefined && pending === undefined) {
        // One instance: booting, dead on arrival, active, or to be replaced.
        const js = this.#joinState(current, node, pool, now, false, slot)
        if (js.kind === 'doa') {
          s.state = 'terminating'
          this.#doa(pool, slot, current, js.why, node, actions, notices)
          continue
        }
        if (js.kind === 'booting') {
          s.state = 'booting'
          // A scale-down takes a booting instance before any running node (it runs no work yet).
          activeAt.push(k)
          activeNode.push(undefined)
          continue
        }
        const n = js.node
        if (n.health === 'unhealthy' || n.member === 'dead') unhealthy++
        else healthy++
        const why = this.#replaceClass(n, correlated, now, pool)
        if (why === undefined) {
          if (this.#attempts.size > 0) this.#attempts.delete(key)
          s.attempts = 0
        }
        if (why === undefined || !this.#settled(n, now) || (n.member === 'dead' && now - n.memberSinceMs < pool.health.deadReplaceAfterMs)) {
          s.state = n.cordoned ? 'cordoned' : 'active'
          activeAt.push(k)
          activeNode.push(n)
          continue
        }
        s.state = 'replacing'
        s.detail = why
        if (!pool.health.autoReplace) { notices.push(`pool ${pool.name}: ${n.name} should be replaced (${why}); auto_replace is off`); s.state = 'unhealthy'; continue }
        if (n.member !== 'dead' && !n.cordoned) actions.push({ kind: 'cordon', key: `cordon:${n.id}`, pool: pool.name, node: n.id, reason: `replacing it: ${why}` })
        if ((this.#attempts.get(key) ?? 0) >= pool.health.maxAttempts) { s.state = 'failed'; notices.push(`pool ${pool.name}: slot ${slot} failed ${pool.health.maxAttempts} replacements; an operator must act`); continue }
        if (breakerOpen) { s.detail = `${why}; held by the breaker`; continue }
        if (inFlight >= pool.health.maxInFlight) { s.detail = `${why}; waiting (${inFlight} replacements in flight)`; continue }
        if (n.member === 'dead' && !(n.lookFailedMs !== undefined && n.lookFailedMs >= n.memberSinceMs)) {
          s.detail = `${why}; one last look at it first`
          actions.push({ kind: 'look', key: `look:${n.id}`, pool: pool.name, node: n.id, reason: why })
          continue
        }
        if (this.#provision(pool, slot, n.id, `replacing ${n.name}: ${why}`, input, actions, notices)) inFlight++
        continue
      }
      // A replacement under way: the incoming instance (or the provision for it) and the old one.
      s.state = 'replacing'
      if (node !== undefined && node.member !== 'dead' && node.member !== 'left' && !node.cordoned) {
        actions.push({ kind: 'cordon', key: `cordon:${node.id}`, pool: pool.name, node: node.id, reason: 'being replaced' })
      }
      if (node !== undefined && (node.health === 'unhealthy' || node.member === 'dead')) unhealthy++
      if (incoming === undefined) {
        this.#provision(pool, slot, pending!.replaces, 'retrying an unfinished replacement', input, actions, notices)
        continue
      }
      s.replacementInstanceId = incoming.id
      const inNode = nodeOf(incoming)
      const js = this.#joinState(incoming, inNode, pool, now, true)
      if (js.kind === 'doa') { this.#doa(pool, slot, incoming, js.why, inNode, actions, notices); continue }
      if (js.kind === 'booting') { s.detail = 'waiting for the replacement to join'; continue }
      this.#attempts.delete(key)
      // The replacement is in: drain the old node, then terminate it (provision before terminate).
      if (node === undefined || node.member === 'dead' || node.member === 'left' || node.drained) {
        actions.push({ kind: 'terminate', key: `terminate:${current.id}`, pool: pool.name, slot, instance: current, node: node?.id, cause: 'replaced', reason: `replaced by ${incoming.name}` })
      } else if (node.cordoned && !node.draining) {
        actions.push({ kind: 'drain', key: `drain:${node.id}`, pool: pool.name, node: node.id, reason: `replaced by ${js.node.name}` })
      } else s.detail = node.draining ? 'draining the old node' : 'cordoning the old node'
    }

    const active = (): ActiveSlot[] => activeAt.map((k, j) => ({ slot: sorted[k]!, node: activeNode[j], instance: slots.get(sorted[k]!)![0]! }))
    this.#resize(pool, desired, slots, sorted, active, input, actions, notices)
    // Slots with no instance keep their history in the report: a failed one (so an operator and a
    // successor see it) and an emptied one's generation (so its token is never reused).
    // Beyond REPORTED_EMPTY_SLOTS the highest generations go first; a successor starts slots it
    // has no record of above the highest reported (seed's floor), so no token comes back.
    let extra = 0
    const history: Array<[number, string, number]> = []
    for (const [index, key] of this.#generationKeys.get(pool.name) ?? []) {
      if (!slots.has(index) && index < maxSlot) history.push([index, key, this.#generation.get(key)!])
    }
    history.sort((a, b) => b[2] - a[2])
    const before = status.length
    for (const [slot, key, generation] of history) {
      const attempts = this.#attempts.get(key) ?? 0
      const failed = attempts >= pool.health.maxAttempts
      if (!failed && extra++ >= REPORTED_EMPTY_SLOTS) continue
      const s = slotStatus(slot, generation, attempts)
      s.state = failed ? 'failed' : 'empty'
      s.detail = failed ? `${attempts} dead-on-arrival attempts; an operator must act` : ''
      status.push(s)
    }
    // The slots' statuses are in slot order already, and history's slots are none of theirs.
    if (status.length > before) status.sort((a, b) => a.index - b.index)
    let current = 0
    for (const slot of sorted) if (slots.get(slot)!.length > 0) current++
    return poolStatus({
      name: pool.name, min: pool.minNodes, max: pool.maxNodes, desired,
      current,
      healthy, unhealthy, replacing: inFlight, breakerOpen, breakerReason, slots: status,
    })
  }

  #doa (pool: PoolSpec, slot: number, i: Instance, why: string, node: ObservedNode | undefined, actions: Action[], notices: string[]): void {
    const key = this.#key(pool.name, slot)
    actions.push({ kind: 'terminate', key: `terminate:${i.id}`, pool: pool.name, slot, instance: i, node: node?.id, cause: 'dead-on-arrival', reason: `dead on arrival: ${why}` })
    if (!this.#counted.has(i.id)) {
      this.#counted.add(i.id)
      this.#attempts.set(key, (this.#attempts.get(key) ?? 0) + 1)
      notices.push(`pool ${pool.name}: ${i.name} is dead on arrival (${why}); attempt ${this.#attempts.get(key)} of ${pool.health.maxAttempts}`)
    }
  }

  /** Fill empty slots up to desired; cordon, drain and terminate the surplus (bad and cordoned first, then the highest slot). */
  #resize (pool: PoolSpec, desired: number, slots: Slots, sorted: readonly number[], activeSlots: () => ActiveSlot[], input: PlanInput, actions: Action[], notices: string[]): void {
    let occupied = 0
    for (const s of sorted) if (slots.get(s)!.length > 0 || (this.#pending.size > 0 && this.#pending.has(this.#key(pool.name, s)))) occupied++
    if (occupied < desired) {
      let need = desired - occupied
      // A slot that failed every attempt means the image, the type or the cloud is broken: moving on
      // to the next slot would only repeat it.
      let failed = 0
      for (const [k, n] of this.#attempts) if (k.startsWith(`${pool.name}#`) && n >= pool.health.maxAttempts) failed++
      if (failed > 0) {
        notices.push(`pool ${pool.name}: a slot failed ${pool.health.maxAttempts} attempts; not provisioning more until an operator acts`)
        return
      }
      for (let slot = 0; need > 0 && slot < pool.maxNodes * 2 + this.#c.slotHeadroom; slot++) {
        if (slots.has(slot)) continue
        const key = this.#key(pool.name, slot)
        if ((this.#attempts.get(key) ?? 0) >= pool.health.maxAttempts) continue
        if (!this.#provision(pool, slot, undefined, `pool ${pool.name} below its desired ${desired}`, input, actions, notices)) break
        need--
      }
      return
    }
    // Only nodes that exist count towards a surplus (pending fills were trimmed before the slots).
    let surplus = -desired
    for (const s of sorted) if (slots.get(s)!.length > 0) surplus++
    const victims = new Set<string>()
    if (surplus <= 0) {
      if (this.#shrinking.size > 0) this.#regrow(pool, activeSlots(), victims, actions)
      return
    }
    const active = activeSlots()
    // Victims already on their way out stay first, so a plan never picks another and uncordons one mid-drain.
    const rank = (a: { node: ObservedNode | undefined }): number => a.node !== undefined && this.#shrinking.has(a.node.id) ? -1
      : a.node === undefined || a.node.health === 'unhealthy' ? 0 : a.node.cordoned ? 1 : 2
    const ranked = [...active].sort((a, b) => rank(a) - rank(b) || b.slot - a.slot)
    for (const v of ranked) {
      if (surplus-- <= 0) break
      const n = v.node
      if (n !== undefined) victims.add(n.id)
      if (n === undefined || n.member === 'dead' || n.member === 'left' || n.drained) {
        actions.push({ kind: 'terminate', key: `terminate:${v.instance.id}`, pool: pool.name, slot: v.slot, instance: v.instance, node: n?.id, cause: 'scale-down', reason: `pool ${pool.name} above its desired ${desired}` })
      } else if (!n.cordoned) {
        this.#shrinking.add(n.id)
        actions.push({ kind: 'cordon', key: `cordon:${n.id}`, pool: pool.name, node: n.id, reason: `scale-down of pool ${pool.name} to ${desired}` })
      } else if (!n.draining) {
        actions.push({ kind: 'drain', key: `drain:${n.id}`, pool: pool.name, node: n.id, reason: `scale-down of pool ${pool.name} to ${desired}` })
      }
    }
    this.#regrow(pool, active, victims, actions)
  }

  /** Nodes this planner cordoned for a scale-down the pool no longer wants: uncordoned, back in service. */
  #regrow (pool: PoolSpec, active: Array<{ node: ObservedNode | undefined }>, victims: ReadonlySet<string>, actions: Action[]): void {
    if (this.#shrinking.size === 0) return
    for (const { node: n } of active) {
      if (n === undefined || !this.#shrinking.has(n.id) || victims.has(n.id)) continue
      this.#shrinking.delete(n.id)
      if (n.cordoned && n.health !== 'unhealthy' && n.member !== 'dead' && n.member !== 'left') {
        actions.push({ kind: 'uncordon', key: `uncordon:${n.id}`, pool: pool.name, node: n.id, reason: `pool ${pool.name} wants it again` })
      }
    }
  }

  /**
   * An orphan whose agent is alive in the mesh is only reported: it runs work, and a coordinator
   * file that lost a pool (drift, a typo) must not terminate that pool. The rest go after the grace
   * period, one per plan.
   */
  #reapOrphans (orphans: Instance[], nodeOf: (i: Instance) => ObservedNode | undefined, now: number, actions: Action[], notices: string[]): void {
    let reaped = 0
    for (const i of orphans) {
      const node = nodeOf(i)
      const running = node !== undefined && (node.member === 'alive' || node.member === 'suspect')
      const seen = this.#orphanSeen.get(i.id)
      if (!running) this.#dueAt((seen ?? now) + this.#c.orphanGraceMs, now)
      if (seen === undefined) {
        this.#orphanSeen.set(i.id, now)
        notices.push(`orphan ${i.provider}/${i.id} (${i.name}, pool ${i.tags?.pool}, slot ${i.tags?.slot}): no slot owns it; ${running ? `its agent ${node.name} is alive, so it is only reported` : `terminating in ${Math.round(this.#c.orphanGraceMs / 60_000)} min`}`)
      } else if (!running && now - seen >= this.#c.orphanGraceMs && reaped < MAX_ORPHAN_TERMINATIONS) {
        reaped++
        actions.push({ kind: 'terminate', key: `terminate:${i.id}`, pool: i.tags?.pool ?? '', slot: i.tags?.slot ?? -1, instance: i, node: node?.id, cause: 'orphan', reason: 'orphan past its grace period' })
      }
    }
  }

  /**
   * Bounded memory: drop what no listing mentions any more. A terminated instance is remembered
   * until a listing stops showing it alive: the listing before the terminate still does, and
   * forgetting early would count it again (a phantom replacement in flight, a second terminate).
   */
  #forget (now: number, instances: readonly Instance[], listed: readonly Instance[], listedAt: ReadonlyMap<string, number> | undefined): void {
    if (this.#gone.size > 0) {
      const listedLive = new Set<string>()
      for (const i of listed) if (live(i)) listedLive.add(i.id)
      for (const [id, g] of this.#gone) {
        const newer = (listedAt?.get(g.provider) ?? Infinity) > g.at
        if (!listedLive.has(id) || (now - g.at > this.#c.overlayMs && newer)) this.#gone.delete(id)
        else this.#dueAt(g.at + this.#c.overlayMs + 1, now)
      }
    }
    if (this.#counted.size === 0 && this.#firstSeen.size === 0 && this.#orphanSeen.size === 0) return
    // Everything these remember was an instance of the last sweep's or of this plan's: when the
    // two are the same instances, nothing can have gone.
    const last = this.#forgotAt
    let same = last.length === instances.length
    for (let k = 0; same && k < instances.length; k++) same = last[k] === instances[k]!.id
    if (same) return
    this.#forgotAt = instances.map((i) => i.id)
    this.#seenRound++
    const ids = new Set(this.#forgotAt)
    for (const id of this.#counted) if (!ids.has(id)) this.#counted.delete(id)
    for (const id of this.#firstSeen.keys()) if (!ids.has(id)) this.#firstSeen.delete(id)
    for (const id of this.#orphanSeen.keys()) if (!ids.has(id)) this.#orphanSeen.delete(id)
  }
}
