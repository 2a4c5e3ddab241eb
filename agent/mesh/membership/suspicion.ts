// Lifeguard LHA-Suspicion (memberlist suspicion.go, util.go): a suspicion starts long and shrinks
// as independent reporters confirm it, so one confused prober cannot kill a peer quickly while a
// real death seen by several is declared fast. The formulas are pure and table-tested.
import { assert } from '../../lib/assert.js'
import type { NodeId } from '../types.js'

/** min = mult × max(1, log10(max(1, n))) × interval, whole ms (memberlist suspicionTimeout). */
export function suspicionTimeoutMinMs (mult: number, n: number, intervalMs: number): number {
  const scale = Math.max(1, Math.log10(Math.max(1, n)))
  return Math.floor(mult * scale * intervalMs)
}

/**
 * The total timeout after `confirmations` independent confirmations when `k` are expected:
 * max − log(n+1)/log(k+1) × (max − min), floored to ms and never below min; min when k < 1.
 */
export function suspicionTimeoutMs (confirmations: number, k: number, minMs: number, maxMs: number): number {
  assert(minMs <= maxMs, `suspicion: min ${minMs} above max ${maxMs}`)
  if (k < 1) return minMs
  const frac = Math.log(confirmations + 1) / Math.log(k + 1)
  const raw = Math.floor(maxMs - frac * (maxMs - minMs))
  return Math.max(minMs, raw)
}

export interface SuspicionBounds { readonly k: number, readonly minMs: number, readonly maxMs: number }

/**
 * A new suspicion's parameters in a group of n live members: memberlist's min (never below
 * `floorMs`), max = maxMult × min, and k confirmations expected.
 */
export function suspicionBounds (mult: number, maxMult: number, floorMs: number, n: number, intervalMs: number): SuspicionBounds {
  const minMs = Math.max(floorMs, suspicionTimeoutMinMs(mult, n, intervalMs))
  return { k: expectedConfirmations(mult, n), minMs, maxMs: maxMult * minMs }
}

/** Confirmations expected for a suspicion in a group of n live members: none when too few others. */
export function expectedConfirmations (suspicionMult: number, n: number): number {
  const k = suspicionMult - 2
  // Take out ourselves and the suspect: fewer than k others can never confirm.
  return n - 2 < k ? 0 : Math.max(0, k)
}

/** One suspicion of one node at one incarnation, as this node runs it. */
export class Suspicion {
  readonly incarnation: number
  readonly startMs: number
  readonly k: number
  readonly minMs: number
  readonly maxMs: number
  /** Reporters so far, the first included; at most k + 1. */
  readonly #reporters = new Set<NodeId>()
  #confirmations = 0
  #deadlineMs: number
  /** A verification probe is out for this suspicion (see Membership's expiry). */
  verifying = false

  constructor (first: NodeId, incarnation: number, k: number, minMs: number, maxMs: number, startMs: number) {
    assert(k >= 0 && minMs >= 0 && maxMs >= minMs, `suspicion: bad bounds k=${k} min=${minMs} max=${maxMs}`)
    this.incarnation = incarnation
    this.startMs = startMs
    this.k = k
    this.minMs = minMs
    this.maxMs = maxMs
    this.#reporters.add(first)
    this.#deadlineMs = startMs + (k < 1 ? minMs : maxMs)
  }

  get deadlineMs (): number { return this.#deadlineMs }
  get confirmations (): number { return this.#confirmations }

  hasReporter (id: NodeId): boolean { return this.#reporters.has(id) }

  /** A new independent reporter: true when it counted (and the deadline moved). */
  confirm (from: NodeId): boolean {
    if (this.#confirmations >= this.k || this.#reporters.has(from)) return false
    this.#reporters.add(from)
    this.#confirmations++
    this.#deadlineMs = this.startMs + suspicionTimeoutMs(this.#confirmations, this.k, this.minMs, this.maxMs)
    assert(this.#reporters.size <= this.k + 1, 'suspicion: more reporters than k + 1')
    return true
  }

  /** The suspect answered when the timer ran out: look again at `untilMs`. */
  rearm (untilMs: number): void {
    assert(untilMs >= this.startMs, `suspicion: rearm at ${untilMs} before its start ${this.startMs}`)
    this.#deadlineMs = untilMs
  }
}
