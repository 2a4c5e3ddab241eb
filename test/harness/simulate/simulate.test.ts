// simulate mode end to end: the quick scenario passes with every invariant checked, the same seed
// gives the same digest byte for byte, a violation stops the run with its seed, time and trace,
// and fleet fidelity runs the real planner over a modelled fleet.
import t from 'tap'
import { readScenario, parseScenario } from '../scenario/load.js'
import { runSimulate } from './run.js'
import { HARNESS_CONFIG } from './harness.js'

t.test('quick: every invariant holds, faults are detected and replaced, the report says so', async (t) => {
  const s = await readScenario('test/scenarios/quick.yaml')
  const a = runSimulate(s)
  t.equal(a.outcome, 'pass', a.violation?.message ?? 'no violation')
  t.equal(a.summary.violations, 0)
  for (const inv of a.invariants) t.ok(inv.checks > 0 || inv.name === 'no-healthy-terminated', `${inv.name} checked ${inv.checks} times`)
  const xid79 = a.faults.find((f) => f.fault === 'xid' && f.detail.includes('xid 79'))!
  t.equal(xid79.expect, 'replace', 'XID 79 is replace-class by the real policy')
  t.ok(xid79.detected_ms !== null && xid79.requested_ms !== null && xid79.replaced_ms !== null, 'detected, requested and replaced')
  t.ok(xid79.requested_ms! - xid79.t_ms <= 5_000, `requested ${xid79.requested_ms! - xid79.t_ms} ms after the fault`)
  const app = a.faults.find((f) => f.detail.includes('xid 13'))!
  t.equal(app.expect, 'none', 'an application XID is not a node fault')
  t.equal(app.requested_ms, null, 'and nothing replaces it')
  const lost = a.faults.find((f) => f.fault === 'host-loss')!
  t.ok(lost.replaced_ms !== null, 'a lost host is replaced after dead_replace_after')
  t.ok(a.terms.length >= 2, 'the coordinator kill hands over to a successor')
  t.ok(a.terms.every((x, i) => i === 0 || x.term > a.terms[i - 1]!.term), 'terms only grow')
  const capacity = a.providers.find((p) => p.provider === 'aws' && p.op === 'provision')
  t.ok((capacity?.errors.capacity ?? 0) >= 1, 'the capacity window was hit')
  t.ok(a.providers.some((p) => p.provider === 'gcp' && p.op === 'provision' && p.ok >= 1), 'and the replacement failed over to gcp')
  t.equal(a.series.t_ms.length, a.series.healthy.length)
  t.ok(a.series.t_ms.length >= 100, 'a series to draw')

  const b = runSimulate(s)
  t.equal(b.digest, a.digest, 'same seed, same scenario: same digest')
  const c = runSimulate({ ...s, seed: 2 })
  t.not(c.digest, a.digest, 'another seed: another run')
})

t.test('a violation stops the run with the seed, the time and a trace', async (t) => {
  // A host lost with a replacement demanded within 1 s: impossible (dead_replace_after is 30 s).
  const s = parseScenario(`name: doomed
seed: 9
duration: 2m
fleet:
  council: 3
  spares: 2
  pool: {nodes: 4}
failures:
  events:
    - {at: 5s, fault: host-loss, target: "node:1"}
assertions:
  replacement_within: 1s
`, 'doomed.yaml')
  const r = runSimulate(s, { reproduce: 'npm run harness -- run doomed.yaml --seed 9' })
  t.equal(r.outcome, 'fail')
  t.equal(r.violation?.invariant, 'replacement-requested')
  t.equal(r.violation?.seed, '9')
  t.ok(r.violation!.t_ms > 35_000 && r.violation!.t_ms < 40_000, `stopped at ${r.violation!.t_ms} ms, when the deadline passed`)
  t.match(r.violation?.message, /node-1\.g1: no replacement requested/)
  t.ok(r.violation!.trace.some((e) => e.kind === 'fault host-loss'), 'the trace holds the fault')
  t.equal(r.violation?.reproduce, 'npm run harness -- run doomed.yaml --seed 9')
  t.ok(r.series.t_ms.at(-1)! < 60_000, 'the run stopped there')
  t.equal(runSimulate(s).digest, r.digest, 'and it reproduces')
})

