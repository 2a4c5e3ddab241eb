// chaos — N seeded randomized scenarios at 200 agents (5 council, 180 pool nodes, 15 spares),
// mesh fidelity: partitions (halves, racks, arbitrary sets, flapping), coordinator kills and
// pauses, provider faults (capacity, quota, rate limits, latency, hangs, dead on arrival), fatal
// XIDs, crashes, host loss, loss and delay windows. Every invariant checked in every run; a
// violation writes the run's scenario to test-output/chaos/ and prints how to reproduce it.
//   npm run chaos -- --runs 1000 [--seed S] [--first K] [--jobs J] [--agents 200] [--duration 90s]
// --first K runs K, K+1, ... of the campaign: a campaign cut short is finished by running the rest.
// Runs spread over worker threads (default: one per core). Ends with one JSON line.
import { mkdirSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { seededRng, type Rng } from '../../agent/lib/rng.js'
import { ProgressBar } from '../harness/progress.js'
import { parseScenario } from '../harness/scenario/load.js'
import { runSimulate } from '../harness/simulate/run.js'

export interface ChaosShape { readonly agents: number, readonly durationS: number }

/** The scenario of run `k` of a chaos campaign seeded `seed`, as YAML (what a failure writes out). */
export function chaosScenario (seed: string, k: number, shape: ChaosShape): string {
  const rng = seededRng(`chaos:${seed}:${k}`)
  const council = 5
  const spares = Math.max(4, Math.round(shape.agents * 0.075))
  const nodes = shape.agents - council - spares
  const d = shape.durationS
  const int = (lo: number, hi: number): number => lo + Math.floor(rng.next() * (hi - lo + 1))
  const at = (): string => `${int(3, Math.max(4, d - 25))}s`
  const events: string[] = []
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!
  for (let i = int(1, 4); i > 0; i--) {
    events.push(pick([
      `{at: ${at()}, fault: partition, target: half, for: ${int(2, 25)}s}`,
      `{at: ${at()}, fault: partition, target: "rack:${pick(['a', 'b'])}/${int(0, 2)}", for: ${int(2, 40)}s}`,
      `{at: ${at()}, fault: partition, target: "nodes:${[int(0, nodes - 1), int(0, nodes - 1), int(0, nodes - 1)].filter((x, j, a) => a.indexOf(x) === j).join(',')}", for: ${int(2, 20)}s}`,
      `{at: ${at()}, fault: flap, target: half, period: ${int(2, 8)}s, times: ${int(2, 5)}}`,
    ]))
  }
  for (let i = int(1, 3); i > 0; i--) events.push(pick([`{at: ${at()}, fault: coordinator-kill, down: ${int(0, 20)}s}`, `{at: ${at()}, fault: agent-pause, target: coordinator, for: ${int(1, 6)}s}`]))
  for (let i = int(1, 3); i > 0; i--) {
    const p = pick(['aws', 'gcp'])
    events.push(pick([
      `{at: ${at()}, fault: provider-capacity, provider: ${p}, for: ${int(5, 60)}s}`,
      `{at: ${at()}, fault: provider-quota, provider: ${p}, for: ${int(5, 60)}s}`,
      `{at: ${at()}, fault: provider-rate-limit, provider: ${p}, for: ${int(5, 30)}s}`,
      `{at: ${at()}, fault: provider-latency, provider: ${p}, min: 1s, max: ${int(2, 15)}s, for: ${int(10, 60)}s}`,
      `{at: ${at()}, fault: provider-hang, provider: ${p}, times: ${int(1, 3)}}`,
      `{at: ${at()}, fault: provider-doa, provider: ${p}, rate: 0.${int(1, 5)}, for: ${int(10, 60)}s}`,
    ]))
  }
  for (let i = int(1, 4); i > 0; i--) events.push(`{at: ${at()}, fault: xid, code: 79, target: random}`)
  for (let i = int(0, 2); i > 0; i--) events.push(pick([`{at: ${at()}, fault: agent-crash, target: random, down: ${int(1, 15)}s}`, `{at: ${at()}, fault: host-loss, target: random}`]))
  if (rng.next() < 0.5) events.push(`{at: ${at()}, fault: loss, rate: 0.0${int(1, 5)}, for: ${int(5, 30)}s}`)
  if (rng.next() < 0.3) events.push(`{at: ${at()}, fault: delay, median: ${int(5, 30)}ms, p99: ${int(50, 300)}ms, for: ${int(5, 30)}s}`)
  return `# chaos run ${k} of campaign ${seed}: npm run chaos -- --seed ${seed} replays it
name: chaos-${k}
seed: ${JSON.stringify(`${seed}:${k}`)}
duration: ${d}s
fleet:
  council: ${council}
  spares: ${spares}
  topology: {zones: [a, b], rack_size: 16}
  pool: {name: h100, nodes: ${nodes}, providers: [aws, gcp], max_in_flight: 4}
providers:
  - {name: aws, region: us-east-1, instance_type: p5.48xlarge, doa_rate: 0.0${int(0, 9)}}
  - {name: gcp, region: us-central1, instance_type: a3-highgpu-8g}
failures:
  events:
${events.map((e) => `    - ${e}`).join('\n')}
assertions:
  replacement_within: 90s
`
}

interface RunResult { readonly k: number, readonly ok: boolean, readonly message: string, readonly yaml: string, readonly wallS: number }

function runOne (seed: string, k: number, shape: ChaosShape): RunResult {
  const yaml = chaosScenario(seed, k, shape)
  const t0 = performance.now()
  try {
    const r = runSimulate(parseScenario(yaml, `chaos-${k}.yaml`), { reproduce: `npm run harness -- run test-output/chaos/chaos-${k}.yaml` })
    const v = r.violation
    return { k, ok: v === null, message: v === null ? '' : `${v.invariant} at t=${v.t_ms} ms: ${v.message}`, yaml, wallS: (performance.now() - t0) / 1000 }
  } catch (err) {
    return { k, ok: false, message: `the harness threw: ${(err as Error).stack ?? String(err)}`, yaml, wallS: (performance.now() - t0) / 1000 }
  }
}

if (!isMainThread) {
  const { seed, ks, shape } = workerData as { seed: string, ks: number[], shape: ChaosShape }
  for (const k of ks) parentPort!.postMessage(runOne(seed, k, shape))
} else if (process.argv[1]?.endsWith('chaos.ts') === true) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '100' }, seed: { type: 'string', default: '1' }, first: { type: 'string', default: '0' }, jobs: { type: 'string' }, agents: { type: 'string', default: '200' }, duration: { type: 'string', default: '90' } } })
  const runs = Number(values.runs)
  const first = Number(values.first)
  const jobs = Math.max(1, Math.min(Number(values.jobs ?? availableParallelism()), runs))
  const shape: ChaosShape = { agents: Number(values.agents), durationS: Number(values.duration) }
  if (!Number.isInteger(runs) || runs < 1 || runs > 100_000) throw new Error(`--runs must be 1..100000, got ${values.runs}`)
  if (!Number.isInteger(first) || first < 0 || first > 1_000_000) throw new Error(`--first must be 0..1000000, got ${values.first}`)
  if (!Number.isInteger(shape.agents) || shape.agents < 30 || shape.agents > 2000) throw new Error(`--agents must be 30..2000, got ${values.agents}`)
  if (!(shape.durationS >= 30 && shape.durationS <= 3600)) throw new Error(`--duration must be 30..3600 (seconds), got ${values.duration}`)
  const t0 = performance.now()
  const bar = new ProgressBar(process.stderr, `chaos x${runs}`)
  const failures: RunResult[] = []
  let done = 0
  const summary = (): string => JSON.stringify({ bench: 'chaos', runs: done, violations: failures.length, wall_s: Math.round((performance.now() - t0) / 100) / 10, agents: shape.agents, virtual_s_per_run: shape.durationS, seed: values.seed, jobs, ...(first > 0 ? { first } : {}), ...(done < runs ? { requested: runs, interrupted: true } : {}) })
  // Stopped early (Ctrl-C, a time limit): the runs finished so far still count, and say so.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      bar.done()
      console.log(summary())
      process.exit(130)
    })
  }
  await Promise.all(Array.from({ length: jobs }, async (_, j) => {
    const ks = Array.from({ length: runs }, (_, k) => first + k).filter((k) => k % jobs === j)
    // A worker thread starts without the main thread's TypeScript loader: it registers tsx, then loads this file.
    const boot = `import('tsx/esm/api').then((m) => { m.register(); return import('../../agent/polyfill.ts') }).then(() => import(${JSON.stringify(import.meta.url)}))`
    const w = new Worker(boot.replace('../../agent/polyfill.ts', new URL('../../agent/polyfill.ts', import.meta.url).href), { eval: true, workerData: { seed: values.seed, ks, shape } })
    w.on('message', (r: RunResult) => {
      done++
      bar.update(done, runs, (x) => `${x} runs`)
      if (r.ok) return
      // Written as it comes: a campaign of hours that is cut short keeps what it found.
      failures.push(r)
      const dir = join('test-output', 'chaos')
      mkdirSync(dir, { recursive: true })
      const file = join(dir, `chaos-${r.k}.yaml`)
      writeFileSync(file, r.yaml)
      console.log(`run ${r.k}: ${r.message.split('\n')[0]}\n  scenario: ${file}\n  reproduce: npm run harness -- run ${file}`)
    })
    await new Promise<void>((resolve, reject) => {
      w.on('error', reject)
      w.on('exit', (code) => { code === 0 ? resolve() : reject(new Error(`chaos worker ${j} exited ${code}`)) })
    })
  }))
  bar.done()
  console.log(summary())
}
