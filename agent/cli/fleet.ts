// `shoal status | nodes | node ID | events | coordinator`: the fleet as the local agent sees it,
// asked over its admin socket. Tables by default, --json for scripts; exit codes in FLEET_EXIT.
import { create, toJson, type DescMessage, type MessageShape } from '@bufbuild/protobuf'
import {
  CoordinatorRequestSchema,
  CoordinatorStatusSchema,
  EventsRequestSchema,
  EventsResponseSchema,
  FleetStatusSchema,
  NodeRequestSchema,
  NodesRequestSchema,
  NodesResponseSchema,
  NodeViewSchema,
  StatusRequestSchema,
  type NodeView,
} from '../../proto/gen/shoal_pb.js'
import { formatDuration, parseDuration } from '../lib/duration.js'
import { ask, READ_TIMEOUT_MS, type Asked } from './ask.js'
import { renderCoordinator, renderEvents, renderNode, renderNodes, renderStatus } from './fleet-render.js'
import type { Output } from './gpus.js'

/** Scripts branch on these; docs/cli.md lists them. Shared by the read and the write commands. */
export const FLEET_EXIT = {
  ok: 0,
  unreachable: 1, // no agent, or it answered an error not listed below
  usage: 2,
  unknownNode: 3, // unknown-node, ambiguous-node, unknown-pool
  meshOff: 4, // the agent runs without a mesh
  noCoordinator: 5, // no-coordinator, not-coordinator, not-member
  refused: 6, // the command was refused (stale term, ...; a scale out of the pool's bounds)
  failed: 7, // the command's hook failed on the node
  timeout: 8, // a write got no answer in time; it may still be applied
} as const

export interface FleetReadOptions {
  socketPath: string
  json: boolean
  timeoutMs?: number
}

/** The exit code for a failed ask. `write`: a timeout means "maybe applied", not "unreachable". */
export function exitOf (failed: Exclude<Asked<'status'>, { ok: true }>, write = false): number {
  if (failed.kind === 'unreachable') return write && failed.client === 'timeout' ? FLEET_EXIT.timeout : FLEET_EXIT.unreachable
  switch (failed.code) {
    case 'unknown-node':
    case 'ambiguous-node':
    case 'unknown-pool': return FLEET_EXIT.unknownNode
    case 'mesh-off': return FLEET_EXIT.meshOff
    case 'no-coordinator':
    case 'not-coordinator':
    case 'not-member': return FLEET_EXIT.noCoordinator
    case 'refused':
    case 'out-of-bounds':
    case 'bad-value': return FLEET_EXIT.refused
    case 'timeout': return FLEET_EXIT.timeout
    default: return FLEET_EXIT.unreachable
  }
}

/** protobuf JSON, indented: what --json prints. */
export function json<Desc extends DescMessage> (schema: Desc, message: MessageShape<Desc>): string {
  return JSON.stringify(toJson(schema, message), null, 2) + '\n'
}

export async function statusCommand (o: FleetReadOptions, io: Output): Promise<number> {
  const r = await ask({ socketPath: o.socketPath, request: { case: 'status', value: create(StatusRequestSchema) }, expect: 'status', what: 'a fleet status', timeoutMs: o.timeoutMs ?? READ_TIMEOUT_MS }, io)
  if (!r.ok) return exitOf(r)
  io.out(o.json ? json(FleetStatusSchema, r.value) : renderStatus(r.value))
  return FLEET_EXIT.ok
}

export async function nodesCommand (o: FleetReadOptions & { pool: string | undefined }, io: Output): Promise<number> {
  const request = create(NodesRequestSchema, { pool: o.pool ?? '' })
  const r = await ask({ socketPath: o.socketPath, request: { case: 'nodes', value: request }, expect: 'nodes', what: 'a node list', timeoutMs: o.timeoutMs ?? READ_TIMEOUT_MS }, io)
  if (!r.ok) return exitOf(r)
  io.out(o.json ? json(NodesResponseSchema, r.value) : renderNodes(r.value.nodes))
  return FLEET_EXIT.ok
}

/** One node's view, by id, name or unique prefix; undefined when the ask failed (already reported). */
export async function askNode (o: FleetReadOptions & { id: string }, io: Output): Promise<NodeView | number> {
  const r = await ask({ socketPath: o.socketPath, request: { case: 'node', value: create(NodeRequestSchema, { id: o.id }) }, expect: 'node', what: 'a node', timeoutMs: o.timeoutMs ?? READ_TIMEOUT_MS }, io)
  return r.ok ? r.value : exitOf(r)
}

