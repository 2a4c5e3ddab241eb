// The admin socket's fleet requests (shoal status, nodes, node, events, coordinator, pools, cordon,
// uncordon, drain, scale, queue set): validated here, answered from the daemon's fleet view (FleetReader), writes
// handed to the mesh (CommandWriter), which forwards them to the coordinator. No sockets here, so
// every answer is tested without one; the daemon composes this with its health handler.
import { clone, create } from '@bufbuild/protobuf'
import {
  AdminResponseSchema,
  CommandKind,
  CoordinatorStatusSchema,
  EventsResponseSchema,
  FleetStatusSchema,
  NodesResponseSchema,
  NodeViewSchema,
  PoolsReportSchema,
  PoolsResponseSchema,
  type AdminCommand,
  type AdminRequest,
  type AdminResponse,
  type CommandResult,
  type CoordinatorStatus,
  type FleetEvent,
  type FleetStatus,
  type NodeView,
  type PoolsReport,
} from '../../proto/gen/shoal_pb.js'
import { editDistance } from '../config/errors.js'
import { kindName } from '../mesh/command-id.js'
import { adminError } from './dispatch.js'
import { ADMIN_PROTOCOL_VERSION, type AdminErrorCode } from './protocol.js'

/** What the daemon knows of the fleet, from its fleet view. Each call is a fresh snapshot. */
export interface FleetReader {
  /** Counts filled; `nodes` may be empty (the handler fills it from nodes()). */
  status (): FleetStatus
  /** Every known node, this one included. */
  nodes (): NodeView[]
  /** The newest `limit` events at or after `sinceMs`, oldest first; `node` is a peer id. */
  events (q: { sinceMs: number, limit: number, node?: string }): FleetEvent[]
  coordinator (): CoordinatorStatus
  /** The latest PoolsReport the coordinator gossiped; undefined until one is heard. */
  pools (): PoolsReport | undefined
}

/** Hands an operator's write to the coordinator and waits for its answer (with its own timeout). */
export interface CommandWriter {
  /**
   * `targetId` is a peer id, already resolved here (cordon, uncordon, drain), or a pool name (scale,
   * queue). `value`: scale's nodes (−1: back to the autoscaler) or queue's jobs, checked here; 0 for
   * the node commands. A CommandResult with error_code set is an error.
   */
  command (kind: CommandKind, targetId: string, reason: string, value: number): Promise<CommandResult>
}

/** `shoal events` without --limit. */
export const DEFAULT_EVENTS_LIMIT = 100
/** A terminal's worth many times over; the fleet view keeps about this many anyway. */
export const MAX_EVENTS_LIMIT = 10_000
/** Node ids are peer ids (52 characters for Ed25519), names host names (≤ 253). */
export const MAX_NODE_QUERY_CHARS = 256
/** A reason is a sentence for the audit trail; it travels in the command and the hook's environment. */
export const MAX_REASON_CHARS = 1024
/** Pool names are at most 63 characters (node.pool). */
const MAX_POOL_CHARS = 63
/** node.pool's and the coordinator file's pool names: what `scale` and `queue` may name. */
const POOL_NAME = /^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$/
/**
 * The most `shoal scale` asks for: ten times the coordinator file's own limit on max_nodes (10,000),
 * so a typo's extra digits are refused here; the coordinator checks the pool's bounds.
 */
export const MAX_SCALE_NODES = 100_000
/** The scale value that hands a pool back to its autoscaler (`shoal scale POOL auto`). */
export const SCALE_AUTO = -1
/** An id suffix shorter than this matches too much to mean anything. */
const MIN_ID_SUFFIX_CHARS = 6
/** Candidates an error names; the rest are counted. */
const NAMED_CANDIDATES_MAX = 5
/** "did you mean" looks this far (edits) for a mistyped name. */
const SUGGEST_MAX_EDITS = 3

const NODE_KINDS: ReadonlySet<CommandKind> = new Set([CommandKind.CORDON, CommandKind.UNCORDON, CommandKind.DRAIN])
const POOL_KINDS: ReadonlySet<CommandKind> = new Set([CommandKind.SCALE, CommandKind.QUEUE])
const CONTROL = /\p{Cc}/u

