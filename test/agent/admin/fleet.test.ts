// agent/admin/fleet.ts without a socket: which node an operator means, what each fleet request is
// answered with, what is refused as a bad request, and how the coordinator's answers come back.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import {
  AdminCommandSchema,
  AdminRequestSchema,
  CommandKind,
  CoordinatorRequestSchema,
  EventsRequestSchema,
  HealthRequestSchema,
  MemberState,
  NodeMetaSchema,
  NodeRequestSchema,
  NodesRequestSchema,
  NodeViewSchema,
  PoolsRequestSchema,
  StatusRequestSchema,
  type AdminRequest,
  type AdminResponse,
  type NodeView,
} from '../../../proto/gen/shoal_pb.js'
import { fleetHandler, MAX_EVENTS_LIMIT, MAX_SCALE_NODES, nodeSummary, resolveNode } from '../../../agent/admin/fleet.js'
import { ADMIN_PROTOCOL_VERSION } from '../../../agent/admin/protocol.js'
import { errorOf } from './fixtures/support.js'
import { applied, FakeReader, FakeWriter, failedResult, fleetNodes, IDS, T0 } from './fixtures/fleet.js'

const req = (request: AdminRequest['request']): AdminRequest => create(AdminRequestSchema, { version: ADMIN_PROTOCOL_VERSION, request })
const status = req({ case: 'status', value: create(StatusRequestSchema) })
const nodes = (pool = ''): AdminRequest => req({ case: 'nodes', value: create(NodesRequestSchema, { pool }) })
const node = (id: string): AdminRequest => req({ case: 'node', value: create(NodeRequestSchema, { id }) })
const events = (q: { sinceMs?: number, limit?: number, node?: string } = {}): AdminRequest => req({ case: 'events', value: create(EventsRequestSchema, q) })
const coordinator = req({ case: 'coordinator', value: create(CoordinatorRequestSchema) })
const command = (kind: CommandKind, target: string, reason = 'maintenance', value = 0): AdminRequest =>
  req({ case: 'command', value: create(AdminCommandSchema, { kind, target, reason, value }) })
const pools = req({ case: 'pools', value: create(PoolsRequestSchema) })

type Case = NonNullable<AdminResponse['response']['case']>
type ValueOf<C extends Case> = Extract<AdminResponse['response'], { case: C }>['value']

function answer<C extends Case> (res: AdminResponse | undefined, c: C): ValueOf<C> {
  const r = res?.response
  if (r?.case !== c) throw new Error(`expected ${c}, got ${JSON.stringify(r?.case)}: ${JSON.stringify(res === undefined ? undefined : errorOf(res))}`)
  return (r as { value: unknown }).value as ValueOf<C>
}

const names = (ns: readonly NodeView[]): string[] => ns.map((n) => n.meta?.name ?? '')

function view (id: string, name: string): NodeView {
  return create(NodeViewSchema, { id, state: MemberState.ALIVE, meta: create(NodeMetaSchema, { name }) })
}

t.test('resolveNode: exact id, exact name, any case, unique prefix or id end (table)', async (t) => {
  const ns = fleetNodes()
  const rows: Array<[string, string, string]> = [
    ['exact peer id', IDS.c, 'gpu-c'],
    ['exact name', 'gpu-a', 'gpu-a'],
    ['name in another case', 'GPU-B', 'gpu-b'],
    ['unique name prefix', 'cpu', 'cpu-d'],
    ['unique name prefix, any case', 'CPU-', 'cpu-d'],
    ['unique id prefix', '12D3KooWB', 'gpu-b'],
    ['id end, as the tables show it', 'J9k8m7n6', 'gpu-c'],
    ['id end of six', 'q4r3s2', 'cpu-d'],
  ]
  for (const [name, query, want] of rows) {
    const r = resolveNode(ns, query)
    t.equal(r.ok ? r.node.meta?.name : `${r.code}: ${r.message}`, want, name)
  }
})

