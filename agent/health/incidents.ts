// Incidents: everything that happens on one node, grouped into bursts. A record joins the open
// incident unless the node has been quiet for longer than the burst gap (NVIDIA fleet-intel: 3
// minutes), so an XID 62 → 154 → 109 cascade, or an NVLink fault with its XID 45 companions, is
// one incident with one action, the most severe of its findings (xid-catalog.md §8).
import { clone, create } from '@bufbuild/protobuf'
import {
  HealthAction, HealthState, IncidentSchema, ReasonSchema, type GpuEvent, type Incident, type Reason,
} from '../../proto/gen/shoal_pb.js'
import { assert } from '../lib/assert.js'

export interface IncidentLimits {
  /** Quiet time that ends a burst. */
  burstGapMs: number
  /** Events and findings kept per incident; the count goes on (a storm of one XID is one line). */
  maxMembers: number
  /** Closed incidents kept in memory for `shoal health`; the journal keeps the rest. */
  keepClosed: number
}

export const DEFAULT_INCIDENT_LIMITS: IncidentLimits = { burstGapMs: 180_000, maxMembers: 32, keepClosed: 64 }

export class IncidentBook {
  readonly #limits: IncidentLimits
  #open: Incident | undefined
  readonly #closed: Incident[] = []
  #count = 0

  constructor (limits: IncidentLimits) {
    assert(limits.burstGapMs > 0 && limits.maxMembers > 0, 'incident limits must be positive')
    this.#limits = limits
  }

  get open (): Incident | undefined { return this.#open }

  /** Most recent first, the open one included. */
  recent (limit: number): Incident[] {
    const all = this.#open === undefined ? [...this.#closed] : [...this.#closed, this.#open]
    return all.slice(-limit).reverse().map((i) => clone(IncidentSchema, i))
  }

  /** Closes the open incident once the node has been quiet for the burst gap; returns it. */
  tick (now: number): Incident | undefined {
    const open = this.#open
    if (open === undefined || now - open.lastMs <= this.#limits.burstGapMs) return undefined
    open.open = false
    this.#closed.push(open)
    while (this.#closed.length > this.#limits.keepClosed) this.#closed.shift()
    this.#open = undefined
    return open
  }

  addEvent (e: GpuEvent, cls: string, now: number): { incident: Incident, opened: boolean, changed: boolean } {
    const { incident, opened } = this.#current(now)
    incident.eventCount++
    if (incident.events.length < this.#limits.maxMembers) incident.events.push(e)
    if (incident.findings.length === 0 && incident.class === '') incident.class = cls
    return { incident, opened, changed: opened }
  }

  addFinding (r: Reason, now: number): { incident: Incident, opened: boolean, changed: boolean } {
    const { incident, opened } = this.#current(now)
    const before = `${incident.state}/${incident.action}/${incident.primary}`
    if (incident.findings.length < this.#limits.maxMembers) incident.findings.push(create(ReasonSchema, r))
    const worse = r.action > incident.action || (r.action === incident.action && r.state > incident.state)
    if (worse || incident.primary === '') {
      incident.action = r.action
      incident.state = r.state
      incident.class = r.incidentClass
      incident.primary = r.rule + (r.gpuIndex === undefined ? '' : ` (GPU ${r.gpuIndex})`)
    }
    return { incident, opened, changed: opened || before !== `${incident.state}/${incident.action}/${incident.primary}` }
  }

  #current (now: number): { incident: Incident, opened: boolean } {
    this.tick(now)
    if (this.#open !== undefined) {
      this.#open.lastMs = Math.max(this.#open.lastMs, now)
      return { incident: this.#open, opened: false }
    }
    this.#count++
    this.#open = create(IncidentSchema, {
      id: `${Math.floor(now).toString(36)}-${this.#count}`,
      action: HealthAction.NONE,
      state: HealthState.HEALTHY,
      firstMs: now,
      lastMs: now,
      open: true,
    })
    return { incident: this.#open, opened: true }
  }
}