type Handled = 'status' | 'nodes' | 'node' | 'events' | 'coordinator' | 'pools' | 'command'
const HANDLED: ReadonlySet<string> = new Set<Handled>(['status', 'nodes', 'node', 'events', 'coordinator', 'pools', 'command'])

/**
 * The fleet half of the admin handler. `reader` undefined: this agent runs without a mesh, and
 * every fleet request answers `mesh-off`. Resolves to undefined for requests it does not handle
 * (health), so the daemon can chain handlers.
 */
export function fleetHandler (reader: FleetReader | undefined, writer: CommandWriter | undefined): (req: AdminRequest) => Promise<AdminResponse | undefined> {
  return async (req) => {
    const r = req.request
    if (r.case === undefined || !HANDLED.has(r.case)) return undefined
    if (reader === undefined || (r.case === 'command' && writer === undefined)) return meshOff()
    switch (r.case) {
      case 'status': return respond({ case: 'status', value: status(reader) })
      case 'nodes': {
        const pool = r.value.pool
        if (pool.length > MAX_POOL_CHARS) return adminError('bad-request', `a pool name is at most ${MAX_POOL_CHARS} characters, got ${pool.length}`)
        const nodes = sortNodes(reader.nodes()).filter((n) => pool === '' || n.meta?.pool === pool).map(nodeSummary)
        return respond({ case: 'nodes', value: create(NodesResponseSchema, { nodes }) })
      }
      case 'node': {
        const bad = checkQuery(r.value.id, 'node id')
        if (bad !== undefined) return bad
        const found = resolveNode(reader.nodes(), r.value.id)
        return found.ok ? respond({ case: 'node', value: found.node }) : adminError(found.code, found.message)
      }
      case 'events': return events(reader, r.value)
      case 'coordinator': return respond({ case: 'coordinator', value: clone(CoordinatorStatusSchema, reader.coordinator()) })
      case 'pools': return respond({ case: 'pools', value: create(PoolsResponseSchema, { report: poolsReport(reader.pools()) }) })
      case 'command': return await command(reader, writer as CommandWriter, r.value)
      default: return undefined
    }
  }
}

function respond (response: AdminResponse['response']): AdminResponse {
  return create(AdminResponseSchema, { version: ADMIN_PROTOCOL_VERSION, response })
}

function meshOff (): AdminResponse {
  return adminError('mesh-off', 'this agent runs without a mesh (mesh.key_file is not set in its config): it knows only its own node; ' +
    'shoal health shows that, and docs/config.md says how to join a fleet')
}

function status (reader: FleetReader): FleetStatus {
  const s = clone(FleetStatusSchema, reader.status())
  s.nodes = sortNodes(s.nodes.length > 0 ? s.nodes : reader.nodes()).map(nodeSummary)
  return s
}

function events (reader: FleetReader, q: { sinceMs: number, limit: number, node: string }): AdminResponse {
  if (!Number.isFinite(q.sinceMs) || q.sinceMs < 0) return adminError('bad-request', `since_ms must be a time in ms since the epoch (0 or more), got ${q.sinceMs}`)
  if (q.limit > MAX_EVENTS_LIMIT) return adminError('bad-request', `limit is at most ${MAX_EVENTS_LIMIT}, got ${q.limit}`)
  const limit = q.limit === 0 ? DEFAULT_EVENTS_LIMIT : q.limit
  let node: string | undefined
  if (q.node !== '') {
    const bad = checkQuery(q.node, 'node')
    if (bad !== undefined) return bad
    const found = resolveNode(reader.nodes(), q.node)
    if (!found.ok) return adminError(found.code, found.message)
    node = found.node.id
  }
  const got = reader.events(node === undefined ? { sinceMs: q.sinceMs, limit } : { sinceMs: q.sinceMs, limit, node })
  // The reader promises order and limit; holding it to them costs nothing and keeps the frame bounded.
  const ordered = got.filter((e) => e.timeMs >= q.sinceMs && (node === undefined || e.node === node))
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.timeMs - b.e.timeMs || a.i - b.i)
    .map(({ e }) => e)
  return respond({ case: 'events', value: create(EventsResponseSchema, { events: ordered.slice(Math.max(0, ordered.length - limit)) }) })
}

