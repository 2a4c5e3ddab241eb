// `shoal pools | scale | queue set` end to end in-process: a real AdminServer on a temp socket
// answering through fleetHandler over a fake fleet and a fake CommandWriter; the pools table, what
// each write sends, the acknowledgement or the error printed, exit codes, --json.
import t from 'tap'
import { create, fromJson, type JsonValue } from '@bufbuild/protobuf'
import {
  CommandKind,
  CommandResultSchema,
  CommandStatus,
  PoolsReportSchema,
  PoolsResponseSchema,
  PoolStatusSchema,
  type AdminRequest,
} from '../../../proto/gen/shoal_pb.js'
import { FLEET_EXIT } from '../../../agent/cli/fleet.js'
import { renderPools } from '../../../agent/cli/pools-render.js'
import { adminError } from '../../../agent/admin/dispatch.js'
import { fleetHandler, MAX_SCALE_NODES } from '../../../agent/admin/fleet.js'
import { AdminServer } from '../../../agent/admin/server.js'
import { tempDir } from '../admin/fixtures/support.js'
import { runShoal, type Ran } from './fixtures/run.js'
import { applied, FakeReader, FakeWriter, failedResult, fleetNodes, IDS, poolsReport, T0 } from '../admin/fixtures/fleet.js'

const tmp = tempDir()
t.teardown(tmp.remove)
const socket = tmp.path('admin.sock')
const requests: AdminRequest[] = []
let reader = new FakeReader()
let writer = new FakeWriter()
let meshOn = true
t.beforeEach(() => {
  [reader, writer, meshOn, requests.length] = [new FakeReader(), new FakeWriter(), true, 0]
})
const server = new AdminServer(async (req) => {
  requests.push(req)
  const mesh = meshOn ? { reader, writer } : undefined
  return await fleetHandler(mesh?.reader, mesh?.writer)(req) ?? adminError('bad-request', 'not a fleet request')
}, { path: socket })
await server.listen()
t.teardown(() => server.close())

const run = async (argv: string[], env: NodeJS.ProcessEnv = { USER: 'alice' }): Promise<Ran> => await runShoal(socket, argv, env)

const POOLS_TABLE = [
  'pools of coordinator gpu-b (E5f6g7h8), term 7, as of 2025-03-14T02:59:58.000Z',
  '',
  'POOL  DESIRED  CURRENT  HEALTHY  UNHEALTHY  REPLACING  BOUNDS  SCALE  QUEUE  BREAKER  AUTOSCALER',
  'h100        3        3        2          1          1  2–8         3      -  closed   reactive: overridden by shoal scale',
  'a100        2        2        0          2          0  0–4         -   12.5  OPEN     queue (10 jobs/node): queue 12.5 / 10 jobs per node = 2',
  '',
  'notices (2):',
  '  a100: breaker open: 2 of 2 nodes unhealthy or dead (over 20%): automatic replacement halted',
  '  a100: correlated silence in rack r7: 2 of 2 nodes; not replacing them',
]

t.test('pools: the coordinator, one table, each pool\'s notices; exit 0', async (t) => {
  const r = await run(['pools'])
  t.equal(r.code, 0, r.err)
  t.equal(r.err, '')
  t.equal(r.out, POOLS_TABLE.join('\n') + '\n')
  t.same(requests.map((q) => q.request.case), ['pools', 'nodes'], 'the node list names the coordinator')
})

