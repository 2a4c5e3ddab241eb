// The scenario format: every shipped file loads; bad input names its field; the real-rate
// profile expands the same way for a seed and at the rates of reference/fleet-failures.md §4.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError } from '../../../agent/config/errors.js'
import { parseScenario, readScenario, racksPerZone } from './load.js'
import { expandFailures, nodesOf, placeOf, REALISTIC_PROFILE } from './profile.js'
import { parseTarget } from './faults.js'

const DIR = 'test/scenarios'
const BASE = `name: t
duration: 10m
fleet:
  topology: {zones: [a, b], rack_size: 4}
  pool: {nodes: 16, providers: [aws]}
providers:
  - {name: aws}
`

function problems (text: string): string[] {
  try {
    parseScenario(text, 'x.yaml')
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`)
    throw err
  }
  return []
}

t.test('every shipped scenario loads', async (t) => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'))
  t.ok(files.length >= 10, `${files.length} scenarios`)
  for (const f of files) {
    const s = await readScenario(join(DIR, f))
    t.equal(`${s.name}.yaml`, f, `${f}: its name is its file name`)
    t.ok(expandFailures(s).every((e) => e.at < s.duration), `${f}: every fault falls inside the run`)
  }
})

t.test('bad input names the field', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['unknown top-level key, with a suggestion', `${BASE}sed: 3\n`, /^sed: unknown field \(did you mean seed\?\)/],
    ['duration without a unit', BASE.replace('duration: 10m', 'duration: 10'), /^duration: 10 has no unit/],
    ['an unknown fault', `${BASE}failures:\n  events:\n    - {at: 1s, fault: meteor}\n`, /^failures\.events\[0\]\.fault: unknown fault/],
    ['a missing XID code', `${BASE}failures:\n  events:\n    - {at: 1s, fault: xid}\n`, /^failures\.events\[0\]\.code: required/],
    ['an event after the end', `${BASE}failures:\n  events:\n    - {at: 1h, fault: xid, code: 79}\n`, /^failures\.events\[0\]\.at: 1h is not before the end of the run/],
    ['a node that does not exist', `${BASE}failures:\n  events:\n    - {at: 1s, fault: xid, code: 79, target: "node:16"}\n`, /^failures\.events\[0\]\.target: node 16 does not exist/],
    ['a rack that does not exist', `${BASE}failures:\n  events:\n    - {at: 1s, fault: rack-outage, target: "rack:a/9"}\n`, /^failures\.events\[0\]\.target: rack 9 does not exist \(each zone has racks 0\.\.1\)/],
    ['a zone that does not exist', `${BASE}failures:\n  events:\n    - {at: 1s, fault: zone-outage, target: "zone:q"}\n`, /^failures\.events\[0\]\.target: zone "q" is not in fleet\.topology\.zones/],
    ['a bad target', `${BASE}failures:\n  events:\n    - {at: 1s, fault: xid, code: 79, target: "everything"}\n`, /^failures\.events\[0\]\.target: "everything" is not a target/],
    ['an unknown provider in the pool', BASE.replace('providers: [aws]}', 'providers: [azure]}'), /^fleet\.pool\.providers\[0\]: "azure" is not in providers/],
    ['an unknown provider in a fault', `${BASE}failures:\n  events:\n    - {at: 1s, fault: provider-capacity, provider: gcp}\n`, /^failures\.events\[0\]\.provider: "gcp" is not in providers/],
    ['a GPU the nodes do not have', `${BASE}failures:\n  events:\n    - {at: 1s, fault: gpu-lost, target: "node:1", gpu: 8}\n`, /^failures\.events\[0\]\.gpu: is 8; nodes have GPUs 0\.\.7/],
    ['a share above 1', BASE.replace('providers:\n  - {name: aws}', 'providers:\n  - {name: aws, doa_rate: 1.5}'), /^providers\[0\]\.doa_rate: must be 0\.\.1, got 1\.5/],
    ['an even council', BASE.replace('fleet:\n', 'fleet:\n  council: 4\n'), /^fleet\.council: must be odd/],
    ['min above nodes', BASE.replace('nodes: 16,', 'nodes: 16, min_nodes: 20,'), /^fleet\.pool\.min_nodes: is 20, above nodes \(16\)/],
    ['count on a named target', `${BASE}failures:\n  events:\n    - {at: 1s, fault: host-loss, target: "node:1", count: 3}\n`, /^failures\.events\[0\]\.count: only a random target takes a count/],
    ['a link fault in fleet fidelity', `${BASE}fidelity: fleet\nfailures:\n  events:\n    - {at: 1s, fault: loss}\n`, /^failures\.events\[0\]\.fault: loss needs fidelity: mesh/],
    ['mesh fidelity past its size', BASE.replace('duration: 10m', 'duration: 48h').replace('nodes: 16,', 'nodes: 2000,'), /^fidelity: mesh runs every agent's MeshNode: \d+ agent-hours is past its 400; use fidelity: fleet/],
  ]
  for (const [what, text, want] of cases) {
    const ps = problems(text)
    t.ok(ps.some((p) => want.test(p)), `${what}: ${ps.join(' | ') || 'no problem reported'}`)
  }
  t.same(problems(BASE), [], 'the base loads')
  t.throws(() => parseScenario('- a list', 'x.yaml'), /a scenario is a mapping/)
  t.throws(() => parseScenario('a: [', 'x.yaml'), /x\.yaml: line 1/)
  t.throws(() => parseScenario(`${BASE}#${'x'.repeat(1024 * 1024)}`, 'x.yaml'), /a scenario is at most 1 MiB/)
  const all = problems(`${BASE}sed: 1\nseed: -1\n`)
  t.ok(all.length >= 2, `every problem at once: ${all.join(' | ')}`)
})

