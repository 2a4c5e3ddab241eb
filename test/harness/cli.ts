// The harness's command line (docs/harness.md):
//   npm run harness -- run FILE [--mode simulate|mesh] [--seed S] [--out DIR]
//   npm run harness -- validate FILE...
// `run` writes report.json and report.html into --out (default ./shoal-report/NAME), prints a
// summary and where to open the report, and exits 0 when every invariant held, 1 on a violation
// (its seed, time, trace and the command that reproduces it are printed), 2 on bad input, 3 when
// the run could not get going (a fleet that never elected a coordinator, a mesh fleet that did not start).
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { ConfigError } from '../../agent/config/errors.js'
import { formatDuration } from '../../agent/lib/duration.js'
import { ProgressBar, virtualTime } from './progress.js'
import { writeReport } from './report/write.js'
import type { Report } from './report/types.js'
import { readScenario, type Scenario } from './scenario/load.js'
import { runSimulate } from './simulate/run.js'

export interface CliIo {
  out: (text: string) => void
  err: (text: string) => void
  stderr: { isTTY?: boolean, columns?: number, write: (text: string) => unknown }
}

const USAGE = `usage:
  npm run harness -- run FILE [--mode simulate|mesh] [--seed S] [--out DIR]
  npm run harness -- validate FILE...
`

export async function harnessMain (argv: readonly string[], io: CliIo): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { mode: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    })
  } catch (err) {
    io.err(`harness: ${(err as Error).message}\n${USAGE}`)
    return 2
  }
  const [command, ...files] = parsed.positionals
  if (parsed.values.help === true || command === undefined) { io.out(USAGE); return command === undefined && parsed.values.help !== true ? 2 : 0 }
  if (command === 'validate') {
    if (files.length === 0) { io.err(`harness validate: name at least one scenario file\n${USAGE}`); return 2 }
    let bad = 0
    for (const f of files) {
      try {
        const s = await readScenario(f)
        io.out(`${f}: ok (${s.name}, ${s.fidelity} fidelity, ${s.fleet.pool.nodes} nodes, ${formatDuration(s.duration)})\n`)
      } catch (err) {
        bad++
        io.err(`${err instanceof ConfigError ? err.message : `${f}: ${(err as Error).message}`}\n`)
      }
    }
    return bad === 0 ? 0 : 2
  }
  if (command !== 'run' || files.length !== 1) { io.err(`harness: unknown command or wrong arguments\n${USAGE}`); return 2 }
  const mode = parsed.values.mode ?? 'simulate'
  if (mode !== 'simulate' && mode !== 'mesh') { io.err(`harness: --mode must be simulate or mesh, got ${JSON.stringify(mode)}\n`); return 2 }
  let s: Scenario
  try {
    s = await readScenario(files[0]!)
    if (parsed.values.seed !== undefined) s = { ...s, seed: /^\d{1,15}$/.test(parsed.values.seed) ? Number(parsed.values.seed) : parsed.values.seed }
  } catch (err) {
    io.err(`${err instanceof ConfigError ? err.message : (err as Error).message}\n`)
    return 2
  }
  const out = parsed.values.out ?? `shoal-report/${s.name}`
  const bar = new ProgressBar(io.stderr, `${s.name} (${mode})`)
  const reproduce = `npm run harness -- run ${s.file} --mode ${mode} --seed ${s.seed}`
  io.out(`${s.name}: ${mode}${mode === 'simulate' ? ` (${s.fidelity} fidelity)` : ''}, seed ${s.seed}, ${s.fleet.pool.nodes} nodes, ${formatDuration(s.duration)}${s.failures.profile === 'realistic' ? `, real-rate profile x${s.failures.accel}` : ''}\n`)
  let report: Report
  try {
    report = mode === 'simulate'
      ? runSimulate(s, { reproduce, onProgress: (done, total) => { bar.update(done, total, virtualTime) } })
      : await runMeshMode(s, out, (done, total) => { bar.update(done, total, virtualTime) })
  } catch (err) {
    bar.done()
    // A scenario mesh mode cannot run is bad input (2); a run that could not get going is the harness's failure (3), not a violation (1).
    if (err instanceof ConfigError) { io.err(`${err.message}\n`); return 2 }
    io.err(`harness: ${s.name} (seed ${s.seed}) could not run: ${(err as Error).message}\n`)
    return 3
  }
  bar.done()
  const paths = await writeReport(out, report)
  io.out(summary(report))
  io.out(`report: ${pathToFileURL(paths.html).href} (opens offline)\n`)
  return report.outcome === 'pass' ? 0 : 1
}

/** Mesh mode lives in mesh/engine.ts (real agent processes); loaded only when asked for. */
async function runMeshMode (s: Scenario, out: string, onProgress: (done: number, total: number) => void): Promise<Report> {
  const { runMesh } = await import('./mesh/engine.js')
  return await runMesh(s, { dir: out, onProgress })
}

export function summary (r: Report): string {
  const l = r.latency
  const lines = [
    `${r.outcome === 'pass' ? 'PASS' : 'FAIL'}  ${r.scenario.name}  digest ${r.digest.slice(0, 16)}  ${r.wall_s} s wall, ${r.summary.events} events`,
    `  faults ${r.summary.faults} (${r.summary.replace_class_faults} replace-class), replacements requested ${r.summary.replacements_requested}, completed ${r.summary.replacements_completed}, terms ${r.summary.terms}`,
    `  fault → detected p50/p99 ${ms(l.fault_to_detect.p50_ms)}/${ms(l.fault_to_detect.p99_ms)}, → requested ${ms(l.fault_to_request.p50_ms)}/${ms(l.fault_to_request.p99_ms)}, → replaced ${ms(l.fault_to_replaced.p50_ms)}/${ms(l.fault_to_replaced.p99_ms)}`,
    `  capacity min ${r.summary.min_capacity_fraction}, end ${r.summary.end_capacity_fraction}; provider calls ${r.summary.provider_calls} (${r.summary.provider_errors} errors)`,
    ...r.invariants.map((i) => `  ${i.violations === 0 ? 'ok  ' : 'FAIL'} ${i.name.padEnd(24)} ${i.checks} checks${i.first === null ? '' : `: ${i.first.message}`}`),
  ]
  if (r.violation !== null) {
    lines.push(`violation of ${r.violation.invariant} at t=${r.violation.t_ms} ms, seed ${r.violation.seed}: ${r.violation.message}`)
    lines.push('  last events:')
    for (const e of r.violation.trace.slice(-15)) lines.push(`    ${String(e.t_ms).padStart(9)} ms  ${e.kind}  ${e.detail}`)
    lines.push(`  reproduce: ${r.violation.reproduce}`)
  }
  return `${lines.join('\n')}\n`
}

function ms (x: number | null): string { return x === null ? '-' : `${x} ms` }

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const code = await harnessMain(process.argv.slice(2), {
    out: (t) => { process.stdout.write(t) },
    err: (t) => { process.stderr.write(t) },
    stderr: process.stderr,
  })
  process.exitCode = code
}
