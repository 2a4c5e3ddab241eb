// `shoal health` end to end in-process: a real AdminServer on a temp socket with a stub handler that
// answers fixed reports; what an operator reads, what a script parses, and the exit codes.
import t from 'tap'
import { create, equals, fromJson, type JsonValue } from '@bufbuild/protobuf'
import {
  BootGateSchema,
  GpuEventSchema,
  GpuSummarySchema,
  HealthAction,
  HealthReportSchema,
  HealthState,
  IncidentSchema,
  PolicyStatusSchema,
  ReasonSchema,
  VerdictSchema,
  type AdminRequest,
  type GpuSummary,
  type HealthReport,
} from '../../../proto/gen/shoal_pb.js'
import { main } from '../../../agent/cli/shoal.js'
import { adminError } from '../../../agent/admin/dispatch.js'
import { AdminServer } from '../../../agent/admin/server.js'
import { healthResponse, tempDir } from '../admin/fixtures/support.js'

const T0 = Date.UTC(2025, 2, 14, 3, 0, 0) // 2025-03-14T03:00:00.000Z

const policy = create(PolicyStatusSchema, {
  name: 'default', source: 'built-in', digest: '3f2a9c1b7d4e', loadedMs: T0 - 3_600_000, rules: 14,
})
function gpu (index: number, extra: Partial<Pick<GpuSummary, 'state' | 'action' | 'lost' | 'temperatureGpuC' | 'powerMw'>> = {}): GpuSummary {
  const g = create(GpuSummarySchema, {
    index, uuid: `GPU-${index}`, name: 'NVIDIA H100 80GB HBM3', state: HealthState.HEALTHY, action: HealthAction.NONE,
    temperatureGpuC: 40 + index, powerMw: 300_000 + index * 1000,
  })
  return Object.assign(g, extra)
}

const healthy = create(HealthReportSchema, {
  node: 'gpu-a', timeMs: T0, journalSeq: 812,
  verdict: create(VerdictSchema, { state: HealthState.HEALTHY, action: HealthAction.NONE, timeMs: T0 }),
  policy,
  bootGate: create(BootGateSchema, { passed: true, gpuCount: 2, models: ['NVIDIA H100 80GB HBM3', 'NVIDIA H100 80GB HBM3'], timeMs: T0 - 3_500_000 }),
  gpus: [gpu(0), gpu(1)],
})

const unhealthy = create(HealthReportSchema, {
  node: 'gpu-b', timeMs: T0, journalSeq: 9001,
  verdict: create(VerdictSchema, {
    state: HealthState.UNHEALTHY, action: HealthAction.REPLACE, timeMs: T0,
    reasons: [
      create(ReasonSchema, {
        rule: 'gpu-lost', gpuIndex: 1, gpuUuid: 'GPU-1', state: HealthState.UNHEALTHY, action: HealthAction.REPLACE,
        incidentClass: 'gpu-lost', sinceMs: T0 - 60_000, message: 'XID 79: GPU has fallen off the bus',
      }),
      create(ReasonSchema, {
        rule: 'gpu-count', state: HealthState.DEGRADED, action: HealthAction.WATCH, sinceMs: T0 - 59_000,
        message: 'expected 2 GPUs,\nsee 1',
      }),
    ],
  }),
  policy,
  bootGate: create(BootGateSchema, { passed: false, failures: ['expected 2 GPUs, found 1', 'GPU 1: not visible to NVML'], gpuCount: 1, timeMs: T0 - 30_000 }),
  gpus: [gpu(0), gpu(1, { state: HealthState.UNHEALTHY, action: HealthAction.REPLACE, lost: true, temperatureGpuC: undefined, powerMw: undefined })],
  incidents: [
    create(IncidentSchema, {
      id: 'inc-0002', class: 'gpu-lost', action: HealthAction.REPLACE, state: HealthState.UNHEALTHY,
      firstMs: T0 - 60_000, lastMs: T0 - 58_000, eventCount: 3, open: true, primary: 'gpu-lost (XID 79)',
      events: [create(GpuEventSchema, { timeMs: T0 - 60_000, xid: 79, detail: 'GPU has fallen off the bus' })],
    }),
    create(IncidentSchema, {
      id: 'inc-0001', class: 'thermal', action: HealthAction.WATCH, state: HealthState.DEGRADED,
      firstMs: T0 - 86_400_000, lastMs: T0 - 86_000_000, eventCount: 0, open: false, primary: 'hw-slowdown',
      events: [create(GpuEventSchema, { timeMs: T0 - 86_400_000 }), create(GpuEventSchema, { timeMs: T0 - 86_300_000 })],
    }),
  ],
})

const degradedBadPolicy = create(HealthReportSchema, {
  ...healthy,
  node: 'gpu-c',
  verdict: create(VerdictSchema, { state: HealthState.DEGRADED, action: HealthAction.WATCH }),
  policy: create(PolicyStatusSchema, {
    ...policy, source: '/etc/shoal/policy.yaml', lastError: 'rules[3].when: undeclared reference to "xid79"', lastErrorMs: T0 - 120_000,
  }),
})

