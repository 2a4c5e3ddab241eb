// The simulated half of `npm run bench:mesh`: the real MeshNode cores of a 1,000-agent fleet on the
// simulated drivers (test/harness/sim), in virtual time. Measures, against DESIGN.md §10 and
// reference/mesh.md §6 (LAN latency, 1% background loss by default):
//   propagation: a fatal health event, publish → each live agent holds it (p50/p99 over event × agent), ≤ 500 ms
//   detection:   a killed agent → ≥ 99% of live agents mark it dead (worst of the kills), ≤ 8 s
//   failover:    the acting coordinator killed → another agent acting (worst of the kills), ≤ 3 s
//   bandwidth:   bytes in + out per agent per second over a quiet window, ≤ 50 kbit/s
// Alone: `node --import tsx test/bench/mesh-sim.ts [--agents N] [--seed S] [--loss R] [--boot join]` prints the figures and
// ends with one JSON line. Times are virtual; wall time only says how fast the simulator ran.
import { pathToFileURL } from 'node:url'
import {
  bootFleet, converged, declaresDead, fatalHealth, isFatal, kbitPerHost, liveExcept, percentile, runUntil,
  runUntilWatched, stream, theCoordinator, type SimFleet, type Watch,
} from '../harness/sim/index.js'

export interface SimBenchOptions {
  agents?: number
  seed?: number | string
  /** Background message loss on every hop. Default 0.01 (reference/mesh.md §6 conditions). */
  lossRate?: number
  /** Fatal health events published (one agent each). Default 10. */
  events?: number
  /** Agents killed for the detection figure. Default 5. */
  kills?: number
  /** Coordinator kills for the failover figure. Default 5. */
  failovers?: number
  /** Quiet window for the bandwidth figure. Default 60 s of virtual time. */
  quietMs?: number
  /**
   * 'known' (default): every agent handed the membership at once (startKnown), then elections as
   * usual; 'join': agents boot over 2 s and join through the seed, as a real fleet does (slower).
   */
  boot?: 'known' | 'join'
  log?: (line: string) => void
}

export interface SimBenchResult {
  propagation_p50_ms: number
  propagation_p99_ms: number
  detect_p99_ms: number
  failover_p99_ms: number
  kbit_per_agent: number
}

export interface SimBenchReport extends SimBenchResult {
  agents: number
  seed: string
  propagation_max_ms: number
  detect_p50_ms: number
  detect_observer_p99_ms: number
  failover_p50_ms: number
  kbit_by_kind: Record<string, number>
  two_acting_violations: number
  false_dead_declarations: number
  wire_rejects: Record<string, number>
  virtual_s: number
  wall_s: number
  boot_wall_s: number
}

const SETTLE_MS = 10_000

export async function runSimBench (opts: SimBenchOptions = {}): Promise<SimBenchResult> {
  return await runSimBenchReport(opts)
}

