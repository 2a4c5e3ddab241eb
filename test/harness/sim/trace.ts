// What a run leaves behind for assertions: every fleet event each agent emitted (who learned what,
// when), coordinator status changes per agent, acting intervals, safety violations, wire rejects,
// and a running digest so two runs of one seed can be compared in one string.
import { assert } from '../../../agent/lib/assert.js'

const F64 = new Float64Array(1)
const U32 = new Uint32Array(F64.buffer)

export interface TraceEvent {
  readonly t: number
  /** The agent that emitted it (the observer). */
  readonly at: number
  /** FleetEvent kind: joined, suspect, dead, alive, left, health, coordinator, command, ack, ... */
  readonly kind: string
  /** The agent it is about; -1 when the id is not one of the fleet's. */
  readonly node: number
  readonly term: number
  readonly detail: string
}

/** One agent's view of the coordinator changed (term, coordinator or role). */
export interface CoordinatorView {
  readonly t: number
  readonly at: number
  readonly term: number
  /** Index of the coordinator it knows, -1 for none. */
  readonly coordinator: number
  readonly role: string
}

export interface ActingInterval {
  readonly at: number
  readonly term: number
  readonly from: number
  /** Infinity while still acting. */
  to: number
}

export interface Violation {
  readonly t: number
  readonly seed: string
  readonly kind: 'two-acting' | 'wire-reject' | 'core-error'
  readonly detail: string
}

export interface TraceLimits {
  /** Fleet events kept; beyond it they are counted, not kept. Default 2,000,000. */
  maxEvents: number
  /** Violations kept (a broken invariant tends to stay broken for many events). Default 1,000. */
  maxViolations: number
}

export class Trace {
  readonly events: TraceEvent[] = []
  readonly views: CoordinatorView[] = []
  readonly acting: ActingInterval[] = []
  readonly violations: Violation[] = []
  /** Events and violations beyond the limits. */
  droppedEvents = 0
  droppedViolations = 0
  readonly keepEvents: boolean
  readonly #skip: ReadonlySet<string>
  readonly #limits: TraceLimits
  #hash = 0x811c9dc5

  /** `skipKinds`: event kinds hashed into the digest but not kept (a 1,000-agent boot makes a million 'joined'). */
  constructor (keepEvents: boolean, skipKinds: readonly string[] = [], limits: TraceLimits = { maxEvents: 2_000_000, maxViolations: 1000 }) {
    this.keepEvents = keepEvents
    this.#skip = new Set(skipKinds)
    this.#limits = limits
  }

  event (e: TraceEvent): void {
    this.#num(e.t); this.#num(e.at); this.#mix(e.kind); this.#num(e.node); this.#num(e.term)
    if (!this.keepEvents || this.#skip.has(e.kind)) return
    if (this.events.length < this.#limits.maxEvents) this.events.push(e)
    else this.droppedEvents++
  }

  view (v: CoordinatorView): void {
    this.#mix(`v${v.t}|${v.at}|${v.term}|${v.coordinator}|${v.role}`)
    this.views.push(v)
  }

  startActing (at: number, term: number, t: number): void {
    this.#mix(`a${t}|${at}|${term}`)
    this.acting.push({ at, term, from: t, to: Infinity })
  }

  stopActing (at: number, t: number): void {
    for (let k = this.acting.length - 1; k >= 0; k--) {
      const a = this.acting[k]!
      if (a.at === at && a.to === Infinity) {
        a.to = t
        this.#mix(`s${t}|${at}`)
        return
      }
    }
    assert(false, `agent ${at} stopped acting without an open interval`)
  }

  violation (v: Violation): void {
    this.#mix(`x${v.t}|${v.kind}`)
    if (this.violations.length < this.#limits.maxViolations) this.violations.push(v)
    else this.droppedViolations++
  }

  /** FNV-1a over everything recorded, in order: same seed, same code → same digest. */
  get digest (): string { return (this.#hash >>> 0).toString(16).padStart(8, '0') }

  /** Events of `kind` about `node`, optionally only those `at` one observer. */
  about (kind: string, node: number, at?: number): TraceEvent[] {
    return this.events.filter((e) => e.kind === kind && e.node === node && (at === undefined || e.at === at))
  }

  /** Mixes a number's 64 bits (times are fractional). */
  #num (x: number): void {
    F64[0] = x
    let h = this.#hash
    h = Math.imul(h ^ U32[0]!, 0x01000193)
    h = Math.imul(h ^ U32[1]!, 0x01000193)
    this.#hash = h
  }

  #mix (s: string): void {
    let h = this.#hash
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i)
      h = Math.imul(h, 0x01000193)
    }
    this.#hash = h
  }
}
