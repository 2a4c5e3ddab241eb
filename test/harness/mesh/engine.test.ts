// Mesh mode end to end on test/scenarios/quick-mesh.yaml: real agent processes on loopback, a fatal
// XID replaced, a crash and restart, overlapping partitions through mesh.deny_peers_file, the
// coordinator killed (a new term), its successor paused past its lease (another new term), a
// capacity window; every invariant polled throughout.
// And what mesh mode cannot do is refused before any process starts, naming the field.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError } from '../../../agent/config/errors.js'
import { runMesh } from './engine.js'
import { meshRefusals } from './refuse.js'
import { parseScenario, readScenario } from '../scenario/load.js'
import { placeLabels } from '../scenario/profile.js'

t.setTimeout(120_000)

t.test('quick-mesh: every invariant holds, the XID is replaced, the coordinator kill makes a new term', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-mesh-test-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const s = await readScenario(join(import.meta.dirname, '..', '..', 'scenarios', 'quick-mesh.yaml'))
  const stages: string[] = []
  let progress = 0
  let places: string[] = []
  const r = await runMesh(s, {
    dir,
    onStage: async (st) => {
      stages.push(st.kind)
      if (st.kind !== 'ready') return
      const view = await st.fleet.status(st.control[0]!.index)
      places = (view?.nodes ?? []).filter((n) => n.meta?.pool === 'gpu').map((n) => `${n.meta!.zone} ${n.meta!.rack}`).sort()
    },
    onProgress: (done) => { progress = done },
  })
  // Pool agents carry their slot's place, so the coordinator's correlated-silence rule can group them.
  t.same(places, [0, 1, 2].map((i) => { const p = placeLabels(s, i); return `${p.zone} ${p.rack}` }).sort(), 'every pool agent gossips its zone and rack')
  t.equal(r.outcome, 'pass', JSON.stringify(r.violation))
  t.equal(r.summary.violations, 0)
  t.equal(r.violation, null)
  t.equal(r.scenario.mode, 'mesh')
  t.equal(progress, s.duration, 'progress reached the end')
  t.same(stages.filter((x) => x !== 'fault' && x !== 'replaced'), ['ready', 'end'])
  t.same(r.faults.map((f) => f.fault), ['xid', 'agent-crash', 'partition', 'partition', 'coordinator-kill', 'provider-capacity', 'agent-pause'], 'the report lists the faults in order')
  const xid = r.faults[0]!
  t.match(xid, { node: 0, expect: 'replace' })
  t.ok(xid.requested_ms !== null && xid.replaced_ms !== null, `the XID fault was requested and replaced: ${JSON.stringify(xid)}; trace: ${JSON.stringify(r.nodes)}`)
  t.ok(xid.requested_ms! - xid.t_ms <= 30_000, 'requested within assertions.replacement_within')
  t.equal(r.summary.replace_class_faults, 1)
  const kill = r.faults[4]!
  t.match(kill.detail, /agent-0\d \(term \d+\): SIGKILL/)
  t.ok(r.terms.some((x) => x.from_ms > kill.t_ms && x.term > r.terms[0]!.term), 'a new, higher term after the kill')
  for (const cut of [r.faults[2]!, r.faults[3]!]) {
    t.match(cut.detail, /cut off/)
    t.ok(cut.detected_ms !== null, `${cut.detail}: seen suspect or dead, the deny files cut it off`)
  }
  // The successor paused past its lease: another council agent acts in a higher term, and the
  // paused one, back, never acts beside it (one-coordinator held throughout).
  const pause = r.faults[6]!
  t.match(pause.detail, /agent-0\d \(term \d+\): SIGSTOP, back after 8000 ms/)
  const pausedTerm = Number(/\(term (\d+)\)/.exec(pause.detail)![1])
  t.ok(r.terms.some((x) => x.from_ms > pause.t_ms && x.term > pausedTerm), `a higher term than ${pausedTerm} after the pause: ${JSON.stringify(r.terms)}`)
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