export async function runSimBenchReport (opts: SimBenchOptions = {}): Promise<SimBenchReport> {
  const agents = opts.agents ?? 1000
  const seed = String(opts.seed ?? 1)
  const log = opts.log ?? ((s: string) => { process.stderr.write(`${s}\n`) })
  const wall0 = performance.now()
  const f = bootFleet({ agents, seed, link: { lossRate: opts.lossRate ?? 0.01 }, known: (opts.boot ?? 'known') === 'known', maxBootMs: 120_000 })
  const bootWall = (performance.now() - wall0) / 1000
  log(`sim: ${agents} agents converged at t=${(f.now / 1000).toFixed(1)} s (${bootWall.toFixed(1)} s wall)`)
  f.runFor(SETTLE_MS)
  const rng = stream(seed, 'bench')
  const pickAgent = (avoid: ReadonlySet<number>): number => {
    for (;;) {
      const i = Math.floor(rng.next() * agents)
      if (!avoid.has(i) && f.isLive(i)) return i
    }
  }
  const killed = new Set<number>()

  const bandwidth = measureBandwidth(f, opts.quietMs ?? 60_000)
  log(`sim: bandwidth ${bandwidth.kbit.toFixed(1)} kbit/s per agent (${Object.entries(bandwidth.byKind).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')})`)

  const propagation = measurePropagation(f, opts.events ?? 10, () => pickAgent(new Set([theCoordinator(f), ...killed])))
  log(`sim: fatal event propagation p50 ${propagation.p50.toFixed(1)} ms, p99 ${propagation.p99.toFixed(1)} ms, max ${propagation.max.toFixed(1)} ms over ${propagation.samples} (event × agent)`)

  const detection = measureDetection(f, opts.kills ?? 5, killed, () => pickAgent(new Set([theCoordinator(f), ...killed])))
  log(`sim: dead detection (≥99% of live agents) p50 ${detection.p50.toFixed(0)} ms, worst ${detection.worst.toFixed(0)} ms; per observer p99 ${detection.observerP99.toFixed(0)} ms`)

  const failover = measureFailover(f, opts.failovers ?? 5)
  log(`sim: coordinator failover p50 ${failover.p50.toFixed(0)} ms, worst ${failover.worst.toFixed(0)} ms`)

  const twoActing = f.trace.violations.filter((v) => v.kind === 'two-acting').length
  const falseDead = f.trace.events.filter((e) => e.kind === 'dead' && e.node >= 0 && isFalseDeath(f, e.node, e.t)).length
  const wall = (performance.now() - wall0) / 1000
  log(`sim: ${(f.now / 1000).toFixed(0)} s virtual in ${wall.toFixed(1)} s wall; ${f.sched.processed} events; two-acting violations ${twoActing}; false dead declarations ${falseDead}; wire rejects ${JSON.stringify(Object.fromEntries(f.wireRejects))}`)
  return {
    agents,
    seed,
    propagation_p50_ms: propagation.p50,
    propagation_p99_ms: propagation.p99,
    propagation_max_ms: propagation.max,
    detect_p99_ms: detection.worst,
    detect_p50_ms: detection.p50,
    detect_observer_p99_ms: detection.observerP99,
    failover_p99_ms: failover.worst,
    failover_p50_ms: failover.p50,
    kbit_per_agent: bandwidth.kbit,
    kbit_by_kind: bandwidth.byKind,
    two_acting_violations: twoActing,
    false_dead_declarations: falseDead,
    wire_rejects: Object.fromEntries(f.wireRejects),
    virtual_s: f.now / 1000,
    wall_s: wall,
    boot_wall_s: bootWall,
  }
}

/** When each agent was down (killed, restarted), for telling a true death from a false one. */
const downs = new WeakMap<SimFleet, Array<{ node: number, from: number, to: number }>>()
/** A declaration this soon after a restart is still about the death before it (gossip in flight). */
const STALE_GRACE_MS = 30_000

function recordKill (f: SimFleet, i: number): void {
  let list = downs.get(f)
  if (list === undefined) { list = []; downs.set(f, list) }
  list.push({ node: i, from: f.now, to: Infinity })
  f.kill(i)
}

function recordRestart (f: SimFleet, i: number): void {
  const open = downs.get(f)?.find((d) => d.node === i && d.to === Infinity)
  if (open !== undefined) open.to = f.now
  f.restart(i)
}

/** A dead declaration about an agent that was not down then (nor just back). */
function isFalseDeath (f: SimFleet, node: number, t: number): boolean {
  return !(downs.get(f) ?? []).some((d) => d.node === node && d.from <= t && t <= d.to + STALE_GRACE_MS)
}

function measureBandwidth (f: SimFleet, quietMs: number): { kbit: number, byKind: Record<string, number> } {
  const live = f.live()
  const a = f.meter.snapshot(f.now)
  const kinds0 = new Map([...f.meter.byKind].map(([k, v]) => [k, v.bytes]))
  f.runFor(quietMs)
  const b = f.meter.snapshot(f.now)
  const byKind: Record<string, number> = {}
  // Sent bytes per kind, counted twice (out at the sender, in at the receiver), per agent.
  for (const [k, v] of f.meter.byKind) {
    const bytes = v.bytes - (kinds0.get(k) ?? 0)
    if (bytes > 0) byKind[k] = Math.round(2 * bytes * 8 / 1000 / (quietMs / 1000) / live.length * 10) / 10
  }
  return { kbit: kbitPerHost(a, b, live), byKind }
}

