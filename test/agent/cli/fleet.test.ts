// `shoal status | nodes | node | events | coordinator` end to end in-process: a real AdminServer on
// a temp socket answering through fleetHandler over a fake fleet; tables, --json, errors, exit codes.
import t from 'tap'
import { create, equals, fromJson, type JsonValue } from '@bufbuild/protobuf'
import {
  CoordinatorStatusSchema,
  EventsResponseSchema,
  FleetStatusSchema,
  NodesResponseSchema,
  NodeViewSchema,
  type AdminRequest,
  type AdminResponse,
} from '../../../proto/gen/shoal_pb.js'
import { readFileSync } from 'node:fs'
import { main } from '../../../agent/cli/shoal.js'
import { FLEET_EXIT } from '../../../agent/cli/fleet.js'
import { adminError } from '../../../agent/admin/dispatch.js'
import { fleetHandler, nodeSummary } from '../../../agent/admin/fleet.js'
import { AdminServer } from '../../../agent/admin/server.js'
import { tempDir } from '../admin/fixtures/support.js'
import { coordinatorStatus, FakeReader, FakeWriter, fleetNodes, IDS, T0 } from '../admin/fixtures/fleet.js'

const tmp = tempDir()
t.teardown(tmp.remove)
const socket = tmp.path('admin.sock')
let reader: FakeReader | undefined = new FakeReader()
const requests: AdminRequest[] = []
let override: ((req: AdminRequest) => AdminResponse | undefined) | undefined
const server = new AdminServer(async (req) => {
  requests.push(req)
  const fixed = override?.(req)
  if (fixed !== undefined) return fixed
  return await fleetHandler(reader, new FakeWriter())(req) ?? adminError('bad-request', 'not a fleet request')
}, { path: socket })
await server.listen()
t.teardown(() => server.close())

t.beforeEach(() => {
  reader = new FakeReader()
  override = undefined
  requests.length = 0
})

async function run (argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await main([...argv, '--socket', socket], { out: (s) => { out += s }, err: (s) => { err += s } }, env)
  return { code, out, err }
}

const lines = (text: string): string[] => text.split('\n')

t.test('status: fleet, coordinator, council, counts, then the node table; exit 0', async (t) => {
  const r = await run(['status'])
  t.equal(r.code, 0, r.err)
  t.equal(r.err, '')
  t.same(lines(r.out).slice(0, 6), [
    'fleet prod: 4 nodes, as seen from gpu-a (A1b2c3d4)',
    'coordinator: gpu-b (E5f6g7h8), term 7',
    'council (epoch 3): gpu-a, gpu-b, gpu-c',
    'members: 2 alive, 1 suspect, 1 dead, 0 left; 2 peers connected',
    'health: 1 healthy, 1 degraded, 1 unhealthy, 1 unknown; 2 cordoned',
    '',
  ])
  t.match(r.out, /NAME\s+ID\s+STATE\s+HEALTH\s+ACTION\s+FLAGS\s+POOL\s+ROLE\s+CHANGED\n/)
  t.match(r.out, /\ncpu-d\s+P5q4r3s2\s+dead\s+-\s+-\s+-\s+a100\s+-\s+2025-03-14T02:59:50\.000Z\n/)
  t.match(r.out, /\ngpu-a\s+A1b2c3d4\s+alive\s+unhealthy\s+replace\s+cordoned,draining\s+h100\s+self,council\s+2025-03-14T01:00:00\.000Z\n/)
  t.match(r.out, /\ngpu-b\s+E5f6g7h8\s+alive\s+healthy\s+none\s+-\s+h100\s+coordinator,council\s+2025-03-14T02:00:00\.000Z\n/)
  t.match(r.out, /\ngpu-c\s+J9k8m7n6\s+suspect\s+degraded\s+watch\s+cordoned,drained\s+a100\s+council\s+2025-03-14T02:59:30\.000Z\n$/)
  t.equal(requests.length, 1, 'one request')
})

t.test('status: no coordinator known, no council yet', async (t) => {
  if (reader === undefined) throw new Error('reader')
  reader.coord = coordinatorStatus({ coordinator: '', coordinatorName: '', term: 3, council: undefined })
  const r = await run(['status'])
  t.equal(r.code, 0)
  t.equal(lines(r.out)[1], 'coordinator: none known (term 3)')
  t.equal(lines(r.out)[2], 'council: none known')
})