t.test('resolveNode: an exact id beats a name prefix, an exact name beats a longer name', async (t) => {
  const ns = [view('gpu-1', 'other'), view('12D3KooWX1', 'gpu-10'), view('12D3KooWX2', 'gpu-1')]
  const byId = resolveNode(ns, 'gpu-1')
  t.equal(byId.ok && byId.node.meta?.name, 'other', 'the id wins')
  const byName = resolveNode([view('12D3KooWX1', 'gpu-10'), view('12D3KooWX2', 'gpu-1')], 'gpu-1')
  t.equal(byName.ok && byName.node.id, '12D3KooWX2', 'the exact name wins over a prefix of gpu-10')
})

t.test('resolveNode: ambiguous names the candidates, at most five', async (t) => {
  const r = resolveNode(fleetNodes(), 'gpu')
  t.same(r, {
    ok: false,
    code: 'ambiguous-node',
    message: `"gpu" matches 3 nodes: gpu-a (${IDS.a}), gpu-b (${IDS.b}), gpu-c (${IDS.c}); give more of the name or the id`,
  })
  const many = Array.from({ length: 12 }, (_, i) => view(`12D3KooWN${String(i).padStart(2, '0')}`, `node-${String(i).padStart(2, '0')}`))
  const m = resolveNode(many, 'node-')
  t.equal(m.ok ? '' : m.message, '"node-" matches 12 nodes: node-00 (12D3KooWN00), node-01 (12D3KooWN01), node-02 (12D3KooWN02), ' +
    'node-03 (12D3KooWN03), node-04 (12D3KooWN04) and 7 more; give more of the name or the id')
  const prefixOfAll = resolveNode(fleetNodes(), '12D3KooW')
  t.equal(prefixOfAll.ok ? '' : prefixOfAll.code, 'ambiguous-node', 'every Ed25519 id starts alike')
  const twins = resolveNode([view('12D3KooWT1', 'gpu-x'), view('12D3KooWT2', 'gpu-x')], 'gpu-x')
  t.same(twins, { ok: false, code: 'ambiguous-node', message: '"gpu-x" matches 2 nodes: gpu-x (12D3KooWT1), gpu-x (12D3KooWT2); names are meant to be unique; give the peer id' })
})

t.test('resolveNode: unknown suggests close names, or lists a small fleet, or counts a big one', async (t) => {
  t.same(resolveNode(fleetNodes(), 'gpu-e'), { ok: false, code: 'unknown-node', message: 'no node matches "gpu-e" (did you mean gpu-a, gpu-b, gpu-c?)' })
  t.same(resolveNode(fleetNodes(), 'gpua'), { ok: false, code: 'unknown-node', message: 'no node matches "gpua" (did you mean gpu-a?)' })
  t.same(resolveNode(fleetNodes(), 'gpu-cc'), { ok: false, code: 'unknown-node', message: 'no node matches "gpu-cc" (did you mean gpu-c?)' })
  t.same(resolveNode(fleetNodes(), 'storage-17'), { ok: false, code: 'unknown-node', message: 'no node matches "storage-17" (known: cpu-d, gpu-a, gpu-b, gpu-c)' })
  const big = Array.from({ length: 40 }, (_, i) => view(`12D3KooWZ${i}`, `host-${i}`))
  t.same(resolveNode(big, 'zzzzzzzzzzzz'), { ok: false, code: 'unknown-node', message: 'no node matches "zzzzzzzzzzzz" among 40 nodes (shoal nodes lists them)' })
  t.same(resolveNode([], 'gpu-a'), { ok: false, code: 'unknown-node', message: 'no node matches "gpu-a": this agent knows no nodes yet' })
  t.equal(resolveNode(fleetNodes(), '').ok, false)
  t.equal(resolveNode(fleetNodes(), 'n6').ok, false, 'an id end shorter than six is not a match')
})

t.test('requests it does not handle resolve to undefined', async (t) => {
  const h = fleetHandler(new FakeReader(), new FakeWriter())
  t.equal(await h(req({ case: 'health', value: create(HealthRequestSchema) })), undefined)
  t.equal(await h(req({ case: undefined })), undefined)
  t.equal(await fleetHandler(undefined, undefined)(req({ case: 'health', value: create(HealthRequestSchema) })), undefined, 'even with the mesh off')
})