t.test('a node terminated without a fault is a violation', async (t) => {
  // Killed agents come back after 10 s, but the pool replaces the dead after 2 s: healthy nodes go.
  const s = parseScenario(`name: trigger-happy
seed: 3
duration: 90s
fleet:
  council: 3
  spares: 4
  pool: {nodes: 6, dead_replace_after: 2s}
failures:
  events:
    - {at: 5s, fault: agent-crash, target: "node:2", down: 5s}
`, 'x.yaml')
  const r = runSimulate(s)
  t.equal(r.violation?.invariant, undefined, 'a crash longer than dead_replace_after counts as a fault')
  const strict = runSimulate(parseScenario(`name: strict
seed: 3
duration: 90s
fleet:
  council: 3
  spares: 4
  pool: {nodes: 6, dead_replace_after: 5m}
failures:
  events:
    - {at: 5s, fault: agent-crash, target: "node:2", down: 5s}
assertions:
  min_capacity: 1
`, 'x.yaml'))
  t.equal(strict.outcome, 'pass', strict.violation?.message ?? 'a short crash under a long grace replaces nothing')
  t.equal(strict.summary.replacements_requested, 0)
})

t.test('fleet fidelity: 2,000 nodes, the real-rate profile, the real planner', async (t) => {
  const s = parseScenario(`name: fleet
seed: 4
duration: 20m
fidelity: fleet
fleet:
  council: 5
  topology: {zones: [a, b], rack_size: 16}
  pool: {nodes: 2000, providers: [aws, gcp], max_in_flight: 8}
providers:
  - {name: aws, doa_rate: 0.1}
  - {name: gcp, region: us-central1}
failures:
  profile: realistic
  accel: 500
  events:
    - {at: 1m, fault: xid, code: 79, target: "node:7"}
    - {at: 2m, fault: coordinator-kill, down: 30s}
    - {at: 3m, fault: rack-outage, target: "rack:a/3", cause: network, for: 2m}
    - {at: 4m, fault: provider-capacity, provider: aws, for: 5m}
    - {at: 5m, fault: xid, code: 79, target: "node:9"}
assertions:
  replacement_within: 2m
`, 'fleet.yaml')
  const r = runSimulate(s)
  t.equal(r.outcome, 'pass', r.violation?.message ?? 'no violation')
  t.ok(r.summary.faults > 10, `${r.summary.faults} faults`)
  for (const n of [7, 9]) {
    const f = r.faults.find((x) => x.node === n && x.detail.includes('xid 79'))!
    t.ok(f.requested_ms !== null && f.requested_ms - f.t_ms < 5_000, `node ${n}: replacement requested ${f.requested_ms! - f.t_ms} ms after its XID 79`)
  }
  t.ok(r.terms.length >= 2 && r.terms[1]!.term > r.terms[0]!.term, 'the coordinator kill elects a successor in a higher term')
  const rack = r.nodes.filter((n) => n.events.some((e) => e.kind === 'rack-outage'))
  t.ok(rack.length >= 8, `${rack.length} nodes in the rack outage`)
  t.ok(rack.every((n) => !n.events.some((e) => e.kind === 'terminated')), 'none of them replaced: correlated silence')
  t.ok(r.providers.some((p) => p.provider === 'gcp' && p.op === 'provision' && p.ok > 0), 'capacity on aws fails over to gcp')
  t.equal(runSimulate(s).digest, r.digest, 'deterministic')
})

t.test('a fault aimed at an agent already down is skipped, not a crash (chaos campaign 2, runs 11 and 50)', async (t) => {
  const r = runSimulate(parseScenario(`name: twice
seed: 11
duration: 40s
fleet:
  council: 3
  spares: 2
  pool: {nodes: 4}
failures:
  events:
    - {at: 5s, fault: agent-pause, target: coordinator, for: 6s}
    - {at: 6s, fault: agent-pause, target: coordinator, for: 3s}
    - {at: 7s, fault: agent-crash, target: "node:1", down: 3s}
    - {at: 8s, fault: agent-crash, target: "node:1", down: 3s}
`, 'x.yaml'))
  t.equal(r.outcome, 'pass', r.violation?.message ?? 'no violation')
  t.equal(r.faults.filter((f) => f.fault === 'agent-crash').length, 1, 'the second crash of a down agent is not a fault')
})

