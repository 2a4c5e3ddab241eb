// bench:sim — 10,000 agents (5 council + 9,995 pool nodes) for 24 virtual hours at the real-rate
// failure profile times the scenario's accel (test/scenarios/fleet-10000.yaml), fleet fidelity.
// Target (DESIGN.md §10): wall_s ≤ 120 on 2 cores, the same digest for the same seed.
//   npm run bench:sim [-- --hours H] [-- --seed S] [-- --out DIR]
// Prints the run's summary, then one JSON line.
import { parseArgs } from 'node:util'
import { ProgressBar, virtualTime } from '../harness/progress.js'
import { summary } from '../harness/cli.js'
import { writeReport } from '../harness/report/write.js'
import { readScenario } from '../harness/scenario/load.js'
import { runSimulate } from '../harness/simulate/run.js'

const { values } = parseArgs({ options: { hours: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, scenario: { type: 'string' } } })
let s = await readScenario(values.scenario ?? 'test/scenarios/fleet-10000.yaml')
if (values.hours !== undefined) {
  const h = Number(values.hours)
  if (!(h > 0 && h <= 48)) throw new Error(`--hours must be in (0, 48], got ${values.hours}`)
  s = { ...s, duration: Math.round(h * 3_600_000) }
}
if (values.seed !== undefined) s = { ...s, seed: values.seed }
const bar = new ProgressBar(process.stderr, 'bench:sim')
const r = runSimulate(s, { onProgress: (done, total) => { bar.update(done, total, virtualTime) } })
bar.done()
process.stdout.write(summary(r))
if (values.out !== undefined) process.stdout.write(`report: ${(await writeReport(values.out, r)).html}\n`)
console.log(JSON.stringify({
  bench: 'sim',
  agents: s.fleet.council + s.fleet.pool.nodes,
  virtual_h: Math.round(s.duration / 36_000) / 100,
  wall_s: r.wall_s,
  events: r.summary.events,
  digest: r.digest,
  violations: r.summary.violations,
  fidelity: s.fidelity,
  accel: s.failures.accel,
  seed: String(s.seed),
  faults: r.summary.faults,
  replace_class_faults: r.summary.replace_class_faults,
  replacements_completed: r.summary.replacements_completed,
  fault_to_request_p50_ms: r.latency.fault_to_request.p50_ms,
  fault_to_request_p99_ms: r.latency.fault_to_request.p99_ms,
  min_capacity: r.summary.min_capacity_fraction,
}))