t.test('mesh off: every fleet request answers mesh-off', async (t) => {
  const off = fleetHandler(undefined, undefined)
  for (const r of [status, nodes(), node('gpu-a'), events(), coordinator, pools, command(CommandKind.CORDON, 'gpu-a'), command(CommandKind.SCALE, 'h100', 'x', 4)]) {
    const e = errorOf(await off(r) as AdminResponse)
    t.equal(e?.code, 'mesh-off', r.request.case ?? '')
    t.match(e?.message, /this agent runs without a mesh \(mesh\.key_file is not set in its config\)/)
  }
  const readOnly = fleetHandler(new FakeReader(), undefined)
  t.equal(errorOf(await readOnly(command(CommandKind.CORDON, 'gpu-a')) as AdminResponse)?.code, 'mesh-off', 'no writer: writes are off')
  t.equal((await readOnly(status))?.response.case, 'status', 'reads still work')
})

t.test('status: the reader\'s counts, nodes filled in, sorted, as summaries', async (t) => {
  const reader = new FakeReader()
  const s = answer(await fleetHandler(reader, undefined)(status), 'status')
  t.same([s.fleet, s.node, s.alive, s.suspect, s.dead, s.cordoned, s.connectedPeers], ['prod', IDS.a, 2, 1, 1, 2, 2])
  t.same(names(s.nodes), ['cpu-d', 'gpu-a', 'gpu-b', 'gpu-c'])
  const a = s.nodes.find((n) => n.id === IDS.a)
  t.same([a?.addrs, a?.health?.incidents, a?.health?.gpus, a?.health?.verdict?.reasons, a?.health?.bootGate], [[], [], [], [], undefined], 'no detail in a list')
  t.same([a?.health?.cordoned, a?.health?.draining, a?.health?.verdict?.state, a?.meta?.pool], [true, true, 3, 'h100'], 'what a table shows is kept')
  t.equal(reader.nodeList.find((n) => n.id === IDS.a)?.addrs.length, 2, 'the reader\'s views are not touched')
  reader.statusNodes = [fleetNodes()[1] as NodeView]
  const own = answer(await fleetHandler(reader, undefined)(status), 'status')
  t.same(names(own.nodes), ['gpu-a'], 'nodes the reader gave are kept (summarized)')
  t.same(own.nodes[0]?.addrs, [])
})

t.test('nodes: all, sorted, or one pool; summaries', async (t) => {
  const h = fleetHandler(new FakeReader(), undefined)
  t.same(names(answer(await h(nodes()), 'nodes').nodes), ['cpu-d', 'gpu-a', 'gpu-b', 'gpu-c'])
  t.same(names(answer(await h(nodes('a100')), 'nodes').nodes), ['cpu-d', 'gpu-c'])
  t.same(answer(await h(nodes('none-such')), 'nodes').nodes, [], 'an unknown pool is an empty list')
  t.equal(errorOf(await h(nodes('p'.repeat(64))) as AdminResponse)?.code, 'bad-request')
  t.same(answer(await h(nodes()), 'nodes').nodes.map((n) => n.addrs.length), [0, 0, 0, 0])
})

t.test('node: the full view by any name an operator uses; errors say which nodes', async (t) => {
  const h = fleetHandler(new FakeReader(), undefined)
  const a = answer(await h(node('gpu-a')), 'node')
  t.equal(a.id, IDS.a)
  t.same([a.addrs.length, a.health?.incidents.length, a.health?.gpus.length, a.health?.verdict?.reasons.length], [2, 1, 1, 1], 'the detail is there')
  t.equal(answer(await h(node('A1b2c3d4')), 'node').id, IDS.a)
  t.same(errorOf(await h(node('gpu')) as AdminResponse)?.code, 'ambiguous-node')
  t.same(errorOf(await h(node('gpu-x')) as AdminResponse), { code: 'unknown-node', message: 'no node matches "gpu-x" (did you mean gpu-a, gpu-b, gpu-c?)' })
  t.same(errorOf(await h(node('')) as AdminResponse), { code: 'bad-request', message: 'no node id given: a peer id, a node name, or a unique prefix of either' })
  t.same(errorOf(await h(node('x'.repeat(257))) as AdminResponse), { code: 'bad-request', message: 'a node id is at most 256 characters, got 257' })
  t.equal(errorOf(await h(node('gpu\u0000a')) as AdminResponse)?.code, 'bad-request')
})

