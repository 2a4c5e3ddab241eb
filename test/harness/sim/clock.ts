// Virtual time: one clock for the whole simulated world, advanced only by the event loop. Times are
// milliseconds (fractions allowed: LAN latencies are sub-millisecond). Nothing here reads a real
// clock, so a run takes the same virtual path however fast or slow the host is.
import { assert } from '../../../agent/lib/assert.js'
import { EventQueue } from './queue.js'

export type Action = () => void

export class Scheduler {
  #now = 0
  readonly #queue = new EventQueue<Action>()
  #processed = 0
  /** Called after every event (invariant checks); set by the composition root. */
  afterEach: (() => void) | undefined

  get now (): number { return this.#now }
  /** Events run so far: the simulator's own work counter for benches. */
  get processed (): number { return this.#processed }
  get pending (): number { return this.#queue.size }

  /** Runs `fn` at virtual time `t` (not before now: the past cannot be scheduled). */
  at (t: number, fn: Action): void {
    assert(t >= this.#now, `scheduled in the past: ${t} < ${this.#now}`)
    this.#queue.push(t, fn)
  }

  after (delayMs: number, fn: Action): void {
    assert(delayMs >= 0, `negative delay ${delayMs}`)
    this.#queue.push(this.#now + delayMs, fn)
  }

  /** Runs one event; false when none is left. */
  step (): boolean {
    const t = this.#queue.peekTime()
    if (t === Infinity) return false
    const fn = this.#queue.pop()!
    this.#now = t
    this.#processed++
    fn()
    this.afterEach?.()
    return true
  }

  /** Runs every event at or before `t`, then leaves the clock at `t`. */
  runUntil (t: number): void {
    assert(t >= this.#now, `runUntil into the past: ${t} < ${this.#now}`)
    while (this.#queue.peekTime() <= t) this.step()
    this.#now = t
  }

  runFor (ms: number): void { this.runUntil(this.#now + ms) }

  /**
   * Runs until `done()` holds (checked after every event) or until `deadline`; returns whether it
   * held. The clock stops at the event that made it hold.
   */
  runUntilTrue (done: () => boolean, deadline: number): boolean {
    if (done()) return true
    while (this.#queue.peekTime() <= deadline) {
      this.step()
      if (done()) return true
    }
    this.#now = Math.max(this.#now, deadline)
    return false
  }
}