async function command (reader: FleetReader, writer: CommandWriter, c: AdminCommand): Promise<AdminResponse> {
  const pool = POOL_KINDS.has(c.kind)
  if (!pool && !NODE_KINDS.has(c.kind)) return adminError('bad-request', `command kind ${c.kind} is not one this agent takes (cordon, uncordon, drain, scale, queue)`)
  const bad = (pool ? checkPool(c.target) : checkQuery(c.target, 'target')) ?? checkValue(c.kind, c.value)
  if (bad !== undefined) return bad
  if (c.reason.length > MAX_REASON_CHARS) return adminError('bad-request', `a reason is at most ${MAX_REASON_CHARS} characters, got ${c.reason.length}`)
  if (CONTROL.test(c.reason)) return adminError('bad-request', 'a reason is one line of text, without control characters')
  let target = c.target
  if (!pool) {
    const found = resolveNode(reader.nodes(), c.target)
    if (!found.ok) return adminError(found.code, found.message)
    target = found.node.id
  }
  const result = await writer.command(c.kind, target, c.reason, c.value)
  if (result.errorCode !== '') return adminError(result.errorCode as AdminErrorCode, result.message || result.errorCode)
  return respond({ case: 'command', value: result })
}

/** A pool is named exactly (the coordinator knows which exist, and says so when it does not). */
function checkPool (target: string): AdminResponse | undefined {
  if (target === '') return adminError('bad-request', 'no target given: a pool name')
  const problem = poolNameProblem(target)
  return problem === undefined ? undefined : adminError('bad-request', `target ${problem}`)
}

/** Why `name` cannot name a pool ("\"H100\" is not a pool name (...)"), or undefined; the CLI checks with it too. */
export function poolNameProblem (name: string): string | undefined {
  if (name.length > MAX_POOL_CHARS) return `pool name is at most ${MAX_POOL_CHARS} characters, got ${name.length}`
  if (!POOL_NAME.test(name)) return `${JSON.stringify(name)} is not a pool name (lower-case letters, digits, "_", "-")`
  return undefined
}

/** `value` carries scale's nodes or queue's jobs; the node commands take none. */
function checkValue (kind: CommandKind, v: number): AdminResponse | undefined {
  switch (kind) {
    case CommandKind.SCALE:
      if (v === SCALE_AUTO || (Number.isInteger(v) && v >= 0 && v <= MAX_SCALE_NODES)) return undefined
      return adminError('bad-request', `value: a scale is a whole number of nodes from 0 to ${MAX_SCALE_NODES}, or ${SCALE_AUTO} to hand the pool back to its autoscaler; got ${v}`)
    case CommandKind.QUEUE:
      if (Number.isFinite(v) && v >= 0) return undefined
      return adminError('bad-request', `value: a queue depth is a number of jobs, 0 or more; got ${v}`)
    default:
      return v === 0 ? undefined : adminError('bad-request', `value is for scale and queue only; a ${kindName(kind)} takes none, got ${v}`)
  }
}

/** What `shoal pools` needs: the coordinator's events are left out (they are in `shoal events`). */
function poolsReport (r: PoolsReport | undefined): PoolsReport | undefined {
  if (r === undefined) return undefined
  const copy = clone(PoolsReportSchema, r)
  copy.events = []
  return copy
}

function checkQuery (query: string, what: string): AdminResponse | undefined {
  if (query === '') return adminError('bad-request', `no ${what} given: a peer id, a node name, or a unique prefix of either`)
  if (query.length > MAX_NODE_QUERY_CHARS) return adminError('bad-request', `a ${what} is at most ${MAX_NODE_QUERY_CHARS} characters, got ${query.length}`)
  if (CONTROL.test(query)) return adminError('bad-request', `a ${what} has no control characters`)
  return undefined
}

/**
 * A node list entry: what a table shows. The detail (addresses, reasons, incidents, GPUs, boot gate)
 * is for `shoal node`; without it a list of thousands of nodes still fits in one frame.
 */