t.test('events: default and bounded limit, since, a node by name; oldest first', async (t) => {
  const reader = new FakeReader()
  const h = fleetHandler(reader, undefined)
  const all = answer(await h(events()), 'events').events
  t.same(all.map((e) => e.kind), ['health', 'command', 'ack', 'suspect', 'dead'])
  t.same(reader.calls.at(-1), { sinceMs: 0, limit: 100 }, 'limit 0 is the default, 100')
  t.same(answer(await h(events({ limit: 2 })), 'events').events.map((e) => e.kind), ['suspect', 'dead'], 'the newest, oldest first')
  t.same(answer(await h(events({ sinceMs: T0 - 58_000 })), 'events').events.map((e) => e.kind), ['ack', 'suspect', 'dead'])
  t.same(answer(await h(events({ node: 'gpu-c' })), 'events').events.map((e) => e.kind), ['suspect'])
  t.same(reader.calls.at(-1), { sinceMs: 0, limit: 100, node: IDS.c }, 'the reader gets the peer id')
  t.same(answer(await h(events({ limit: MAX_EVENTS_LIMIT })), 'events').events.length, 5)
  t.same(errorOf(await h(events({ limit: MAX_EVENTS_LIMIT + 1 })) as AdminResponse), { code: 'bad-request', message: 'limit is at most 10000, got 10001' })
  t.equal(errorOf(await h(events({ sinceMs: Number.NaN })) as AdminResponse)?.code, 'bad-request')
  t.equal(errorOf(await h(events({ sinceMs: -1 })) as AdminResponse)?.code, 'bad-request')
  t.equal(errorOf(await h(events({ node: 'nobody' })) as AdminResponse)?.code, 'unknown-node')
  t.equal(errorOf(await h(events({ node: 'gpu' })) as AdminResponse)?.code, 'ambiguous-node')
})

t.test('events: a reader that over-delivers or misorders is held to the contract', async (t) => {
  const sloppy = new FakeReader()
  sloppy.events = () => [...sloppy.eventList].reverse()
  const got = answer(await fleetHandler(sloppy, undefined)(events({ limit: 3, sinceMs: T0 - 59_500 })), 'events').events
  t.same(got.map((e) => e.kind), ['ack', 'suspect', 'dead'])
})

t.test('coordinator: the reader\'s status', async (t) => {
  const c = answer(await fleetHandler(new FakeReader(), undefined)(coordinator), 'coordinator')
  t.same([c.term, c.coordinator, c.council?.members.length, c.role], [7, IDS.b, 3, 'voter'])
})

t.test('commands: validated, the target resolved to a peer id, the result passed through', async (t) => {
  const writer = new FakeWriter()
  const h = fleetHandler(new FakeReader(), writer)
  const r = answer(await h(command(CommandKind.DRAIN, 'cpu', 'replace: xid 79')), 'command')
  t.same(writer.calls, [{ kind: CommandKind.DRAIN, target: IDS.d, reason: 'replace: xid 79', value: 0 }])
  t.same([r.term, r.ack?.status, r.ack?.node, r.ack?.detail], [7, 1, IDS.d, 'no hook configured'])
  const bad: Array<[AdminRequest, string, string]> = [
    [command(CommandKind.UNSPECIFIED, 'gpu-a'), 'bad-request', 'command kind 0 is not one this agent takes (cordon, uncordon, drain, scale, queue)'],
    [command(7 as CommandKind, 'gpu-a'), 'bad-request', 'command kind 7 is not one this agent takes (cordon, uncordon, drain, scale, queue)'],
    [command(CommandKind.CORDON, ''), 'bad-request', 'no target given: a peer id, a node name, or a unique prefix of either'],
    [command(CommandKind.CORDON, 't'.repeat(300)), 'bad-request', 'a target is at most 256 characters, got 300'],
    [command(CommandKind.CORDON, 'gpu-a', 'r'.repeat(1025)), 'bad-request', 'a reason is at most 1024 characters, got 1025'],
    [command(CommandKind.CORDON, 'gpu-a', 'two\nlines'), 'bad-request', 'a reason is one line of text, without control characters'],
    [command(CommandKind.CORDON, 'gpu'), 'ambiguous-node', `"gpu" matches 3 nodes: gpu-a (${IDS.a}), gpu-b (${IDS.b}), gpu-c (${IDS.c}); give more of the name or the id`],
    [command(CommandKind.UNCORDON, 'gpu-q'), 'unknown-node', 'no node matches "gpu-q" (did you mean gpu-a, gpu-b, gpu-c?)'],
    [command(CommandKind.CORDON, 'gpu-a', 'x', 3), 'bad-request', 'value is for scale and queue only; a cordon takes none, got 3'],
  ]
  for (const [request, code, message] of bad) t.same(errorOf(await h(request) as AdminResponse), { code, message }, message)
  t.equal(writer.calls.length, 1, 'nothing invalid reached the writer')
})

