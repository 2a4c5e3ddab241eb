// A binary min-heap of deadlines with lazy deletion: the owner checks on pop whether an entry still
// stands, so moving or cancelling a deadline is O(log n) and a tick touches only what is due.
import { assert } from '../../lib/assert.js'

export interface Deadline<T> { readonly at: number, readonly item: T }

export class DeadlineHeap<T> {
  readonly #heap: Array<Deadline<T>> = []
  readonly #limit: number

  /** `limit` bounds the entries, stale ones included (the owner compacts before it is reached). */
  constructor (limit: number) {
    this.#limit = limit
  }

  get size (): number { return this.#heap.length }

  peek (): Deadline<T> | undefined { return this.#heap[0] }

  push (at: number, item: T): void {
    assert(this.#heap.length < this.#limit, `deadline heap: over ${this.#limit} entries`)
    const h = this.#heap
    h.push({ at, item })
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (h[parent]!.at <= h[i]!.at) break
      this.#swap(i, parent)
      i = parent
    }
  }

  pop (): Deadline<T> | undefined {
    const h = this.#heap
    const top = h[0]
    const last = h.pop()
    if (top === undefined || last === undefined || h.length === 0) return top
    h[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && h[l]!.at < h[m]!.at) m = l
      if (r < h.length && h[r]!.at < h[m]!.at) m = r
      if (m === i) break
      this.#swap(i, m)
      i = m
    }
    return top
  }

  /** Keep only the entries for which `keep` holds (O(n), for when stale entries pile up). */
  retain (keep: (entry: Deadline<T>) => boolean): void {
    const kept = this.#heap.filter(keep)
    this.#heap.length = 0
    for (const e of kept) this.push(e.at, e.item)
  }

  #swap (a: number, b: number): void {
    const h = this.#heap
    const t = h[a]!
    h[a] = h[b]!
    h[b] = t
  }
}
