// Lifeguard LHA-Probe (memberlist awareness.go): a small clamped score of this node's own health.
// When our probes fail and the relays do not even nack, or we get suspected, the likely sick node
// is us; probing slower then keeps us from accusing healthy peers.
import { assert } from '../../lib/assert.js'

export class Awareness {
  readonly #max: number
  #score = 0

  /** Scores run over 0..max−1. */
  constructor (max: number) {
    assert(Number.isSafeInteger(max) && max >= 1, `awareness: max must be a positive integer, got ${max}`)
    this.#max = max
  }

  get score (): number { return this.#score }

  applyDelta (delta: number): void {
    assert(Number.isSafeInteger(delta), `awareness: delta ${delta}`)
    this.#score = Math.min(this.#max - 1, Math.max(0, this.#score + delta))
  }

  /** A timeout stretched by (score + 1). */
  scale (ms: number): number {
    return ms * (this.#score + 1)
  }
}