const unknown = create(HealthReportSchema, { node: 'gpu-d', timeMs: T0 })

// One server for the file; each test sets what it answers.
const tmp = tempDir()
t.teardown(tmp.remove)
const socket = tmp.path('admin.sock')
let answer: HealthReport | 'error' | 'throw' = healthy
const requests: AdminRequest[] = []
const server = new AdminServer(async (req) => {
  requests.push(req)
  if (answer === 'error') return adminError('internal', 'store closed')
  if (answer === 'throw') throw new Error('policy core crashed')
  return healthResponse(answer)
}, { path: socket })
await server.listen()
t.teardown(() => server.close())

async function run (argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await main(argv, { out: (s) => { out += s }, err: (s) => { err += s } }, env)
  return { code, out, err }
}

t.test('healthy: header, policy, boot gate, GPU table; exit 0', async (t) => {
  answer = healthy
  const r = await run(['health', '--socket', socket])
  t.equal(r.code, 0, r.err)
  t.equal(r.err, '')
  const lines = r.out.split('\n')
  t.equal(lines[0], 'node gpu-a: HEALTHY (action: none)')
  t.equal(lines[1], 'as of 2025-03-14T03:00:00.000Z, journal seq 812')
  t.equal(lines[2], 'policy: default (digest 3f2a9c1b7d4e, source built-in, 14 rules, loaded 2025-03-14T02:00:00.000Z)')
  t.equal(lines[3], 'boot gate: passed at 2025-03-14T02:01:40.000Z (2 GPUs: NVIDIA H100 80GB HBM3)')
  t.ok(lines.includes('reasons: none'))
  t.ok(lines.includes('incidents, most recent first: none'))
  t.ok(lines.includes('GPUs (2):'))
  t.match(r.out, /GPU\s+NAME\s+STATE\s+ACTION\s+TEMP\s+POWER\s+LOST\n\s*0\s+NVIDIA H100 80GB HBM3\s+healthy\s+none\s+40 C\s+300 W\s+-\n\s*1\s+NVIDIA H100 80GB HBM3\s+healthy\s+none\s+41 C\s+301 W\s+-\n/)
  t.notMatch(r.out, /WARNING/)
})

t.test('unhealthy: reasons, lost GPU, failed boot gate, incidents; exit 11', async (t) => {
  answer = unhealthy
  const r = await run(['health', '--socket', socket])
  t.equal(r.code, 11, r.err)
  const lines = r.out.split('\n')
  t.equal(lines[0], 'node gpu-b: UNHEALTHY (action: replace)')
  t.equal(lines[3], 'boot gate: FAILED at 2025-03-14T02:59:30.000Z')
  t.equal(lines[4], '  - expected 2 GPUs, found 1')
  t.equal(lines[5], '  - GPU 1: not visible to NVML')
  t.ok(lines.includes('reasons (2):'))
  t.match(r.out, /RULE\s+GPU\s+STATE\s+ACTION\s+SINCE\s+MESSAGE\ngpu-lost\s+1\s+unhealthy\s+replace\s+2025-03-14T02:59:00\.000Z\s+XID 79: GPU has fallen off the bus\ngpu-count\s+node\s+degraded\s+watch\s+2025-03-14T02:59:01\.000Z\s+expected 2 GPUs, \/ see 1\n/)
  t.match(r.out, /\n\s*1\s+NVIDIA H100 80GB HBM3\s+unhealthy\s+replace\s+-\s+-\s+LOST\n/)
  t.ok(lines.includes('incidents, most recent first (2):'))
  t.match(r.out, /ID\s+CLASS\s+ACTION\s+OPEN\s+FIRST\s+LAST\s+EVENTS\s+PRIMARY\n/)
  t.match(r.out, /inc-0002\s+gpu-lost\s+replace\s+open\s+2025-03-14T02:59:00\.000Z\s+2025-03-14T02:59:02\.000Z\s+3\s+gpu-lost \(XID 79\)\n/)
  // event_count 0 with two events kept: the count shown is never below what is there.
  t.match(r.out, /inc-0001\s+thermal\s+watch\s+closed\s+2025-03-13T03:00:00\.000Z\s+2025-03-13T03:06:40\.000Z\s+2\s+hw-slowdown\n/)
})

t.test('a failed policy reload is loud; degraded exits 10', async (t) => {
  answer = degradedBadPolicy
  const r = await run(['health', '--socket', socket])
  t.equal(r.code, 10, r.err)
  const lines = r.out.split('\n')
  t.equal(lines[0], 'node gpu-c: DEGRADED (action: watch)')
  t.equal(lines[2], 'policy: default (digest 3f2a9c1b7d4e, source /etc/shoal/policy.yaml, 14 rules, loaded 2025-03-14T02:00:00.000Z)')
  t.equal(lines[3], 'WARNING: the last policy reload FAILED at 2025-03-14T02:58:00.000Z: rules[3].when: undeclared reference to "xid79"')
  t.equal(lines[4], 'WARNING: the previous policy (default, digest 3f2a9c1b7d4e) is still in force')
})

