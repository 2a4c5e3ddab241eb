// The simulator's event queue: a binary heap ordered by (time, insertion seq). The seq makes equal
// times pop in the order they were pushed, so a seed replays bit for bit whatever the heap's shape.
// Parallel arrays, not entry objects: a 1,000-agent run pushes millions of events.
import { assert } from '../../../agent/lib/assert.js'

export class EventQueue<T> {
  readonly #times: number[] = []
  readonly #seqs: number[] = []
  readonly #items: T[] = []
  #seq = 0
  /** A run that schedules without end is a bug in the scenario or a core, not a big fleet. */
  readonly #limit: number

  constructor (limit = 50_000_000) {
    this.#limit = limit
  }

  get size (): number { return this.#items.length }

  /** Returns the insertion seq (unique, increasing). */
  push (time: number, item: T): number {
    assert(!Number.isNaN(time), 'event time is NaN')
    assert(this.#items.length < this.#limit, `event queue over its limit of ${this.#limit}`)
    const seq = this.#seq++
    let i = this.#items.length
    this.#times.push(time)
    this.#seqs.push(seq)
    this.#items.push(item)
    // Sift up: move parents down until the slot fits.
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#before(time, seq, p)) break
      this.#move(p, i)
      i = p
    }
    this.#set(i, time, seq, item)
    return seq
  }

  /** Earliest time queued, Infinity when empty. */
  peekTime (): number { return this.#items.length === 0 ? Infinity : this.#times[0]! }

  /** Removes and returns the earliest item; its time is peekTime() before the call. */
  pop (): T | undefined {
    const n = this.#items.length
    if (n === 0) return undefined
    const top = this.#items[0]!
    const time = this.#times.pop()!
    const seq = this.#seqs.pop()!
    const item = this.#items.pop()!
    if (n > 1) this.#siftDown(time, seq, item, n - 1)
    return top
  }

  clear (): void {
    this.#times.length = 0
    this.#seqs.length = 0
    this.#items.length = 0
  }

  #siftDown (time: number, seq: number, item: T, n: number): void {
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && this.#lessAt(r, l) ? r : l
      if (!this.#lessThan(c, time, seq)) break
      this.#move(c, i)
      i = c
    }
    this.#set(i, time, seq, item)
  }

  /** (time, seq) sorts before slot j. */
  #before (time: number, seq: number, j: number): boolean {
    const tj = this.#times[j]!
    return time < tj || (time === tj && seq < this.#seqs[j]!)
  }

  /** slot j sorts before (time, seq). */
  #lessThan (j: number, time: number, seq: number): boolean {
    const tj = this.#times[j]!
    return tj < time || (tj === time && this.#seqs[j]! < seq)
  }

  #lessAt (a: number, b: number): boolean {
    const ta = this.#times[a]!; const tb = this.#times[b]!
    return ta < tb || (ta === tb && this.#seqs[a]! < this.#seqs[b]!)
  }

  #move (from: number, to: number): void {
    this.#times[to] = this.#times[from]!
    this.#seqs[to] = this.#seqs[from]!
    this.#items[to] = this.#items[from]!
  }

  #set (i: number, time: number, seq: number, item: T): void {
    this.#times[i] = time
    this.#seqs[i] = seq
    this.#items[i] = item
  }
}