t.test('pools --slots: each pool\'s slots, nodes by name where known, else the id\'s end', async (t) => {
  const r = await run(['pools', '--slots'])
  t.equal(r.code, 0, r.err)
  t.equal(r.out, [
    ...POOLS_TABLE,
    '',
    'slots of h100 (3):',
    'SLOT  GEN  STATE      NODE   INSTANCE  PROVIDER  REPLACEMENT  ATTEMPTS  DETAIL',
    '   0    2  replacing  gpu-a  i-0abc    aws       i-0def              1  replacing gpu-a: gpu-lost',
    '   1    1  active     gpu-b  i-0b      aws       -                   0  -',
    '   2    1  booting    -      i-0c      gcp       -                   0  -',
    '',
    'slots of a100 (2):',
    'SLOT  GEN  STATE      NODE      INSTANCE  PROVIDER  REPLACEMENT  ATTEMPTS  DETAIL',
    '   0    1  unhealthy  gpu-c     a100-0    lambda    -                   0  -',
    '   1    4  failed     0Zz9y8x7  -         lambda    -                   3  dead on arrival 3 times / boot gate failed',
  ].join('\n') + '\n')
})

t.test('pools: none reported yet is said, not an error; --json is an empty PoolsResponse', async (t) => {
  reader.report = undefined
  const r = await run(['pools'])
  t.same([r.code, r.out, r.err], [0, 'no coordinator has reported pools yet\n', ''])
  t.same(requests.map((q) => q.request.case), ['pools'], 'no node list to ask for')
  const j = await run(['pools', '--json'])
  t.same([j.code, j.out], [0, '{}\n'])
})

t.test('pools --json: the PoolsResponse, without the coordinator\'s events', async (t) => {
  const r = await run(['pools', '--json', '--slots'])
  t.equal(r.code, 0, r.err)
  const got = fromJson(PoolsResponseSchema, JSON.parse(r.out) as JsonValue)
  const want = poolsReport()
  want.events = []
  t.same(got.report, want)
  t.match(r.out, /"queueDepth": 12\.5/)
  t.same(requests.map((q) => q.request.case), ['pools'])
})

t.test('renderPools: a breaker without a notice, a breaker a notice already explains, no pools', async (t) => {
  const pool = (extra: Parameters<typeof create<typeof PoolStatusSchema>>[1]) => create(PoolStatusSchema, { name: 'h100', min: 1, max: 4, ...extra })
  const report = (pools: ReturnType<typeof pool>[]) => create(PoolsReportSchema, { term: 9, coordinator: IDS.c, timeMs: T0, pools })
  const quiet = renderPools(report([pool({})]), [], false)
  t.match(quiet, /^pools of coordinator J9k8m7n6, term 9, as of 2025-03-14T03:00:00\.000Z\n/, 'no node list: the id\'s end')
  t.match(quiet, /\nh100 +0 +0 +0 +0 +0 +1–4 +- +- +closed +-\n\nnotices: none\n$/)
  const open = renderPools(report([pool({ breakerOpen: true })]), [], false)
  t.match(open, /\nnotices \(1\):\n {2}h100: breaker open: no reason given\n$/)
  const explained = renderPools(report([pool({ breakerOpen: true, breakerReason: '3 of 4 bad', notices: ['pool h100: breaker open: 3 of 4 bad'] })]), [], false)
  t.match(explained, /\nnotices \(1\):\n {2}h100: pool h100: breaker open: 3 of 4 bad\n$/, 'said once')
  t.equal(renderPools(report([]), fleetNodes(), true), 'pools of coordinator gpu-c (J9k8m7n6), term 9, as of 2025-03-14T03:00:00.000Z\n' +
    'the coordinator manages no pools (its coordinator file declares none)\n')
  t.equal(renderPools(undefined, [], true), 'no coordinator has reported pools yet\n')
})