t.test('no verdict yet: UNKNOWN, exit 12, and the missing parts said plainly', async (t) => {
  answer = unknown
  const r = await run(['health', '--socket', socket])
  t.equal(r.code, 12, r.err)
  t.equal(r.out.split('\n')[0], 'node gpu-d: UNKNOWN (action: none)')
  t.match(r.out, /^policy: none reported$/m)
  t.match(r.out, /^boot gate: not run yet$/m)
  t.match(r.out, /^GPUs: none$/m)
})

t.test('--json prints the report as protobuf JSON that parses back to the same report', async (t) => {
  for (const [report, code] of [[healthy, 0], [unhealthy, 11], [degradedBadPolicy, 10], [unknown, 12]] as const) {
    answer = report
    const r = await run(['health', '--socket', socket, '--json'])
    t.equal(r.code, code, `${report.node}: ${r.err}`)
    const back = fromJson(HealthReportSchema, JSON.parse(r.out) as JsonValue)
    t.ok(equals(HealthReportSchema, back, report), `${report.node} round-trips`)
  }
  answer = unhealthy
  const doc = JSON.parse((await run(['health', '--socket', socket, '--json'])).out) as { verdict: { state: string } }
  t.equal(doc.verdict.state, 'HEALTH_STATE_UNHEALTHY', 'enums by name, for scripts')
})

t.test('--incidents N is sent to the agent; the default asks for the agent default (0)', async (t) => {
  answer = healthy
  requests.length = 0
  await run(['health', '--socket', socket, '--incidents', '25'])
  await run(['health', '--socket', socket])
  t.same(requests.map((r) => [r.version, r.request.case === 'health' ? r.request.value.incidents : -1]), [[1, 25], [1, 0]])
})

t.test('the socket comes from --socket, else SHOAL_ADMIN_SOCKET, else /run/shoal/admin.sock', async (t) => {
  answer = healthy
  t.equal((await run(['health'], { SHOAL_ADMIN_SOCKET: socket })).code, 0)
  const missing = tmp.path('nope.sock')
  const flagWins = await run(['health', '--socket', missing], { SHOAL_ADMIN_SOCKET: socket })
  t.equal(flagWins.code, 1)
  t.match(flagWins.err, missing)
  // The default is only named here, never connected to: a host running the tests may have an agent.
  const { DEFAULT_ADMIN_SOCKET_PATH } = await import('../../../agent/admin/protocol.js')
  t.equal(DEFAULT_ADMIN_SOCKET_PATH, '/run/shoal/admin.sock')
})

t.test('no agent: exit 1 with the operator message, nothing on stdout', async (t) => {
  const missing = tmp.path('missing.sock')
  const r = await run(['health', '--socket', missing])
  t.equal(r.code, 1)
  t.equal(r.out, '')
  t.equal(r.err, `shoal: no shoal agent is listening on ${missing} (is \`shoal agent\` running? set --socket or SHOAL_ADMIN_SOCKET)\n`)
})

t.test('the agent answers an error: exit 1 with its code and message', async (t) => {
  answer = 'error'
  const r = await run(['health', '--socket', socket])
  t.equal(r.code, 1)
  t.equal(r.err, `shoal: the agent on ${socket} answered internal: store closed\n`)
  answer = 'throw'
  const thrown = await run(['health', '--socket', socket, '--json'])
  t.equal(thrown.code, 1)
  t.equal(thrown.out, '')
  t.equal(thrown.err, `shoal: the agent on ${socket} answered internal: policy core crashed\n`)
})

t.test('usage errors exit 2', async (t) => {
  answer = healthy
  for (const argv of [['health', '--incidents', 'ten'], ['health', '--incidents', '-1'], ['health', '--incidents', '1001'],
    ['health', '--incidents', '2.5'], ['health', '--incidents'], ['health', 'extra'], ['health', '--sockett', socket]]) {
    const r = await run(['--socket', socket, ...argv])
    t.equal(r.code, 2, argv.join(' '))
    t.equal(r.out, '')
  }
  const bad = await run(['health', '--socket', socket, '--incidents', 'ten'])
  t.equal(bad.err, 'shoal health: --incidents takes a whole number from 0 to 1000, not "ten"\n')
  const help = await run(['--help'])
  t.match(help.out, /health \[--socket PATH\] \[--incidents N\] \[--json\]/)
  t.match(help.out, /exits 0 healthy, 10 degraded, 11 unhealthy, 12 unknown,\s+1 agent unreachable or answered an error, 2 usage error/)
})