t.test('nodes: the table, all or one pool, sorted by name', async (t) => {
  const all = await run(['nodes'])
  t.equal(all.code, 0, all.err)
  t.same(lines(all.out).slice(1, -1).map((l) => l.split(/\s+/)[0]), ['cpu-d', 'gpu-a', 'gpu-b', 'gpu-c'])
  const pool = await run(['nodes', '--pool', 'h100'])
  t.same(lines(pool.out).slice(1, -1).map((l) => l.split(/\s+/)[0]), ['gpu-a', 'gpu-b'])
  const sent = requests.at(-1)?.request
  t.equal(sent?.case === 'nodes' ? sent.value.pool : undefined, 'h100', 'the pool is filtered by the agent')
  const none = await run(['nodes', '--pool', 'tpu'])
  t.equal(none.out, 'no nodes\n')
  t.equal(none.code, 0)
})

t.test('node ID: one node in detail, by name, id end or prefix', async (t) => {
  const r = await run(['node', 'gpu-a'])
  t.equal(r.code, 0, r.err)
  t.same(lines(r.out).slice(0, 10), [
    `node gpu-a (${IDS.a})`,
    'role: self, council',
    'member: alive, incarnation 2, changed 2025-03-14T01:00:00.000Z',
    'addresses: /ip4/10.0.0.1/tcp/7700, /ip6/fd00::1/tcp/7700',
    'meta: pool h100, provider aws, region us-east-1, zone us-east-1a, rack r12, instance i-0abc (p5.48xlarge), agent 0.1.0, coordinator-eligible',
    'labels: rack=r12, zone=use1-az1',
    'expects: 8 GPUs, model H100',
    'health: UNHEALTHY (action: replace) as of 2025-03-14T02:59:55.000Z, update 2.41',
    'flags: cordoned, draining',
    'boot gate: passed at 2025-03-13T03:00:00.000Z (8 GPUs: NVIDIA H100 80GB HBM3)',
  ])
  t.match(r.out, /reasons \(1\):\nRULE\s+GPU\s+STATE\s+ACTION\s+SINCE\s+MESSAGE\ngpu-lost\s+3\s+unhealthy\s+replace\s+2025-03-14T02:59:00\.000Z\s+XID 79: GPU has fallen off the bus\n/)
  t.match(r.out, /open incidents \(1\):\nID\s+CLASS.*\ninc-7\s+gpu-lost\s+replace\s+open\s+/)
  t.match(r.out, /GPUs \(1\):\nGPU\s+NAME.*\n\s+3\s+NVIDIA H100 80GB HBM3\s+unhealthy\s+replace\s+-\s+-\s+LOST\n$/)
  const dead = await run(['node', 'P5q4r3s2'])
  t.equal(dead.code, 0)
  t.same(lines(dead.out), [
    `node cpu-d (${IDS.d})`, 'role: member', 'member: dead, incarnation 1, changed 2025-03-14T02:59:50.000Z', 'addresses: none known',
    'meta: pool a100, not coordinator-eligible', 'labels: none', 'health: nothing heard yet', 'flags: none', '',
  ])
  t.equal((await run(['node', '12D3KooWC'])).out.split('\n')[0], `node gpu-c (${IDS.c})`)
})

t.test('node: unknown and ambiguous exit 3 with the candidates named', async (t) => {
  const unknown = await run(['node', 'gpu-x'])
  t.equal(unknown.code, 3)
  t.equal(unknown.out, '')
  t.equal(unknown.err, `shoal: the agent on ${socket} answered unknown-node: no node matches "gpu-x" (did you mean gpu-a, gpu-b, gpu-c?)\n`)
  const ambiguous = await run(['node', 'gpu'])
  t.equal(ambiguous.code, 3)
  t.match(ambiguous.err, `answered ambiguous-node: "gpu" matches 3 nodes: gpu-a (${IDS.a}), gpu-b (${IDS.b}), gpu-c (${IDS.c}); give more of the name or the id\n`)
})

