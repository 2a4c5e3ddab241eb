// Steps most scenarios share: boot a fleet and wait for it to converge, find the coordinator, and
// wait for something to hold for every live agent. Each returns (or throws) with the seed and the
// virtual time, so a failure names its reproduction.
import { assert } from '../../../agent/lib/assert.js'
import type { MeshNode } from '../../../agent/mesh/node.js'
import { SimFleet, type SimFleetOptions, type Watch } from './fleet.js'

/**
 * Converged: every live agent counts every live agent as live (alive or suspect), exactly one
 * agent acts as coordinator, and every live agent names it.
 */
export function converged (f: SimFleet): boolean {
  const live = f.live()
  const acting = f.actingNow()
  if (acting.length !== 1) return false
  const coordinator = f.ids[acting[0]!]!
  for (const i of live) {
    const node = f.node(i)
    if (node.liveCount() !== live.length) return false
    if (node.coordinator(f.localNow(i)).coordinator !== coordinator) return false
  }
  return true
}

export class ScenarioError extends Error {
  override name = 'ScenarioError'
}

/** Runs until `done` holds, checking every `everyMs` of virtual time; throws a ScenarioError after `maxMs`. */
export function runUntil (f: SimFleet, what: string, done: () => boolean, maxMs: number, everyMs = 100): number {
  const start = f.now
  while (!done()) {
    if (f.now - start >= maxMs) {
      throw new ScenarioError(`seed ${f.seed}: ${what} did not happen within ${maxMs} ms (t=${f.now.toFixed(0)} ms)`)
    }
    f.runFor(everyMs)
  }
  return f.now - start
}

/** Like runUntil, but returns whether `done` held within `maxMs` instead of throwing. */
export function waitFor (f: SimFleet, done: () => boolean, maxMs: number, everyMs = 100): boolean {
  const start = f.now
  while (!done()) {
    if (f.now - start >= maxMs) return false
    f.runFor(everyMs)
  }
  return true
}

/**
 * A fleet started and converged (boot phase), ready for faults. `known`: boot with startKnown
 * (every agent handed the membership at once) rather than joining one by one through the seed.
 */
export function bootFleet (o: SimFleetOptions & { maxBootMs?: number, known?: boolean }): SimFleet {
  const f = new SimFleet({ earlyPublish: 'hold', ...o })
  if (o.known === true) f.startKnown()
  else f.start()
  runUntil(f, `${o.agents} agents converging`, () => f.live().length === f.n && converged(f), o.maxBootMs ?? 60_000, 500)
  return f
}

/** Waits until `w` holds for every agent in `agents` (computed again at each check if a function). */
export function runUntilWatched (f: SimFleet, w: Watch, agents: () => readonly number[], maxMs: number): number {
  return runUntil(f, `${w.name} for every live agent`, () => w.doneFor(agents()), maxMs, 10)
}

/** Live agents other than `except`. */
export function liveExcept (f: SimFleet, ...except: number[]): number[] {
  return f.live().filter((i) => !except.includes(i))
}

/** Agents that declare `victim` dead, or that it left. */
export function declaresDead (victim: string): (node: MeshNode) => boolean {
  return (node) => {
    const s = node.memberState(victim)
    return s === 'dead' || s === 'left'
  }
}

/** The one acting coordinator, asserted. */
export function theCoordinator (f: SimFleet): number {
  const acting = f.actingNow()
  assert(acting.length === 1, `seed ${f.seed}: expected one acting coordinator at t=${f.now.toFixed(0)}, found [${acting.join(', ')}]`)
  return acting[0]!
}