t.test('targets', async (t) => {
  t.same(parseTarget('node:3'), { kind: 'nodes', nodes: [3] })
  t.same(parseTarget('nodes:1,2'), { kind: 'nodes', nodes: [1, 2] })
  t.same(parseTarget('rack:a/2'), { kind: 'rack', zone: 'a', rack: 2 })
  t.same(parseTarget('zone:b'), { kind: 'zone', zone: 'b' })
  t.equal(typeof parseTarget('node:1,2'), 'string', 'node: names one node')
  t.equal(typeof parseTarget('rack:a'), 'string')
  const s = parseScenario(BASE, 'x.yaml')
  t.equal(racksPerZone(s), 2, '16 nodes over 2 zones in racks of 4')
  t.same(nodesOf(s, { kind: 'zone', zone: 'a' }), [0, 2, 4, 6, 8, 10, 12, 14], 'nodes are dealt to zones in turn')
  t.same(nodesOf(s, { kind: 'rack', zone: 'b', rack: 1 }), [9, 11, 13, 15])
  t.same(placeOf(s, 9), { zone: 'b', rack: 1 })
})

t.test('the real-rate profile', async (t) => {
  const text = (seed: number, accel: number): string => BASE.replace('duration: 10m', 'duration: 24h').replace('nodes: 16,', 'nodes: 1000,') +
    `seed: ${seed}\nfidelity: fleet\nfailures:\n  profile: realistic\n  accel: ${accel}\n  events:\n    - {at: 1s, fault: xid, code: 79, target: "node:0"}\n`
  const a = expandFailures(parseScenario(text(1, 100), 'x.yaml'))
  const b = expandFailures(parseScenario(text(1, 100), 'x.yaml'))
  const c = expandFailures(parseScenario(text(2, 100), 'x.yaml'))
  t.same(a, b, 'same seed, same events')
  t.not(JSON.stringify(a), JSON.stringify(c), 'another seed, other events')
  t.ok(a.every((e, i) => i === 0 || a[i - 1]!.at <= e.at), 'in time order')
  t.ok(a.some((e) => e.fault === 'xid' && e.at === 1000), 'the explicit event is kept')
  // 1,000 nodes x 1 day x accel 100 x the profile's total rate per 1,000 node-days.
  const expected = REALISTIC_PROFILE.reduce((n, c) => n + c.per1000NodeDays, 0) * 100
  const got = a.filter((e) => e.fault !== 'rack-outage' && e.fault !== 'zone-outage').length - 1
  t.ok(Math.abs(got - expected) < 4 * Math.sqrt(expected), `${got} profile faults, expected about ${expected.toFixed(0)} (Poisson)`)
  const none = expandFailures(parseScenario(text(1, 1).replace('profile: realistic', 'profile: none'), 'x.yaml'))
  t.equal(none.length, 1, 'profile none: only the file\'s events')
})
