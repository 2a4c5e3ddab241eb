// Loading a scenario: bounded text, strict YAML (the agent's parser), the schema, then the
// relations between fields (a target names a rack that exists, an event falls inside the run, a
// provider fault names a provider). Every problem at once, each naming its field.
import { ConfigError, editDistance, type ConfigIssue } from '../../../agent/config/errors.js'
import { readBoundedText } from '../../../agent/config/file.js'
import { deepFreeze, parseYaml } from '../../../agent/config/load.js'
import { formatDuration } from '../../../agent/lib/duration.js'
import type * as z from 'zod'
import type { Target } from './faults.js'
import { scenarioSchema, SCENARIO_LIMITS, type ParsedScenario } from './schema.js'

export const SCENARIO_MAX_BYTES = 1024 * 1024

export type Scenario = ParsedScenario & {
  /** The file as written (the report carries it). */
  readonly source: string
  readonly file: string
}

/**
 * Mesh fidelity runs every agent as a real MeshNode: about 1 µs of CPU per agent per virtual ms
 * on this class of machine (bench:replace). Past this many agent-hours, ask for fleet fidelity.
 */
export const MESH_FIDELITY_MAX_AGENT_HOURS = 400

/** Faults on the network itself: fleet fidelity has no messages to lose, delay or cut (a rack outage it models as silence). */
export const FLEET_REFUSES = ['partition', 'flap', 'loss', 'duplication', 'delay', 'clock-skew'] as const

export async function readScenario (path: string): Promise<Scenario> {
  return parseScenario(await readBoundedText(path, SCENARIO_MAX_BYTES, 'scenario'), path)
}

export function parseScenario (text: string, file: string): Scenario {
  const bytes = Buffer.byteLength(text)
  if (bytes > SCENARIO_MAX_BYTES) throw new ConfigError(file, [{ path: '', message: `is ${bytes} bytes; a scenario is at most 1 MiB` }])
  const data = parseYaml(text, file)
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(file, [{ path: '', message: 'a scenario is a mapping (name:, seed:, fleet:, failures:, ...)' }])
  }
  const r = scenarioSchema.safeParse(data, { reportInput: true })
  if (!r.success) throw new ConfigError(file, r.error.issues.flatMap(issueOf))
  const problems = relations(r.data)
  if (problems.length > 0) throw new ConfigError(file, problems)
  return deepFreeze({ ...r.data, source: text, file })
}

const TOP_KEYS = Object.keys(scenarioSchema.shape)

function issueOf (issue: z.core.$ZodIssue): ConfigIssue[] {
  const path = issue.path.map(String).join('.').replace(/\.(\d+)(?=\.|$)/g, '[$1]')
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const near = issue.path.length === 0 ? TOP_KEYS.find((k) => editDistance(k, key, 2) <= 2) : undefined
      return { path: path === '' ? key : `${path}.${key}`, message: `unknown field${near === undefined ? '' : ` (did you mean ${near}?)`}` }
    })
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return [{ path, message: 'required' }]
  return [{ path, message: issue.message }]
}

/** Racks per zone: nodes are placed rack by rack, zone by zone in turn (round robin over zones). */
export function racksPerZone (s: ParsedScenario): number {
  const perZone = Math.ceil(s.fleet.pool.nodes / s.fleet.topology.zones.length)
  return Math.max(1, Math.ceil(perZone / s.fleet.topology.rack_size))
}