export async function nodeCommand (o: FleetReadOptions & { id: string }, io: Output): Promise<number> {
  const node = await askNode(o, io)
  if (typeof node === 'number') return node
  io.out(o.json ? json(NodeViewSchema, node) : renderNode(node))
  return FLEET_EXIT.ok
}

/** The most --limit takes; the agent refuses more. */
export const EVENTS_LIMIT_MAX = 10_000

export interface EventsOptions extends FleetReadOptions {
  since: string | undefined
  limit: string | undefined
  node: string | undefined
  /** Now, ms since the epoch, for a relative --since. */
  nowMs: number
}

export async function eventsCommand (o: EventsOptions, io: Output): Promise<number> {
  const sinceMs = parseSince(o.since, o.nowMs)
  if (typeof sinceMs === 'string') {
    io.err(`shoal events: ${sinceMs}\n`)
    return FLEET_EXIT.usage
  }
  const limit = parseLimit(o.limit)
  if (limit === undefined) {
    io.err(`shoal events: --limit takes a whole number from 1 to ${EVENTS_LIMIT_MAX}, not "${o.limit ?? ''}"\n`)
    return FLEET_EXIT.usage
  }
  const request = create(EventsRequestSchema, { sinceMs, limit, node: o.node ?? '' })
  const r = await ask({ socketPath: o.socketPath, request: { case: 'events', value: request }, expect: 'events', what: 'events', timeoutMs: o.timeoutMs ?? READ_TIMEOUT_MS }, io)
  if (!r.ok) return exitOf(r)
  io.out(o.json ? json(EventsResponseSchema, r.value) : renderEvents(r.value.events, sinceMs))
  return FLEET_EXIT.ok
}

/** --since 10m (that long ago) or an ISO-8601 time; absent: from the start of what the agent kept. */
export function parseSince (text: string | undefined, nowMs: number): number | string {
  if (text === undefined) return 0
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const ms = Date.parse(text)
    return Number.isFinite(ms) && ms >= 0 ? ms : `--since "${text}" is not a valid ISO-8601 time (e.g. 2025-03-14T03:00:00Z)`
  }
  try {
    const ago = parseDuration(text)
    return Math.max(0, nowMs - ago)
  } catch {
    return `--since takes a duration ago (10m, 2h, 1d) or an ISO-8601 time (2025-03-14T03:00:00Z), not "${text}"`
  }
}

/** undefined: not a valid --limit; 0 asks for the agent's default (100). */
function parseLimit (text: string | undefined): number | undefined {
  if (text === undefined) return 0
  if (!/^\d{1,5}$/.test(text)) return undefined
  const n = Number(text)
  return n >= 1 && n <= EVENTS_LIMIT_MAX ? n : undefined
}

export async function coordinatorCommand (o: FleetReadOptions, io: Output): Promise<number> {
  const timeoutMs = o.timeoutMs ?? READ_TIMEOUT_MS
  const r = await ask({ socketPath: o.socketPath, request: { case: 'coordinator', value: create(CoordinatorRequestSchema) }, expect: 'coordinator', what: 'a coordinator status', timeoutMs }, io)
  if (!r.ok) return exitOf(r)
  if (o.json) {
    io.out(json(CoordinatorStatusSchema, r.value))
    return FLEET_EXIT.ok
  }
  io.out(renderCoordinator(r.value, await namesOf(o.socketPath, timeoutMs)))
  return FLEET_EXIT.ok
}

/** Every node, to name the ids an answer carries; none when that ask fails (ids show instead), quietly. */
export async function namesOf (socketPath: string, timeoutMs: number): Promise<NodeView[]> {
  const quiet: Output = { out: () => {}, err: () => {} }
  const nodes = await ask({ socketPath, request: { case: 'nodes', value: create(NodesRequestSchema) }, expect: 'nodes', what: 'a node list', timeoutMs }, quiet)
  return nodes.ok ? nodes.value.nodes : []
}

/** A duration option such as --timeout, within bounds; a sentence when it is not one. */
export function parseDurationOption (name: string, text: string, minMs: number, maxMs: number): number | string {
  let ms: number
  try {
    ms = parseDuration(text)
  } catch (err) {
    return `--${name}: ${(err as Error).message}`
  }
  if (ms < minMs || ms > maxMs) return `--${name} must be ${formatDuration(minMs)}..${formatDuration(maxMs)}, got ${formatDuration(ms)}`
  return ms
}
