// The scenario file (docs/harness.md): YAML 1.2, snake_case, strict — an unknown key is an error
// and every problem names its field the way the file spells it (`failures.events[2].at: ...`).
// One format for both modes; what a mode cannot do is refused at load, not ignored at run time.
import * as z from 'zod'
import { boolField, durationField, enumField, intField, stringField } from '../../../agent/config/leaves.js'
import { FAULT_KINDS, faultEventSchema } from './faults.js'
import { fractionField, numberField } from './leaves.js'

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/
const nameField = (what: string, def: string, doc: string) => stringField({ maxChars: 63, pattern: NAME, what: `${what} (lower-case letters, digits and -)`, default: def, doc })

/** Bounds on every size: a scenario is a test, not a way to make the harness eat the machine. */
export const SCENARIO_LIMITS = {
  maxNodes: 20_000,
  maxSpares: 20_000,
  maxDurationH: 48,
  maxEvents: 10_000,
  maxProviders: 4,
}

const latencySchema = z.strictObject({
  median: durationField({ default: '0ms', min: '0ms', max: '10s', doc: 'Median one-way latency (0: the LAN model\'s 0.3 ms).' }),
  p99: durationField({ default: '0ms', min: '0ms', max: '60s', doc: 'p99 one-way latency (0: the LAN model\'s 2 ms).' }),
})

const providerSchema = z.strictObject({
  name: nameField('a provider name', 'aws', 'Provider name; the pool lists them in priority order.'),
  region: stringField({ maxChars: 64, what: 'a region', default: 'us-east-1', doc: 'Region of the one offering.' }),
  instance_type: stringField({ maxChars: 64, what: 'an instance type', default: 'p5.48xlarge', doc: 'Instance type of the offering.' }),
  capacity: z.union([z.literal('unlimited'), z.number().int().min(0).max(100_000)]).default('unlimited'),
  latency: z.strictObject({
    min: durationField({ default: '50ms', min: '0ms', max: '5m', doc: 'Fastest API answer.' }),
    max: durationField({ default: '400ms', min: '0ms', max: '5m', doc: 'Slowest API answer.' }),
  }).default({ min: 50, max: 400 }),
  doa_rate: fractionField({ default: 0, doc: 'Share of new instances that fail their boot gate (dead on arrival).' }),
})

const poolSchema = z.strictObject({
  name: nameField('a pool name', 'h100', 'The pool.'),
  nodes: intField({ default: 20, min: 1, max: SCENARIO_LIMITS.maxNodes, doc: 'Nodes at the start; also min_nodes and max_nodes unless given.' }),
  min_nodes: z.number().int().min(0).max(SCENARIO_LIMITS.maxNodes).optional(),
  max_nodes: z.number().int().min(1).max(SCENARIO_LIMITS.maxNodes).optional(),
  providers: z.array(nameField('a provider name', 'aws', '')).min(1).max(SCENARIO_LIMITS.maxProviders).optional(),
  max_in_flight: intField({ default: 4, min: 1, max: 1000, doc: 'Replacements in flight per pool.' }),
  breaker_fraction: fractionField({ default: 0.2, doc: 'Replacement halts above this share unhealthy or dead.' }),
  boot_deadline: durationField({ default: '5m', min: '1s', max: '1h', doc: 'From launch to a passing boot gate.' }),
  dead_replace_after: durationField({ default: '30s', min: '1s', max: '1h', doc: 'A node dead this long is replaced.' }),
})

const topologySchema = z.strictObject({
  zones: z.array(nameField('a zone name', 'a', '')).min(1).max(16).default(['a']),
  rack_size: intField({ default: 16, min: 1, max: 256, doc: 'Nodes under one ToR switch (16–32 in reference/fleet-failures.md).' }),
})

const fleetSchema = z.strictObject({
  council: intField({ default: 5, min: 1, max: 9, odd: true, doc: 'Coordinator-eligible agents (the council), placed first, outside the pool.' }),
  gpus_per_node: intField({ default: 8, min: 1, max: 16, doc: 'GPUs per node.' }),
  spares: z.number().int().min(0).max(SCENARIO_LIMITS.maxSpares).optional(),
  topology: topologySchema.default({ zones: ['a'], rack_size: 16 }),
  pool: poolSchema,
})

const networkSchema = z.strictObject({
  latency: latencySchema.default({ median: 0, p99: 0 }),
  loss: fractionField({ default: 0, doc: 'Share of direct messages lost.' }),
  duplication: fractionField({ default: 0, doc: 'Share of direct messages delivered twice.' }),
})

const failuresSchema = z.strictObject({
  profile: enumField({ values: ['none', 'realistic'] as const, default: 'none', doc: 'realistic: reference/fleet-failures.md §4 rates, times accel.' }),
  accel: numberField({ default: 1, min: 1, max: 100_000, doc: 'Rate multiplier over the real fleet rates; every report states it.' }),
  events: z.array(faultEventSchema).max(SCENARIO_LIMITS.maxEvents).default([]),
})

const assertionsSchema = z.strictObject({
  replacement_within: durationField({ default: '60s', min: '1s', max: '1h', doc: 'A replace-class fault must see a replacement requested within this long (time without an acting coordinator added).' }),
  replacement_p99: durationField({ default: '0ms', min: '0ms', max: '1h', doc: 'If set: fault → replacement request p99 at most this (checked at the end).' }),
  min_capacity: fractionField({ default: 0, doc: 'Pool capacity ≥ this share of target at the end of the run.' }),
  no_healthy_terminated: boolField({ default: true, doc: 'No node without an injected fault is terminated by automatic repair.' }),
})

const reportSchema = z.strictObject({
  sample_every: durationField({ default: '0ms', min: '0ms', max: '1h', doc: 'Series resolution (0: duration / 240).' }),
  node_timelines: intField({ default: 200, min: 0, max: 5000, doc: 'Nodes with a timeline in the report (those with the most events).' }),
})

export const scenarioSchema = z.strictObject({
  name: nameField('a scenario name', 'scenario', 'Names the report.'),
  description: z.string().max(2000).default(''),
  seed: z.union([z.number().int().min(0).max(2 ** 53), z.string().min(1).max(64)]).default(1),
  duration: durationField({ default: '5m', min: '1s', max: `${SCENARIO_LIMITS.maxDurationH}h`, doc: 'Virtual time the run covers.' }),
  fidelity: enumField({ values: ['mesh', 'fleet'] as const, default: 'mesh', doc: 'simulate mode: every agent a real MeshNode (mesh), or modelled membership for the fleet at large (fleet).' }),
  fleet: fleetSchema,
  network: networkSchema.default({ latency: { median: 0, p99: 0 }, loss: 0, duplication: 0 }),
  providers: z.array(providerSchema).min(1).max(SCENARIO_LIMITS.maxProviders).default([{ name: 'aws', region: 'us-east-1', instance_type: 'p5.48xlarge', capacity: 'unlimited', latency: { min: 50, max: 400 }, doa_rate: 0 }]),
  failures: failuresSchema.default({ profile: 'none', accel: 1, events: [] }),
  assertions: assertionsSchema.default({ replacement_within: 60_000, replacement_p99: 0, min_capacity: 0, no_healthy_terminated: true }),
  report: reportSchema.default({ sample_every: 0, node_timelines: 200 }),
})

export type ParsedScenario = z.output<typeof scenarioSchema>
export { FAULT_KINDS }
