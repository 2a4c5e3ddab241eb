// `shoal cordon | uncordon | drain` end to end in-process: a real AdminServer on a temp socket
// answering through fleetHandler with a fake CommandWriter; what is sent, what is printed, exit codes.
import t from 'tap'
import { fromJson, type JsonValue } from '@bufbuild/protobuf'
import { CommandKind, CommandResultSchema, CommandStatus, type AdminRequest } from '../../../proto/gen/shoal_pb.js'
import { main } from '../../../agent/cli/shoal.js'
import { adminError } from '../../../agent/admin/dispatch.js'
import { fleetHandler } from '../../../agent/admin/fleet.js'
import { AdminServer } from '../../../agent/admin/server.js'
import { tempDir } from '../admin/fixtures/support.js'
import { applied, FakeReader, FakeWriter, failedResult, IDS } from '../admin/fixtures/fleet.js'

const tmp = tempDir()
t.teardown(tmp.remove)
const socket = tmp.path('admin.sock')
let meshOn = true
let writer = new FakeWriter()
/** Commands are held until released, to see the CLI give up first. */
let hold: Promise<void> | undefined
const requests: AdminRequest[] = []
const server = new AdminServer(async (req) => {
  requests.push(req)
  if (req.request.case === 'command' && hold !== undefined) await hold
  return await fleetHandler(meshOn ? new FakeReader() : undefined, meshOn ? writer : undefined)(req) ?? adminError('bad-request', 'not a fleet request')
}, { path: socket })
await server.listen()
t.teardown(() => server.close())

t.beforeEach(() => {
  meshOn = true
  writer = new FakeWriter()
  hold = undefined
  requests.length = 0
})

async function run (argv: string[], env: NodeJS.ProcessEnv = { USER: 'alice' }): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await main([...argv, '--socket', socket], { out: (s) => { out += s }, err: (s) => { err += s } }, env)
  return { code, out, err }
}

t.test('cordon, uncordon, drain: resolved first, sent by peer id, acknowledged; exit 0', async (t) => {
  const rows: Array<[string, CommandKind, string]> = [['cordon', CommandKind.CORDON, 'cordoned'], ['uncordon', CommandKind.UNCORDON, 'uncordoned'], ['drain', CommandKind.DRAIN, 'drained']]
  for (const [verb, kind, done] of rows) {
    writer = new FakeWriter()
    const r = await run([verb, 'gpu-a'])
    t.equal(r.code, 0, r.err)
    t.equal(r.err, '')
    t.equal(r.out, `${done} gpu-a (${IDS.a}): applied in term 7\n  no hook configured\n`)
    t.same(writer.calls, [{ kind, target: IDS.a, reason: `shoal ${verb} by alice`, value: 0 }], `${verb}: the default reason names the operator`)
  }
  t.same(requests.slice(-2).map((r) => r.request.case), ['node', 'command'], 'a node lookup, then the command')
})

t.test('--reason is sent; SUDO_USER names the operator behind sudo; an ack without detail prints one line', async (t) => {
  writer.next = (kind, target) => applied(kind, target, CommandStatus.APPLIED, '')
  const r = await run(['cordon', 'E5f6g7h8', '--reason', 'rack r12 maintenance'])
  t.equal(r.out, `cordoned gpu-b (${IDS.b}): applied in term 7\n`)
  t.same(writer.calls.at(-1), { kind: CommandKind.CORDON, target: IDS.b, reason: 'rack r12 maintenance', value: 0 })
  await run(['uncordon', 'gpu-b'], { USER: 'root', SUDO_USER: 'bob' })
  t.equal(writer.calls.at(-1)?.reason, 'shoal uncordon by bob')
  await run(['uncordon', 'gpu-b'], {})
  t.equal(writer.calls.at(-1)?.reason, 'shoal uncordon by an unknown user')
})

t.test('a failed hook exits 7, a refusal 6, each with the node\'s detail', async (t) => {
  writer.next = (kind, target) => applied(kind, target, CommandStatus.FAILED, '3 workloads still running after 10m')
  const failed = await run(['drain', 'gpu-a'])
  t.same([failed.code, failed.out], [7, ''])
  t.equal(failed.err, `shoal: drain gpu-a (${IDS.a}) FAILED in term 7: 3 workloads still running after 10m\n`)
  writer.next = (kind, target) => applied(kind, target, CommandStatus.REFUSED, 'stale term 6: this node has seen term 7')
  const refused = await run(['cordon', 'gpu-a'])
  t.equal(refused.code, 6)
  t.equal(refused.err, `shoal: cordon gpu-a (${IDS.a}) REFUSED in term 7: stale term 6: this node has seen term 7\n`)
  writer.next = () => failedResult('refused', 'cordon from term 6: stale term')
  const refusedError = await run(['cordon', 'gpu-a'])
  t.equal(refusedError.code, 6, 'the coordinator\'s refused error, same code')
  writer.next = (kind, target) => ({ ...applied(kind, target), ack: undefined })
  const noAck = await run(['cordon', 'gpu-a'])
  t.equal(noAck.code, 1)
  t.equal(noAck.err, `shoal: the agent answered the cordon of gpu-a (${IDS.a}) without an acknowledgement\n`)
})

