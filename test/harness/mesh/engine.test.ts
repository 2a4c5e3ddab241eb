// Mesh mode end to end on test/scenarios/quick-mesh.yaml: real agent processes on loopback, a fatal
// XID replaced, a crash and restart, the coordinator killed (a new term), a pool node partitioned
// through mesh.deny_peers_file and healed, a capacity window; every invariant polled throughout.
// And what mesh mode cannot do is refused before any process starts, naming the field.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError } from '../../../agent/config/errors.js'
import { runMesh } from './engine.js'
import { meshRefusals } from './refuse.js'
import { parseScenario, readScenario } from '../scenario/load.js'

t.setTimeout(120_000)

t.test('quick-mesh: every invariant holds, the XID is replaced, the coordinator kill makes a new term', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-mesh-test-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const s = await readScenario(join(import.meta.dirname, '..', '..', 'scenarios', 'quick-mesh.yaml'))
  const stages: string[] = []
  let progress = 0
  const r = await runMesh(s, { dir, onStage: (st) => { stages.push(st.kind) }, onProgress: (done) => { progress = done } })
  t.equal(r.outcome, 'pass', JSON.stringify(r.violation))
  t.equal(r.summary.violations, 0)
  t.equal(r.violation, null)
  t.equal(r.scenario.mode, 'mesh')
  t.equal(progress, s.duration, 'progress reached the end')
  t.same(stages.filter((x) => x !== 'fault' && x !== 'replaced'), ['ready', 'end'])
  t.same(r.faults.map((f) => f.fault), ['xid', 'agent-crash', 'partition', 'coordinator-kill', 'provider-capacity'], 'the report lists the faults in order')
  const xid = r.faults[0]!
  t.match(xid, { node: 0, expect: 'replace' })
  t.ok(xid.requested_ms !== null && xid.replaced_ms !== null, `the XID fault was requested and replaced: ${JSON.stringify(xid)}; trace: ${JSON.stringify(r.nodes)}`)
  t.ok(xid.requested_ms! - xid.t_ms <= 30_000, 'requested within assertions.replacement_within')
  t.equal(r.summary.replace_class_faults, 1)
  const kill = r.faults[3]!
  t.match(kill.detail, /agent-0\d \(term \d+\): SIGKILL/)
  t.ok(r.terms.some((x) => x.from_ms > kill.t_ms && x.term > r.terms[0]!.term), 'a new, higher term after the kill')
  t.match(r.faults[2]!.detail, /cut off/)
  t.ok(r.faults[2]!.detected_ms !== null, 'the partitioned node was seen suspect or dead: the deny files cut it off')
  for (const i of r.invariants.filter((x) => x.name !== 'no-ack-lost' && x.name !== 'no-healthy-terminated')) t.ok(i.checks > 10, `${i.name} checked throughout`)
  // The XID's verdict, read from the node's own socket, then found in the coordinator's view.
  t.ok(r.invariants.find((x) => x.name === 'no-ack-lost')!.checks >= 1, 'the published verdict was checked until the coordinator had it')
  t.ok(r.series.t_ms.length >= 20, 'a sample about every second')
  t.ok(r.summary.provider_calls > 0)
})

t.test('faults mesh mode cannot inject are refused before any process starts, naming the field', async (t) => {
  const s = parseScenario(`name: nope
duration: 1m
fleet: {council: 3, pool: {nodes: 2}}
network: {loss: 0.01}
failures:
  events:
    - {at: 1s, fault: xid, code: 79, target: "node:0"}
    - {at: 2s, fault: loss, rate: 0.1}
    - {at: 3s, fault: clock-skew, target: "node:1", offset_ms: 500}
    - {at: 4s, fault: duplication}
    - {at: 5s, fault: delay}
`, 'nope.yaml')
  t.same(meshRefusals(s).map((i) => `${i.path}: ${i.message}`), [
    'failures.events[1].fault: loss needs simulate mode',
    'failures.events[2].fault: clock-skew needs simulate mode',
    'failures.events[3].fault: duplication needs simulate mode',
    'failures.events[4].fault: delay needs simulate mode',
    'network.loss: message loss needs simulate mode',
  ])
  let started = false
  const err = await runMesh(s, { dir: '/nonexistent', onStage: () => { started = true }, log: () => { started = true } }).then(() => null, (e: unknown) => e)
  t.ok(err instanceof ConfigError)
  t.match((err as Error).message, /nope\.yaml: failures\.events\[1\]\.fault: loss needs simulate mode/)
  t.notOk(started, 'nothing started, nothing logged')
})