t.test('partition-storm: a node held dead across a healed partition answers the last look, and is not replaced', async (t) => {
  // Before the coordinator's last look, seed 5 replaced a healthy pool node 2.6 s after the first
  // cuts healed: the coordinator, elected on the side that had declared it dead, still held it so.
  const s = await readScenario('test/scenarios/partition-storm.yaml')
  const r = runSimulate(s)
  t.equal(r.outcome, 'pass', r.violation?.message ?? 'no violation')
  const healthy = r.invariants.find((i) => i.name === 'no-healthy-terminated')!
  t.ok(healthy.checks >= 2, `${healthy.checks} terminations checked`)
  // Nodes cut off for longer than dead_replace_after are still replaced: the look does not answer for them.
  const cut = r.nodes.filter((n) => n.events.some((e) => e.kind === 'replaced while unreachable'))
  t.ok(cut.length >= 1, `${cut.map((n) => n.node).join(', ')} replaced while cut off`)
})

t.test('a host lost while its agent is crashed or paused stays down, and is replaced', async (t) => {
  for (const first of ['agent-crash', 'agent-pause'] as const) {
    const r = runSimulate(parseScenario(`name: lost-while-down
seed: 4
duration: 90s
fleet:
  council: 3
  spares: 2
  pool: {nodes: 4}
failures:
  events:
    - {at: 5s, fault: ${first}, target: "node:1", ${first === 'agent-crash' ? 'down' : 'for'}: 10s}
    - {at: 8s, fault: host-loss, target: "node:1"}
`, 'x.yaml'))
    t.equal(r.outcome, 'pass', `${first}: ${r.violation?.message ?? 'no violation'}`)
    const lost = r.faults.find((f) => f.fault === 'host-loss')!
    t.ok(lost.requested_ms !== null && lost.replaced_ms !== null, `${first}: the lost host is replaced`)
    // Before, the crash's restart brought the lost host back and nothing replaced it.
    const node1 = r.nodes.find((n) => n.node.startsWith('node-1.'))!
    t.ok(node1.events.some((e) => e.kind === 'terminated' && e.detail.includes('(replaced)')), `${first}: its instance terminated as replaced`)
  }
})

t.test('a node replaced for a long cut stays excused when a later, shorter cut hits it (chaos campaign 4, run 469)', async (t) => {
  // node-1 is cut off for 42 s (longer than dead_replace_after) and replaced; seed 1's half
  // partition at 53 s cuts it again, briefly, before its replacement is in and it is terminated.
  const r = runSimulate(parseScenario(`name: recut
seed: 1
duration: 100s
fleet:
  council: 3
  spares: 2
  pool: {nodes: 4}
failures:
  events:
    - {at: 5s, fault: partition, target: "node:1", for: 42s}
    - {at: 53s, fault: partition, target: half, for: 2s}
`, 'recut.yaml'))
  t.equal(r.outcome, 'pass', r.violation?.message ?? 'no violation')
  const node1 = r.nodes.find((n) => n.node === 'node-1.g1')!
  const requested = node1.events.find((e) => e.kind === 'replacement requested')
  const terminated = node1.events.find((e) => e.kind === 'terminated')
  t.ok(requested !== undefined && requested.t_ms < 47_000 + HARNESS_CONFIG.healNewsMs, `replacement requested at ${requested?.t_ms} ms, on the cut`)
  t.ok(terminated !== undefined && terminated.t_ms > 55_000, `terminated at ${terminated?.t_ms} ms, after the second cut`)
  t.ok(node1.events.some((e) => e.kind === 'replaced while unreachable'), 'and the timeline says why it was excused')
})