t.test('commands: a result with error_code is an AdminError with that code and message', async (t) => {
  const writer = new FakeWriter()
  const h = fleetHandler(new FakeReader(), writer)
  for (const code of ['no-coordinator', 'not-coordinator', 'not-member', 'timeout', 'refused', 'busy']) {
    writer.next = () => failedResult(code, `${code} happened`)
    t.same(errorOf(await h(command(CommandKind.CORDON, 'gpu-a')) as AdminResponse), { code, message: `${code} happened` })
  }
  writer.next = () => failedResult('no-coordinator', '')
  t.same(errorOf(await h(command(CommandKind.CORDON, 'gpu-a')) as AdminResponse), { code: 'no-coordinator', message: 'no-coordinator' }, 'an empty message is the code')
  writer.next = (kind, target) => applied(kind, target, 2, 'cordon hook /x exited with code 1')
  const failed = answer(await h(command(CommandKind.CORDON, 'gpu-a')), 'command')
  t.equal(failed.ack?.status, 2, 'a FAILED ack is an answer, not an error: the CLI says what failed')
  writer.next = () => { throw new Error('mesh stopped') }
  await t.rejects(h(command(CommandKind.CORDON, 'gpu-a')), /mesh stopped/, 'a throw is left to dispatch (internal)')
})

t.test('pools: the coordinator\'s report without its events; none heard is an empty answer, not an error', async (t) => {
  const reader = new FakeReader()
  const h = fleetHandler(reader, undefined)
  const r = answer(await h(pools), 'pools').report
  t.same([r?.term, r?.coordinator, r?.seq, r?.pools.map((p) => p.name)], [7, IDS.b, 12, ['h100', 'a100']])
  t.same([r?.pools[0]?.scale, r?.pools[0]?.slots.length, r?.pools[1]?.queueDepth, r?.pools[1]?.breakerOpen], [3, 3, 12.5, true])
  t.same(r?.events, [], 'the coordinator\'s events are for shoal events')
  t.equal(reader.report?.events.length, 1, 'the reader\'s report is not touched')
  reader.report = undefined
  const none = answer(await h(pools), 'pools')
  t.equal(none.report, undefined)
})

t.test('scale and queue: the pool named as given, the value passed through; node commands send 0', async (t) => {
  const writer = new FakeWriter()
  const h = fleetHandler(new FakeReader(), writer)
  const rows: Array<[CommandKind, string, number]> = [
    [CommandKind.SCALE, 'h100', 4],
    [CommandKind.SCALE, 'h100', 0],
    [CommandKind.SCALE, 'a100', -1],
    [CommandKind.SCALE, 'a100', MAX_SCALE_NODES],
    [CommandKind.QUEUE, 'a100', 120],
    [CommandKind.QUEUE, 'a100', 0],
    [CommandKind.QUEUE, 'gpu_pool-2', 2.5],
  ]
  for (const [kind, pool, value] of rows) {
    const r = answer(await h(command(kind, pool, 'load test', value)), 'command')
    t.same(writer.calls.at(-1), { kind, target: pool, reason: 'load test', value }, `${kind} ${pool} ${value}`)
    t.equal(r.ack?.node, pool)
  }
  t.equal(writer.calls.length, rows.length)
  // A pool that is also a node's name prefix is still the pool: scale never resolves nodes.
  await h(command(CommandKind.SCALE, 'gpu-a', '', 2))
  t.equal(writer.calls.at(-1)?.target, 'gpu-a')
})