t.test('events: time, node, kind, detail; --since, --limit, --node are sent', async (t) => {
  const r = await run(['events'])
  t.equal(r.code, 0, r.err)
  t.same(lines(r.out), [
    'TIME                      NODE      KIND     DETAIL',
    '2025-03-14T02:59:00.000Z  gpu-a     health   unhealthy; action replace; gpu-lost[gpu 3]',
    '2025-03-14T02:59:01.000Z  gpu-a     command  cordon issued by the coordinator: xid 79',
    '2025-03-14T02:59:02.000Z  gpu-a     ack      cordon applied: no hook configured',
    '2025-03-14T02:59:30.000Z  gpu-c     suspect  suspected by gpu-b / after 3 probes',
    '2025-03-14T02:59:50.000Z  P5q4r3s2  dead     no answer for 8s',
    '',
  ])
  const limited = await run(['events', '--node', 'gpu-a', '--limit', '2', '--since', '2025-03-14T02:58:00Z'])
  t.equal(limited.code, 0, limited.err)
  t.same(lines(limited.out).slice(1, -1).map((l) => l.split(/\s+/)[2]), ['command', 'ack'])
  const sent = requests.at(-1)?.request
  t.same(sent?.case === 'events' ? [sent.value.sinceMs, sent.value.limit, sent.value.node] : [], [T0 - 120_000, 2, 'gpu-a'])
  const before = Date.now()
  await run(['events', '--since', '10m'])
  const after = Date.now()
  const rel = requests.at(-1)?.request
  const since = rel?.case === 'events' ? rel.value.sinceMs : 0
  t.ok(since >= before - 600_000 && since <= after - 600_000, '--since 10m is ten minutes before now')
  t.equal((await run(['events', '--since', '2030-01-01T00:00:00Z'])).out, 'no events since 2030-01-01T00:00:00.000Z\n')
  const unknown = await run(['events', '--node', 'nobody'])
  t.equal(unknown.code, 3)
})

t.test('coordinator: term, coordinator, council by name, this agent\'s role and lease', async (t) => {
  const voter = await run(['coordinator'])
  t.equal(voter.code, 0, voter.err)
  t.same(lines(voter.out), [
    'term 7',
    `coordinator: gpu-b (${IDS.b}), known since 2025-03-14T02:10:00.000Z`,
    'council (epoch 3): gpu-a, gpu-b, gpu-c',
    'this agent: voter',
    '',
  ])
  if (reader === undefined) throw new Error('reader')
  reader.coord = coordinatorStatus({ role: 'coordinator', acting: true, leaseUntilMs: T0 + 2000, coordinator: IDS.a, coordinatorName: 'gpu-a' })
  t.equal(lines((await run(['coordinator'])).out)[3], 'this agent: coordinator, acting, lease until 2025-03-14T03:00:02.000Z')
  reader.coord = coordinatorStatus({ role: 'coordinator', acting: false, coordinator: IDS.a, coordinatorName: 'gpu-a' })
  t.equal(lines((await run(['coordinator'])).out)[3], 'this agent: coordinator, NOT acting (no lease from a council majority)')
  reader.coord = coordinatorStatus({ coordinator: '', coordinatorName: '', role: 'candidate', term: 8 })
  t.same(lines((await run(['coordinator'])).out).slice(0, 2), ['term 8', 'coordinator: none known'])
  // Names are best effort: without the node list the council shows id ends.
  reader.coord = coordinatorStatus()
  override = (req) => req.request.case === 'nodes' ? adminError('internal', 'view busy') : undefined
  const noNames = await run(['coordinator'])
  t.equal(noNames.code, 0)
  t.equal(noNames.err, '')
  t.equal(lines(noNames.out)[2], 'council (epoch 3): A1b2c3d4, E5f6g7h8, J9k8m7n6')
})

t.test('--json: each answer as protobuf JSON that parses back to the same message', async (t) => {
  const expected = new FakeReader()
  const status = await run(['status', '--json'])
  t.equal(status.code, 0)
  const s = fromJson(FleetStatusSchema, JSON.parse(status.out) as JsonValue)
  t.equal(s.fleet, 'prod')
  t.same(s.nodes.map((n) => n.meta?.name), ['cpu-d', 'gpu-a', 'gpu-b', 'gpu-c'])
  const nodes = fromJson(NodesResponseSchema, JSON.parse((await run(['nodes', '--json'])).out) as JsonValue)
  t.ok(equals(NodeViewSchema, nodes.nodes[1] ?? create(NodeViewSchema), nodeSummary(fleetNodes()[1] ?? create(NodeViewSchema))), 'list entries are summaries')
  const node = fromJson(NodeViewSchema, JSON.parse((await run(['node', 'gpu-a', '--json'])).out) as JsonValue)
  t.ok(equals(NodeViewSchema, node, expected.nodeList[1] ?? create(NodeViewSchema)), 'node --json is the whole view')
  const doc = JSON.parse((await run(['node', 'gpu-a', '--json'])).out) as { state: string, health: { verdict: { state: string } } }
  t.same([doc.state, doc.health.verdict.state], ['MEMBER_STATE_ALIVE', 'HEALTH_STATE_UNHEALTHY'], 'enums by name, for scripts')
  const events = fromJson(EventsResponseSchema, JSON.parse((await run(['events', '--json'])).out) as JsonValue)
  t.same(events.events.map((e) => e.kind), ['health', 'command', 'ack', 'suspect', 'dead'])
  const coord = fromJson(CoordinatorStatusSchema, JSON.parse((await run(['coordinator', '--json'])).out) as JsonValue)
  t.ok(equals(CoordinatorStatusSchema, coord, expected.coord))
  t.equal(requests.filter((r) => r.request.case === 'nodes').length, 1, 'coordinator --json asks once')
  const err = await run(['node', 'gpu-x', '--json'])
  t.same([err.code, err.out], [3, ''], 'errors go to stderr, also with --json')
})

