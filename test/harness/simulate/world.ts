// What the harness needs from a simulated world: the two fidelities (mesh-world.ts: every agent a
// real MeshNode; fleet-world.ts: modelled membership) implement it, and harness.ts injects faults
// and checks invariants through it alone.
import type { HealthAction, HealthState, PoolStatus } from '../../../proto/gen/shoal_pb.js'
import type { OwnHealth } from '../../../agent/mesh/node.js'
import type { FakeInstance, FakeCloud } from '../../../coordinator/providers/fake-cloud.js'
import type { Call, CallOutcome } from '../../../coordinator/reconciler.js'
import type { InvariantName } from '../report/recorder.js'
import type { Scheduler } from '../sim/clock.js'
import type { ReplacementRequest } from '../sim/cloud.js'

/** What the acting coordinator (or, with none, any live agent) believes about an agent. */
export interface Seen {
  readonly member: 'alive' | 'suspect' | 'dead' | 'left' | undefined
  readonly state: HealthState | undefined
  readonly action: HealthAction | undefined
}

export interface WorldHooks {
  call: (agent: number, call: Call, answer: CallOutcome, latencyMs: number) => void
  request: (r: ReplacementRequest) => void
  terminated: (agent: number, inst: FakeInstance, cause: string, healthy: boolean) => void
  created: (inst: FakeInstance) => void
  booted: (agent: number, inst: FakeInstance) => void
}

export interface LinkFaults {
  setLoss: (rate: number) => void
  setDuplication: (rate: number) => void
  setDelay: (medianMs: number, p99Ms: number) => void
  /** Back to the scenario's network. */
  reset: () => void
}

export interface World {
  readonly sched: Scheduler
  readonly clouds: ReadonlyMap<string, FakeCloud>
  /** Simulator events processed. */
  readonly events: number
  start: () => void
  /** The fleet is up: a coordinator acts and has planned. */
  ready: () => boolean
  localNow: (agent: number) => number
  /** Agents on a live instance of the pool. */
  poolAgents: () => number[]
  /** Every live agent (council included). */
  liveAgents: () => number[]
  instanceOf: (agent: number) => FakeInstance | undefined
  isLive: (agent: number) => boolean
  kill: (agent: number) => void
  /** The agent process starts again on its host (store kept); its health as given. */
  restart: (agent: number, health: OwnHealth | undefined) => void
  pause: (agent: number) => void
  resume: (agent: number) => void
  isPaused: (agent: number) => boolean
  setHealth: (agent: number, h: OwnHealth) => void
  markFaulted: (agent: number) => void
  acting: () => { readonly agent: number, readonly term: number } | null
  /** The acting reconciler's status of the pool. */
  pool: () => PoolStatus | undefined
  seen: (agent: number) => Seen
  /** Live instances of the pool across clouds. */
  liveInstances: () => number
  /** Network faults: undefined where the fidelity does not model them (the loader refuses them). */
  readonly link?: LinkFaults
  readonly partition?: (groups: ReadonlyArray<readonly number[]>) => void
  readonly skew?: (agent: number, offsetMs: number) => void
  /** Messages pass between a and b (no partition between them; either may still be down). */
  sameSide: (a: number, b: number) => boolean
  /** Invariants the world checks itself (two agents acting at once, a core that threw), since the last call, each once. */
  drainViolations: () => Array<{ readonly t: number, readonly kind: InvariantName, readonly detail: string }>
}