t.test('no coordinator, not a member: exit 5; the agent\'s timeout: exit 8 with where to look', async (t) => {
  for (const code of ['no-coordinator', 'not-coordinator', 'not-member']) {
    writer.next = () => failedResult(code, `${code}: try again shortly`)
    const r = await run(['cordon', 'gpu-a'])
    t.equal(r.code, 5, code)
    t.equal(r.err, `shoal: the agent on ${socket} answered ${code}: ${code}: try again shortly\n`)
  }
  writer.next = () => failedResult('timeout', 'no answer from the coordinator in time; the command may still be applied (see shoal events)')
  const slow = await run(['drain', 'gpu-b'])
  t.equal(slow.code, 8)
  t.match(slow.err, /answered timeout: no answer from the coordinator in time/)
  t.match(slow.err, /\nshoal: the drain may still be applied: see `shoal node gpu-b` or `shoal events --node gpu-b`\n$/)
  writer.next = () => failedResult('busy', 'too many requests')
  t.equal((await run(['cordon', 'gpu-a'])).code, 1, 'busy: the generic error code')
})

t.test('--timeout: the CLI stops waiting, exit 8, the write may still land', async (t) => {
  let release = (): void => {}
  hold = new Promise((resolve) => { release = resolve })
  const r = await run(['cordon', 'gpu-c', '--timeout', '1s'])
  release()
  t.equal(r.code, 8)
  t.match(r.err, `shoal: no answer from ${socket} within 1000 ms\n`)
  t.match(r.err, /the cordon may still be applied: see `shoal node gpu-c`/)
})

t.test('unknown or ambiguous target: exit 3 and nothing is sent to the coordinator', async (t) => {
  const unknown = await run(['cordon', 'gpu-z'])
  t.equal(unknown.code, 3)
  t.match(unknown.err, 'answered unknown-node: no node matches "gpu-z" (did you mean gpu-a, gpu-b, gpu-c?)')
  const ambiguous = await run(['drain', 'gpu-'])
  t.equal(ambiguous.code, 3)
  t.match(ambiguous.err, 'answered ambiguous-node: "gpu-" matches 3 nodes')
  t.same(writer.calls, [])
  t.same(requests.map((r) => r.request.case), ['node', 'node'])
})

t.test('mesh off: exit 4', async (t) => {
  meshOn = false
  const r = await run(['cordon', 'gpu-a'])
  t.equal(r.code, 4)
  t.match(r.err, 'answered mesh-off: this agent runs without a mesh')
})

t.test('--json prints the CommandResult; the exit code still tells how it went', async (t) => {
  const ok = await run(['cordon', 'gpu-a', '--json'])
  t.equal(ok.code, 0)
  const result = fromJson(CommandResultSchema, JSON.parse(ok.out) as JsonValue)
  t.same([result.term, result.ack?.node, result.ack?.status], [7, IDS.a, CommandStatus.APPLIED])
  t.match(ok.out, /"status": "COMMAND_STATUS_APPLIED"/)
  writer.next = (kind, target) => applied(kind, target, CommandStatus.FAILED, 'hook exited 1')
  const failed = await run(['cordon', 'gpu-a', '--json'])
  t.equal(failed.code, 7)
  t.match(failed.out, /"status": "COMMAND_STATUS_FAILED"/)
})

t.test('usage errors exit 2 before anything is sent', async (t) => {
  const rows: Array<[string[], RegExp]> = [
    [['cordon'], /^shoal cordon: give the node/],
    [['drain', 'a', 'b'], /^shoal drain: unexpected argument "b"/],
    [['cordon', 'gpu-a', '--timeout', 'soon'], /^shoal cordon: --timeout: "soon" is not a duration/],
    [['cordon', 'gpu-a', '--timeout', '500ms'], /^shoal cordon: --timeout must be 1s\.\.1d, got 500ms/],
    [['cordon', 'gpu-a', '--reason', 'two\nlines'], /^shoal cordon: --reason is one line of text/],
    [['cordon', 'gpu-a', '--reason', 'r'.repeat(1025)], /^shoal cordon: --reason is at most 1024 characters, got 1025/],
    [['uncordon', 'gpu-a', '--pool', 'h100'], /^shoal uncordon: --pool is not an option of uncordon/],
  ]
  for (const [argv, want] of rows) {
    const r = await run(argv)
    t.equal(r.code, 2, argv.join(' '))
    t.match(r.err, want, argv.join(' '))
  }
  t.same(requests, [])
})