export function nodeSummary (v: NodeView): NodeView {
  const s = clone(NodeViewSchema, v)
  s.addrs = []
  if (s.health !== undefined) {
    s.health.incidents = []
    s.health.gpus = []
    s.health.bootGate = undefined
    if (s.health.verdict !== undefined) s.health.verdict.reasons = []
  }
  return s
}

function nameOf (n: NodeView): string {
  return n.meta?.name ?? ''
}

function sortNodes (nodes: readonly NodeView[]): NodeView[] {
  return [...nodes].sort((a, b) => compare(nameOf(a), nameOf(b)) || compare(a.id, b.id))
}

function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

export type Resolved =
  | { ok: true, node: NodeView }
  | { ok: false, code: 'unknown-node' | 'ambiguous-node', message: string }

/**
 * The node an operator means: an exact peer id, else an exact name (then ignoring case), else the
 * one node whose id or name starts with the query, or whose id ends with it (the short id the
 * tables show is the id's end). Errors name the candidates, or suggest the closest names.
 */
export function resolveNode (nodes: readonly NodeView[], query: string): Resolved {
  if (query === '') return { ok: false, code: 'unknown-node', message: 'no node given: a peer id, a node name, or a unique prefix of either' }
  const byId = nodes.find((n) => n.id === query)
  if (byId !== undefined) return { ok: true, node: byId }
  const lower = query.toLowerCase()
  for (const same of [(n: NodeView) => nameOf(n) === query, (n: NodeView) => nameOf(n).toLowerCase() === lower]) {
    const named = nodes.filter(same)
    if (named.length === 1 && named[0] !== undefined) return { ok: true, node: named[0] }
    if (named.length > 1) return ambiguous(query, named, 'names are meant to be unique; give the peer id')
  }
  const suffix = query.length >= MIN_ID_SUFFIX_CHARS
  const partial = nodes.filter((n) => n.id.startsWith(query) || nameOf(n).toLowerCase().startsWith(lower) || (suffix && n.id.endsWith(query)))
  if (partial.length === 1 && partial[0] !== undefined) return { ok: true, node: partial[0] }
  if (partial.length > 1) return ambiguous(query, partial, 'give more of the name or the id')
  return { ok: false, code: 'unknown-node', message: `no node matches ${JSON.stringify(query)}${suggest(nodes, query)}` }
}

function ambiguous (query: string, candidates: readonly NodeView[], hint: string): Resolved {
  const sorted = sortNodes(candidates)
  const named = sorted.slice(0, NAMED_CANDIDATES_MAX).map(describeNode).join(', ')
  const more = sorted.length > NAMED_CANDIDATES_MAX ? ` and ${sorted.length - NAMED_CANDIDATES_MAX} more` : ''
  return { ok: false, code: 'ambiguous-node', message: `${JSON.stringify(query)} matches ${sorted.length} nodes: ${named}${more}; ${hint}` }
}

/** "gpu-a (12D3KooW...)" in errors: the whole id, since it is what disambiguates. */
function describeNode (n: NodeView): string {
  const name = nameOf(n)
  return name === '' ? n.id : `${name} (${n.id})`
}

function suggest (nodes: readonly NodeView[], query: string): string {
  const lower = query.toLowerCase()
  // A third of the query, up to SUGGEST_MAX_EDITS: "gpu-e" is one edit from gpu-a, not two from cpu-d.
  const limit = Math.min(SUGGEST_MAX_EDITS, Math.max(1, Math.floor(query.length / 3)))
  const scored = nodes
    .map((n) => ({ name: nameOf(n), d: editDistance(lower, nameOf(n).toLowerCase(), limit) }))
    .filter((c) => c.name !== '' && c.d <= limit)
  const best = Math.min(...scored.map((c) => c.d))
  const close = scored.filter((c) => c.d === best).map((c) => c.name).sort(compare).slice(0, NAMED_CANDIDATES_MAX)
  if (close.length > 0) return ` (did you mean ${close.join(', ')}?)`
  if (nodes.length === 0) return ': this agent knows no nodes yet'
  if (nodes.length <= NAMED_CANDIDATES_MAX) return ` (known: ${sortNodes(nodes).map((n) => nameOf(n) || n.id).join(', ')})`
  return ` among ${nodes.length} nodes (shoal nodes lists them)`
}