function relations (s: ParsedScenario): ConfigIssue[] {
  const out: ConfigIssue[] = []
  const pool = s.fleet.pool
  const min = pool.min_nodes ?? pool.nodes
  const max = pool.max_nodes ?? pool.nodes
  if (min > pool.nodes) out.push({ path: 'fleet.pool.min_nodes', message: `is ${min}, above nodes (${pool.nodes})` })
  if (max < pool.nodes) out.push({ path: 'fleet.pool.max_nodes', message: `is ${max}, below nodes (${pool.nodes})` })
  const names = new Set<string>()
  s.providers.forEach((p, i) => {
    if (names.has(p.name)) out.push({ path: `providers[${i}].name`, message: `${JSON.stringify(p.name)} is named twice` })
    names.add(p.name)
    if (p.latency.min > p.latency.max) out.push({ path: `providers[${i}].latency.min`, message: `is above max (${formatDuration(p.latency.max)})` })
  })
  ;(pool.providers ?? []).forEach((name, i) => {
    if (!names.has(name)) out.push({ path: `fleet.pool.providers[${i}]`, message: `${JSON.stringify(name)} is not in providers (${[...names].join(', ')})` })
  })
  const zones = new Set(s.fleet.topology.zones)
  if (zones.size !== s.fleet.topology.zones.length) out.push({ path: 'fleet.topology.zones', message: 'a zone is named twice' })
  const racks = racksPerZone(s)
  s.failures.events.forEach((e, i) => {
    const at = `failures.events[${i}]`
    if (e.at >= s.duration) out.push({ path: `${at}.at`, message: `${formatDuration(e.at)} is not before the end of the run (${formatDuration(s.duration)})` })
    if ('target' in e) {
      const problem = targetProblem(e.target, pool.nodes, zones, racks)
      if (problem !== undefined) out.push({ path: `${at}.target`, message: problem })
      if ('count' in e && e.target.kind !== 'random' && e.count !== 1) out.push({ path: `${at}.count`, message: 'only a random target takes a count' })
      if ('count' in e && e.count > pool.nodes) out.push({ path: `${at}.count`, message: `is ${e.count}, above the pool's ${pool.nodes} nodes` })
    }
    if ('gpu' in e && e.gpu !== undefined && e.gpu >= s.fleet.gpus_per_node) out.push({ path: `${at}.gpu`, message: `is ${e.gpu}; nodes have GPUs 0..${s.fleet.gpus_per_node - 1}` })
    if ('provider' in e && e.provider !== '' && !names.has(e.provider)) out.push({ path: `${at}.provider`, message: `${JSON.stringify(e.provider)} is not in providers (${[...names].join(', ')})` })
    if (e.fault === 'provider-latency' && e.min > e.max) out.push({ path: `${at}.min`, message: 'is above max' })
    if (s.fidelity === 'fleet' && (FLEET_REFUSES as readonly string[]).includes(e.fault)) {
      out.push({ path: `${at}.fault`, message: `${e.fault} needs fidelity: mesh (fleet fidelity models membership and the network by their timings)` })
    }
  })
  const spares = s.fleet.spares ?? 0
  const agentHours = (s.fleet.council + pool.nodes + spares) * s.duration / 3_600_000
  if (s.fidelity === 'mesh' && agentHours > MESH_FIDELITY_MAX_AGENT_HOURS) {
    out.push({ path: 'fidelity', message: `mesh runs every agent's MeshNode: ${Math.round(agentHours)} agent-hours is past its ${MESH_FIDELITY_MAX_AGENT_HOURS}; use fidelity: fleet` })
  }
  if (SCENARIO_LIMITS.maxNodes < pool.nodes + spares) out.push({ path: 'fleet.spares', message: `nodes + spares must be at most ${SCENARIO_LIMITS.maxNodes}` })
  return out
}

function targetProblem (t: Target, nodes: number, zones: ReadonlySet<string>, racks: number): string | undefined {
  switch (t.kind) {
    case 'nodes': {
      const bad = t.nodes.find((n) => n >= nodes)
      return bad === undefined ? undefined : `node ${bad} does not exist (the pool has nodes 0..${nodes - 1})`
    }
    case 'zone': return zones.has(t.zone) ? undefined : `zone ${JSON.stringify(t.zone)} is not in fleet.topology.zones (${[...zones].join(', ')})`
    case 'rack':
      if (!zones.has(t.zone)) return `zone ${JSON.stringify(t.zone)} is not in fleet.topology.zones (${[...zones].join(', ')})`
      return t.rack < racks ? undefined : `rack ${t.rack} does not exist (each zone has racks 0..${racks - 1})`
    default: return undefined
  }
}
