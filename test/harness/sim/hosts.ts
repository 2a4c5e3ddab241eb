// Each simulated host's condition: up, down (never started, killed) or paused (SIGSTOP: alive but
// silent), its partition group and its clock offset. The network and the gossip model ask here
// whether a message can pass; the fleet changes it when a scenario injects a fault.
import { assert } from '../../../agent/lib/assert.js'
import type { Action } from './clock.js'

export const DOWN = 0
export const UP = 1
export const PAUSED = 2
export type HostState = typeof DOWN | typeof UP | typeof PAUSED

export interface HostLimits {
  /** Deliveries held for one paused host (its socket buffers); more are dropped. Default 100,000. */
  heldMax: number
}

export class Hosts {
  readonly n: number
  readonly state: Uint8Array
  /** Messages pass only between hosts of one group; all 0 when healed. */
  readonly group: Int32Array
  /** Added to the virtual time a host's cores see (clock skew). */
  readonly clockOffsetMs: Float64Array
  readonly #held: Array<Action[] | undefined>
  readonly #limits: HostLimits
  /** Deliveries dropped because a paused host's buffer was full. */
  heldDropped = 0

  constructor (n: number, limits: HostLimits = { heldMax: 100_000 }) {
    assert(Number.isInteger(n) && n >= 1, `hosts must be a positive integer, got ${n}`)
    this.n = n
    this.state = new Uint8Array(n)
    this.group = new Int32Array(n)
    this.clockOffsetMs = new Float64Array(n)
    this.#held = new Array<Action[] | undefined>(n)
    this.#limits = limits
  }

  isUp (i: number): boolean { return this.state[i] === UP }
  /** Up or paused: the process exists (a paused host is not dead, only slow). */
  isAlive (i: number): boolean { return this.state[i] !== DOWN }
  sameSide (a: number, b: number): boolean { return this.group[a] === this.group[b] }

  /** Whether a message from `from` may reach `to` now (a paused target holds it). */
  passes (from: number, to: number): boolean {
    return this.state[to] !== DOWN && this.group[from] === this.group[to]
  }

  /** Runs the delivery now if `to` is up, holds it if paused, drops it if down. */
  deliver (to: number, fn: Action): void {
    const s = this.state[to]
    if (s === UP) {
      fn()
    } else if (s === PAUSED) {
      const held = this.#held[to] ??= []
      if (held.length < this.#limits.heldMax) held.push(fn)
      else this.heldDropped++
    }
  }

  setUp (i: number): void {
    this.state[i] = UP
  }

  /** Down: whatever was held is lost with the process. */
  setDown (i: number): void {
    this.state[i] = DOWN
    this.#held[i] = undefined
  }

  pause (i: number): void {
    assert(this.state[i] === UP, `pause of host ${i}, which is not up`)
    this.state[i] = PAUSED
  }

  /** Back to up; returns the held deliveries, oldest first, for the caller to run in order. */
  resume (i: number): Action[] {
    assert(this.state[i] === PAUSED, `resume of host ${i}, which is not paused`)
    this.state[i] = UP
    const held = this.#held[i] ?? []
    this.#held[i] = undefined
    return held
  }

  /** Each listed set becomes its own side; hosts not listed share side 0. */
  partition (sides: ReadonlyArray<readonly number[]>): void {
    this.group.fill(0)
    const seen = new Set<number>()
    sides.forEach((side, k) => {
      for (const i of side) {
        assert(Number.isInteger(i) && i >= 0 && i < this.n, `partition names host ${i}, not in 0..${this.n - 1}`)
        assert(!seen.has(i), `partition lists host ${i} twice`)
        seen.add(i)
        this.group[i] = k + 1
      }
    })
  }

  heal (): void { this.group.fill(0) }
}