t.test('scale and queue: bad values and pool names are bad requests naming the field; nothing is sent (table)', async (t) => {
  const writer = new FakeWriter()
  const h = fleetHandler(new FakeReader(), writer)
  const scale = (v: number): string => `value: a scale is a whole number of nodes from 0 to ${MAX_SCALE_NODES}, or -1 to hand the pool back to its autoscaler; got ${v}`
  const queue = (v: number): string => `value: a queue depth is a number of jobs, 0 or more; got ${v}`
  const bad: Array<[AdminRequest, string]> = [
    [command(CommandKind.SCALE, 'h100', '', 2.5), scale(2.5)],
    [command(CommandKind.SCALE, 'h100', '', -2), scale(-2)],
    [command(CommandKind.SCALE, 'h100', '', MAX_SCALE_NODES + 1), scale(MAX_SCALE_NODES + 1)],
    [command(CommandKind.SCALE, 'h100', '', Number.NaN), scale(Number.NaN)],
    [command(CommandKind.SCALE, 'h100', '', Number.POSITIVE_INFINITY), scale(Number.POSITIVE_INFINITY)],
    [command(CommandKind.QUEUE, 'h100', '', -0.5), queue(-0.5)],
    [command(CommandKind.QUEUE, 'h100', '', Number.NaN), queue(Number.NaN)],
    [command(CommandKind.QUEUE, 'h100', '', Number.POSITIVE_INFINITY), queue(Number.POSITIVE_INFINITY)],
    [command(CommandKind.QUEUE, 'h100', '', -1), queue(-1)],
    [command(CommandKind.SCALE, '', '', 2), 'no target given: a pool name'],
    [command(CommandKind.QUEUE, 'p'.repeat(64), '', 2), 'target pool name is at most 63 characters, got 64'],
    [command(CommandKind.SCALE, 'H100', '', 2), 'target "H100" is not a pool name (lower-case letters, digits, "_", "-")'],
    [command(CommandKind.SCALE, 'h100-', '', 2), 'target "h100-" is not a pool name (lower-case letters, digits, "_", "-")'],
    [command(CommandKind.SCALE, 'h100', 'two\nlines', 2), 'a reason is one line of text, without control characters'],
    [command(CommandKind.QUEUE, 'h100', 'r'.repeat(1025), 2), 'a reason is at most 1024 characters, got 1025'],
  ]
  for (const [request, message] of bad) t.same(errorOf(await h(request) as AdminResponse), { code: 'bad-request', message }, message)
  t.same(writer.calls, [], 'nothing invalid reached the writer')
})

t.test('scale and queue: the coordinator\'s pool errors come back as they are', async (t) => {
  const writer = new FakeWriter()
  const h = fleetHandler(new FakeReader(), writer)
  const rows: Array<[string, string]> = [
    ['unknown-pool', 'no pool h200 in the coordinator file (pools: a100, h100)'],
    ['out-of-bounds', 'pool h100 takes 2 to 8 nodes, not 9'],
    ['bad-value', 'a queue depth is a number of jobs ≥ 0, not -1'],
    ['no-coordinator', 'no coordinator known'],
  ]
  for (const [code, message] of rows) {
    writer.next = () => failedResult(code, message)
    t.same(errorOf(await h(command(CommandKind.SCALE, 'h100', '', 9)) as AdminResponse), { code, message })
  }
})

t.test('nodeSummary keeps what a table shows, drops the detail', async (t) => {
  const full = fleetNodes()[1] as NodeView
  const s = nodeSummary(full)
  t.same([s.id, s.meta?.name, s.state, s.incarnation, s.memberChangedMs, s.council, s.self, s.health?.seq], [full.id, 'gpu-a', full.state, 2, full.memberChangedMs, true, true, 41])
  t.same([s.addrs, s.health?.incidents, s.health?.gpus, s.health?.bootGate], [[], [], [], undefined])
  t.equal(full.health?.incidents.length, 1, 'the original is untouched')
})
