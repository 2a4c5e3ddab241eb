// SWIM's probe order (memberlist): round-robin over a shuffled list, reshuffled when a pass ends,
// newcomers swapped in at a random position. Every live member is probed once per pass, so a dead
// one is found in bounded time, not just on average. Entries that stopped being live stay until
// the pass ends and are skipped: the only O(N) work is the reshuffle, once per N probes.
import { assert } from '../../lib/assert.js'
import { pick, shuffle, type Rng } from '../../lib/rng.js'
import type { NodeId } from '../types.js'

export class ProbeRing {
  #ring: NodeId[] = []
  readonly #in = new Set<NodeId>()
  #next = 0
  readonly #rng: Rng

  constructor (rng: Rng) {
    this.#rng = rng
  }

  get size (): number { return this.#ring.length }
  has (id: NodeId): boolean { return this.#in.has(id) }

  /**
   * Append, then swap with a random slot still ahead in this pass. memberlist picks any slot; one
   * already passed leaves the newcomer unprobed until the pass ends, and when many probers' passes
   * line up (a fleet started together) a rejoined node then goes unprobed by most of them for up
   * to a whole pass: the tail of its detection time grew several-fold in the simulator.
   */
  insert (id: NodeId): void {
    if (this.#in.has(id)) return
    this.#in.add(id)
    this.#ring.push(id)
    const n = this.#ring.length - 1
    const from = Math.min(this.#next, n)
    const j = from + pick(this.#rng, n - from + 1)
    this.#ring[n] = this.#ring[j]!
    this.#ring[j] = id
  }

  /** The next probe target for which `live` holds, reshuffling at the end of a pass. */
  next (live: (id: NodeId) => boolean): NodeId | undefined {
    // One full pass from here plus one full pass after the reshuffle, at most.
    let budget = this.#ring.length + 1
    let reshuffled = false
    while (budget-- > 0) {
      if (this.#next >= this.#ring.length) {
        if (reshuffled) return undefined
        this.#reshuffle(live)
        reshuffled = true
        budget = this.#ring.length
        if (budget === 0) return undefined
      }
      const id = this.#ring[this.#next++]!
      if (live(id)) return id
    }
    return undefined
  }

  /** Up to k distinct members for which `ok` holds, at random; O(k) on a large ring. */
  sample (k: number, ok: (id: NodeId) => boolean): NodeId[] {
    const ring = this.#ring
    if (k <= 0 || ring.length === 0) return []
    if (ring.length <= 4 * k + 16) return shuffle(this.#rng, ring.filter(ok)).slice(0, k)
    const out: NodeId[] = []
    // Random draws, bounded like memberlist's kRandomNodes: a ring of mostly dead entries yields fewer.
    for (let tries = 0; tries < 8 * k && out.length < k; tries++) {
      const id = ring[pick(this.#rng, ring.length)]!
      if (ok(id) && !out.includes(id)) out.push(id)
    }
    return out
  }

  #reshuffle (live: (id: NodeId) => boolean): void {
    const kept = this.#ring.filter(live)
    for (const id of this.#ring) if (!live(id)) this.#in.delete(id)
    this.#ring = shuffle(this.#rng, kept)
    this.#next = 0
    assert(this.#ring.length === this.#in.size, `probe ring: ${this.#ring.length} entries, ${this.#in.size} in the set`)
  }
}
