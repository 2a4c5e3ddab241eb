// What mesh mode cannot do, refused before any process starts, each naming its field. Real agents
// talk over real TCP on loopback: there is no clean way to drop, duplicate or delay their messages,
// nor to move one process's clock, short of rewriting the agent for it. simulate mode does those.
import { ConfigError, type ConfigIssue } from '../../../agent/config/errors.js'
import type { Scenario } from '../scenario/load.js'

const SIMULATE_ONLY = new Set(['loss', 'duplication', 'delay', 'clock-skew'])

/** Mesh agents per run: a scenario is for a handful of processes on one host. */
export const MESH_MAX_AGENTS = 60

export function meshRefusals (s: Scenario): ConfigIssue[] {
  const out: ConfigIssue[] = []
  s.failures.events.forEach((e, i) => {
    if (SIMULATE_ONLY.has(e.fault)) out.push({ path: `failures.events[${i}].fault`, message: `${e.fault} needs simulate mode` })
  })
  if (s.network.loss > 0) out.push({ path: 'network.loss', message: 'message loss needs simulate mode' })
  if (s.network.duplication > 0) out.push({ path: 'network.duplication', message: 'message duplication needs simulate mode' })
  if (s.network.latency.median > 0 || s.network.latency.p99 > 0) out.push({ path: 'network.latency', message: 'a latency model needs simulate mode (mesh runs on loopback)' })
  // The local fleet's agents expect 8 GPUs (the fake dgx-h100 machine).
  if (s.fleet.gpus_per_node !== 8) out.push({ path: 'fleet.gpus_per_node', message: `is ${s.fleet.gpus_per_node}; mesh mode runs fake 8-GPU machines` })
  const agents = s.fleet.council + (s.fleet.pool.max_nodes ?? s.fleet.pool.nodes)
  if (agents > MESH_MAX_AGENTS) out.push({ path: 'fleet.pool.nodes', message: `council plus max nodes is ${agents}; mesh mode runs at most ${MESH_MAX_AGENTS} agent processes` })
  return out
}

/** Throws a ConfigError naming every field mesh mode cannot honour. */
export function refuseUnsupported (s: Scenario): void {
  const issues = meshRefusals(s)
  if (issues.length > 0) throw new ConfigError(s.file, issues)
}
