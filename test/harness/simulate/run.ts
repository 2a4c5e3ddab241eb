// simulate mode: the scenario's fidelity picks the world, the harness does the rest.
import type { Report } from '../report/types.js'
import type { Scenario } from '../scenario/load.js'
import { fleetWorld } from './fleet-world.js'
import { runHarness, type SimulateOptions } from './harness.js'
import { meshWorld } from './mesh-world.js'

export function runSimulate (s: Scenario, o: SimulateOptions = {}): Report {
  return runHarness(s, (hooks, gpus) => s.fidelity === 'fleet' ? fleetWorld(s, hooks, gpus) : meshWorld(s, hooks), o)
}