t.test('scale POOL N, scale POOL auto, queue set POOL N: sent as asked, the ack printed; exit 0', async (t) => {
  const rows: Array<[string[], CommandKind, string, number, string, string]> = [
    [['scale', 'h100', '4'], CommandKind.SCALE, 'h100', 4, 'shoal scale by alice', 'scale pool h100 to 4'],
    [['scale', 'h100', '0'], CommandKind.SCALE, 'h100', 0, 'shoal scale by alice', 'scale pool h100 to 0'],
    [['scale', 'a100', 'auto'], CommandKind.SCALE, 'a100', -1, 'shoal scale by alice', 'scale pool a100 auto'],
    [['queue', 'set', 'a100', '120'], CommandKind.QUEUE, 'a100', 120, 'shoal queue set by alice', 'queue set pool a100 120'],
    [['queue', 'set', 'a100', '2.5', '--reason', 'nightly batch'], CommandKind.QUEUE, 'a100', 2.5, 'nightly batch', 'queue set pool a100 2.5'],
    [['queue', 'set', 'a100', '0'], CommandKind.QUEUE, 'a100', 0, 'shoal queue set by alice', 'queue set pool a100 0'],
  ]
  for (const [argv, kind, target, value, reason, done] of rows) {
    writer = new FakeWriter()
    writer.next = (k, p) => applied(k, p, CommandStatus.APPLIED, `pool ${p} changed`)
    const r = await run(argv)
    t.equal(r.code, 0, r.err)
    t.equal(r.err, '')
    t.equal(r.out, `${done}: applied in term 7 by coordinator gpu-b (E5f6g7h8)\n  pool ${target} changed\n`, argv.join(' '))
    t.same(writer.calls, [{ kind, target, reason, value }], argv.join(' '))
  }
  t.same(requests.slice(-2).map((q) => q.request.case), ['command', 'nodes'], 'no lookup first: the coordinator names pools')
})

t.test('pool errors: unknown pool exit 3, out of bounds or a bad value 6, no coordinator 5, mesh off 4', async (t) => {
  const rows: Array<[string, string, number]> = [
    ['unknown-pool', 'no pool h200 in the coordinator file (pools: a100, h100)', FLEET_EXIT.unknownNode],
    ['out-of-bounds', 'pool h100 takes 2 to 8 nodes, not 9', FLEET_EXIT.refused],
    ['bad-value', 'a queue depth is a number of jobs ≥ 0, not 1e400', FLEET_EXIT.refused],
    ['no-coordinator', 'no coordinator is known yet', FLEET_EXIT.noCoordinator],
    ['busy', 'too many commands in flight', FLEET_EXIT.unreachable],
  ]
  for (const [code, message, exit] of rows) {
    writer.next = () => failedResult(code, message)
    const r = await run(['scale', 'h100', '9'])
    t.equal(r.code, exit, code)
    t.equal(r.out, '')
    t.equal(r.err, `shoal: the agent on ${socket} answered ${code}: ${message}\n`, code)
  }
  meshOn = false
  const off = await run(['queue', 'set', 'h100', '3'])
  t.equal(off.code, FLEET_EXIT.meshOff)
  t.match(off.err, 'answered mesh-off: this agent runs without a mesh')
})

t.test('a timeout exits 8 and says where to look; a refused ack exits 6 with its detail', async (t) => {
  writer.next = () => failedResult('timeout', 'no answer from the coordinator in time')
  const slow = await run(['queue', 'set', 'a100', '7'])
  t.equal(slow.code, FLEET_EXIT.timeout)
  t.match(slow.err, /\nshoal: the queue set may still be applied: see `shoal pools` or `shoal events`\n$/)
  writer.next = (k, p) => applied(k, p, CommandStatus.REFUSED, 'not the acting coordinator')
  const refused = await run(['scale', 'h100', 'auto'])
  t.equal(refused.code, FLEET_EXIT.refused)
  t.equal(refused.err, 'shoal: scale pool h100 REFUSED in term 7: not the acting coordinator\n')
  writer.next = (k, p) => ({ ...applied(k, p), ack: undefined })
  const noAck = await run(['scale', 'h100', '3'])
  t.equal(noAck.code, FLEET_EXIT.unreachable)
  t.equal(noAck.err, 'shoal: the agent answered the scale of pool h100 without an acknowledgement\n')
})