function measurePropagation (f: SimFleet, events: number, pick: () => number): { p50: number, p99: number, max: number, samples: number } {
  const delays: number[] = []
  for (let e = 0; e < events; e++) {
    const victim = pick()
    const id = f.ids[victim]!
    const w = f.watch(`fatal event ${e} from agent ${victim}`, (node) => isFatal(node.health(id)))
    f.setHealth(victim, fatalHealth(f.now, e % 8, `bench-${e}`))
    runUntilWatched(f, w, () => liveExcept(f, victim), 10_000)
    delays.push(...w.delays(liveExcept(f, victim)))
    f.unwatch(w)
    f.runFor(2000)
  }
  return { p50: percentile(delays, 50), p99: percentile(delays, 99), max: Math.max(...delays), samples: delays.length }
}

function measureDetection (f: SimFleet, kills: number, killed: Set<number>, pick: () => number): { p50: number, worst: number, observerP99: number } {
  const watches: Array<{ victim: number, w: Watch }> = []
  for (let k = 0; k < kills; k++) {
    const victim = pick()
    killed.add(victim)
    watches.push({ victim, w: f.watch(`agent ${victim} dead`, declaresDead(f.ids[victim]!)) })
    recordKill(f, victim)
    f.runFor(3000) // staggered: the next kill lands while this one is still being detected
  }
  const observers = (): number[] => f.live()
  runUntil(f, 'every kill detected by every live agent', () => watches.every(({ w }) => w.doneFor(observers())), 60_000, 100)
  const per: number[] = []
  const all: number[] = []
  for (const { w } of watches) {
    const d = w.delays(observers())
    per.push(percentile(d, 99))
    all.push(...d)
    f.unwatch(w)
  }
  return { p50: percentile(per, 50), worst: Math.max(...per), observerP99: percentile(all, 99) }
}

function measureFailover (f: SimFleet, failovers: number): { p50: number, worst: number } {
  const times: number[] = []
  for (let k = 0; k < failovers; k++) {
    runUntil(f, 'a converged fleet before a coordinator kill', () => converged(f), 120_000, 500)
    const c = theCoordinator(f)
    recordKill(f, c)
    times.push(runUntil(f, `a new coordinator after killing agent ${c}`, () => f.actingNow().length === 1, 60_000, 1))
    f.runFor(5000)
    recordRestart(f, c) // the host comes back; the council heals before the next kill
    f.runFor(15_000)
  }
  return { p50: percentile(times, 50), worst: Math.max(...times) }
}

function parseArgs (argv: string[]): SimBenchOptions {
  const o: SimBenchOptions = {}
  for (let k = 0; k < argv.length; k += 2) {
    const v = argv[k + 1]
    switch (argv[k]) {
      case '--agents': o.agents = Number(v); break
      case '--seed': o.seed = v ?? '1'; break
      case '--loss': o.lossRate = Number(v); break
      case '--boot': o.boot = v === 'join' ? 'join' : 'known'; break
      default: throw new Error(`unknown argument ${argv[k]} (use --agents N, --seed S, --loss RATE, --boot known|join)`)
    }
  }
  return o
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const report = await runSimBenchReport({ ...parseArgs(process.argv.slice(2)), log: (s) => { process.stdout.write(`${s}\n`) } })
  const round = (n: number): number => Math.round(n * 10) / 10
  process.stdout.write(`${JSON.stringify({
    bench: 'mesh-sim',
    agents: report.agents,
    seed: report.seed,
    propagation_p50_ms: round(report.propagation_p50_ms),
    propagation_p99_ms: round(report.propagation_p99_ms),
    detect_p99_ms: round(report.detect_p99_ms),
    failover_p99_ms: round(report.failover_p99_ms),
    kbit_per_agent: round(report.kbit_per_agent),
    detect_observer_p99_ms: round(report.detect_observer_p99_ms),
    two_acting_violations: report.two_acting_violations,
    false_dead_declarations: report.false_dead_declarations,
    wall_s: round(report.wall_s),
  })}\n`)
}
