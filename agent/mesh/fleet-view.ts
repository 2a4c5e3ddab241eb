// The fleet view (a core): every node's latest health as this agent heard it, and the log of what
// changed, for `shoal events`. Health wins by (incarnation, seq): incarnation orders a node's
// lives (it only grows, across restarts), seq orders the updates within one life.
import { create } from '@bufbuild/protobuf'
import { FleetEventSchema, HealthState, type FleetEvent, type HealthUpdate } from '../../proto/gen/shoal_pb.js'
import { assert } from '../lib/assert.js'
import { actionName, stateName } from '../health/action.js'
import type { NodeId } from './types.js'

export interface FleetViewLimits {
  /** Nodes whose health is kept; more are refused (a fleet is bounded, a flood is not). */
  maxNodes: number
  /** Events kept in memory, oldest dropped first. */
  maxEvents: number
}

export const DEFAULT_FLEET_VIEW_LIMITS: FleetViewLimits = {
  // Ten times the 10,000-agent design point, so a real fleet never meets it.
  maxNodes: 100_000,
  // About a day of a busy 1,000-node fleet's changes at ~0.1/s; each event is ~200 bytes.
  maxEvents: 10_000,
}

export type HealthOutcome = 'new' | 'newer' | 'stale' | 'full'

/** Total order on health updates of one node. */
export function newerHealth (a: { incarnation: number, seq: number }, b: { incarnation: number, seq: number } | undefined): boolean {
  if (b === undefined) return true
  return a.incarnation > b.incarnation || (a.incarnation === b.incarnation && a.seq > b.seq)
}

export class FleetView {
  readonly #limits: FleetViewLimits
  readonly #health = new Map<NodeId, HealthUpdate>()
  readonly #names = new Map<NodeId, string>()
  readonly #events: FleetEvent[] = []
  #eventHead = 0

  constructor (limits: FleetViewLimits = DEFAULT_FLEET_VIEW_LIMITS) {
    assert(limits.maxNodes >= 1 && limits.maxEvents >= 1, 'fleet view limits must be positive')
    this.#limits = limits
  }

  /** Folds in a health update; returns whether it was news and the event it made, if any. */
  applyHealth (u: HealthUpdate, now: number): { outcome: HealthOutcome, event?: FleetEvent } {
    const old = this.#health.get(u.node)
    if (!newerHealth(u, old)) return { outcome: 'stale' }
    if (old === undefined && this.#health.size >= this.#limits.maxNodes) return { outcome: 'full' }
    this.#health.set(u.node, u)
    const outcome: HealthOutcome = old === undefined ? 'new' : 'newer'
    const detail = describeHealthChange(old, u)
    if (detail === undefined) return { outcome }
    return { outcome, event: this.record({ timeMs: now, node: u.node, kind: 'health', detail }) }
  }

  health (id: NodeId): HealthUpdate | undefined { return this.#health.get(id) }
  healthEntries (): IterableIterator<[NodeId, HealthUpdate]> { return this.#health.entries() }
  get healthCount (): number { return this.#health.size }

  /** A name for events and tables; learned from membership metadata. */
  setName (id: NodeId, name: string): void {
    if (name !== '' && this.#names.size < this.#limits.maxNodes) this.#names.set(id, name)
  }

  nameOf (id: NodeId): string { return this.#names.get(id) ?? '' }

  forget (id: NodeId): void {
    this.#health.delete(id)
    this.#names.delete(id)
  }

  record (e: { timeMs: number, node: NodeId, kind: string, detail: string, term?: number }): FleetEvent {
    const event = create(FleetEventSchema, { ...e, name: this.nameOf(e.node) })
    if (this.#events.length < this.#limits.maxEvents) {
      this.#events.push(event)
    } else {
      this.#events[this.#eventHead] = event
      this.#eventHead = (this.#eventHead + 1) % this.#limits.maxEvents
    }
    return event
  }

  /** Oldest first, at most `limit`, the newest ones when more match. */
  events (q: { sinceMs: number, limit: number, node?: NodeId }): FleetEvent[] {
    const ordered = [...this.#events.slice(this.#eventHead), ...this.#events.slice(0, this.#eventHead)]
    const matching = ordered.filter((e) => e.timeMs >= q.sinceMs && (q.node === undefined || q.node === '' || e.node === q.node))
    return matching.slice(Math.max(0, matching.length - q.limit))
  }
}

/** What an operator should read in `shoal events` about a health update, or nothing if only counters moved. */
function describeHealthChange (old: HealthUpdate | undefined, u: HealthUpdate): string | undefined {
  const state = u.verdict?.state ?? HealthState.UNKNOWN
  const action = u.verdict?.action ?? 0
  const reasons = (u.verdict?.reasons ?? []).slice(0, 3).map((r) => r.gpuIndex === undefined ? r.rule : `${r.rule}[gpu ${r.gpuIndex}]`)
  const flags = [u.cordoned ? 'cordoned' : '', u.draining ? 'draining' : '', u.drained ? 'drained' : ''].filter((f) => f !== '')
  const was = old === undefined
    ? undefined
    : { state: old.verdict?.state ?? HealthState.UNKNOWN, action: old.verdict?.action ?? 0, flags: [old.cordoned, old.draining, old.drained].join() }
  if (was !== undefined && was.state === state && was.action === action && was.flags === [u.cordoned, u.draining, u.drained].join()) return undefined
  const parts = [`${stateName(state)}`, `action ${actionName(action)}`]
  if (reasons.length > 0) parts.push(reasons.join(', '))
  if (flags.length > 0) parts.push(flags.join(', '))
  return was === undefined ? `first report: ${parts.join('; ')}` : parts.join('; ')
}