t.test('--json prints the CommandResult and asks for nothing more', async (t) => {
  const r = await run(['scale', 'h100', '5', '--json'])
  t.equal(r.code, 0, r.err)
  const result = fromJson(CommandResultSchema, JSON.parse(r.out) as JsonValue)
  t.same([result.term, result.coordinator, result.ack?.status, result.ack?.kind], [7, IDS.b, CommandStatus.APPLIED, CommandKind.SCALE])
  t.same(requests.map((q) => q.request.case), ['command'])
  writer.next = () => failedResult('out-of-bounds', 'pool h100 takes 2 to 8 nodes, not 50')
  const bad = await run(['scale', 'h100', '50', '--json'])
  t.same([bad.code, bad.out], [FLEET_EXIT.refused, ''], 'errors go to stderr only')
})

t.test('usage errors exit 2 before anything is sent (table)', async (t) => {
  const rows: Array<[string[], RegExp]> = [
    [['scale'], /^shoal scale: give the pool: its name, as `shoal pools` shows it/],
    [['scale', 'h100'], /^shoal scale: give the size: a number of nodes, or auto/],
    [['scale', 'h100', 'lots'], /^shoal scale: N is a whole number of nodes from 0 to 100000, or "auto", not "lots"/],
    [['scale', 'h100', '2.5'], /^shoal scale: N is a whole number of nodes/],
    [['scale', 'h100', String(MAX_SCALE_NODES + 1)], /^shoal scale: N is a whole number of nodes/],
    [['scale', 'h100', '1234567'], /^shoal scale: N is a whole number of nodes/],
    [['scale', 'h100', 'AUTO'], /^shoal scale: N is a whole number of nodes/],
    [['scale', 'H100', '3'], /^shoal scale: "H100" is not a pool name \(lower-case letters, digits, "_", "-"\)/],
    [['scale', '', '3'], /^shoal scale: give the pool/],
    [['scale', 'p'.repeat(64), '3'], /^shoal scale: pool name is at most 63 characters, got 64/],
    [['scale', 'h100', '3', 'now'], /^shoal scale: unexpected argument "now"/],
    [['scale', 'h100', '3', '--slots'], /^shoal scale: --slots is not an option of scale/],
    [['scale', 'h100', '3', '--reason', 'two\nlines'], /^shoal scale: --reason is one line of text/],
    [['scale', 'h100', '3', '--timeout', 'soon'], /^shoal scale: --timeout: "soon" is not a duration/],
    [['queue'], /^shoal queue set: what should queue do\? \(queue set \.\.\.\)/],
    [['queue', 'get', 'h100'], /^shoal queue set: unknown queue command "get" \(queue set \.\.\.\)/],
    [['queue', 'set'], /^shoal queue set: give the pool/],
    [['queue', 'set', 'h100'], /^shoal queue set: give the queue depth: a number of jobs/],
    [['queue', 'set', 'h100', 'many'], /^shoal queue set: N is a number of jobs, 0 or more, not "many"/],
    [['queue', 'set', 'h100', '1e3'], /^shoal queue set: N is a number of jobs/],
    [['queue', 'set', 'h100', 'NaN'], /^shoal queue set: N is a number of jobs/],
    [['queue', 'set', 'h100', '3', '4'], /^shoal queue set: unexpected argument "4"/],
    [['pools', 'h100'], /^shoal pools: unexpected argument "h100"/],
    [['pools', '--reason', 'x'], /^shoal pools: --reason is not an option of pools/],
    [['nodes', '--slots'], /^shoal nodes: --slots is not an option of nodes/],
  ]
  for (const [argv, want] of rows) {
    const r = await run(argv)
    t.equal(r.code, FLEET_EXIT.usage, argv.join(' '))
    t.equal(r.out, '', argv.join(' '))
    t.match(r.err, want, argv.join(' '))
  }
  t.same(requests, [])
  // A negative size is not an argument at all: parseArgs reads it as an option.
  t.equal((await run(['scale', 'h100', '-1'])).code, FLEET_EXIT.usage)
})