t.test('mesh off: every fleet read exits 4 and says why', async (t) => {
  reader = undefined
  for (const argv of [['status'], ['nodes'], ['node', 'gpu-a'], ['events'], ['coordinator']]) {
    const r = await run(argv)
    t.equal(r.code, 4, argv[0] ?? '')
    t.equal(r.out, '')
    t.match(r.err, `shoal: the agent on ${socket} answered mesh-off: this agent runs without a mesh (mesh.key_file is not set in its config)`)
  }
})

t.test('no agent: exit 1 naming the path; SHOAL_ADMIN_SOCKET is used without --socket', async (t) => {
  const missing = tmp.path('missing.sock')
  let err = ''
  const code = await main(['status', '--socket', missing], { out: () => {}, err: (s) => { err += s } }, {})
  t.equal(code, 1)
  t.equal(err, `shoal: no shoal agent is listening on ${missing} (is \`shoal agent\` running? set --socket or SHOAL_ADMIN_SOCKET)\n`)
  let out = ''
  t.equal(await main(['nodes'], { out: (s) => { out += s }, err: () => {} }, { SHOAL_ADMIN_SOCKET: socket }), 0)
  t.match(out, /^NAME\s+ID/)
})

t.test('an error the agent answers is exit 1 unless listed', async (t) => {
  override = () => adminError('internal', 'fleet view closed')
  const r = await run(['status'])
  t.equal(r.code, 1)
  t.equal(r.err, `shoal: the agent on ${socket} answered internal: fleet view closed\n`)
})

t.test('usage errors exit 2 and send nothing', async (t) => {
  const rows: Array<[string[], RegExp]> = [
    [['status', 'extra'], /^shoal status: unexpected argument "extra"/],
    [['nodes', '--reason', 'x'], /^shoal nodes: --reason is not an option of nodes/],
    [['status', '--incidents', '3'], /^shoal status: --incidents is not an option of status/],
    [['node'], /^shoal node: give the node: a peer id, a name, or a unique prefix/],
    [['node', 'a', 'b'], /^shoal node: unexpected argument "b"/],
    [['events', '--since', 'yesterday'], /^shoal events: --since takes a duration ago \(10m, 2h, 1d\) or an ISO-8601 time/],
    [['events', '--since', '2025-13-45'], /^shoal events: --since "2025-13-45" is not a valid ISO-8601 time/],
    [['events', '--limit', '0'], /^shoal events: --limit takes a whole number from 1 to 10000, not "0"/],
    [['events', '--limit', '10001'], /--limit takes a whole number/],
    [['events', '--limit', 'ten'], /--limit takes a whole number/],
    [['coordinator', '--pool', 'x'], /--pool is not an option of coordinator/],
  ]
  for (const [argv, want] of rows) {
    const r = await run(argv)
    t.equal(r.code, 2, argv.join(' '))
    t.equal(r.out, '')
    t.match(r.err, want, argv.join(' '))
  }
  t.equal(requests.length, 0)
  const help = await run(['--help'])
  t.match(help.out, /events \[--since 10m\|TIME\] \[--limit N\] \[--node ID\]/)
  t.match(help.out, /3 unknown or ambiguous node or unknown pool, 4 no mesh on this agent, 5 no coordinator,\n/)
  t.match(help.out, /scale POOL N\|auto \[--reason TEXT\]/)
})

t.test('docs/cli.md lists every fleet exit code', async (t) => {
  const doc = readFileSync(new URL('../../../docs/cli.md', import.meta.url), 'utf8')
  const table = doc.slice(doc.indexOf('### Exit codes'), doc.indexOf('## `shoal agent'))
  for (const [name, code] of Object.entries(FLEET_EXIT)) t.match(table, new RegExp(`\\n\\| ${code} \\| `), `${name} (${code})`)
  t.equal(new Set(Object.values(FLEET_EXIT)).size, Object.keys(FLEET_EXIT).length, 'codes are distinct')
})
