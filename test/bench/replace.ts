// npm run bench:replace: automatic replacement at fleet scale, in the simulator (test/harness/sim/
// cloud.ts: the real Reconciler on the real mesh cores of 1,000 agents, a fake cloud in virtual
// time). Fatal faults (XID 79) land on random nodes while the acting coordinator is killed at
// random (and restarted later, so the council stays whole). Measures, per fault, the virtual time
// from injectFatal to the provision call that replaces that node (issue 5: p50 ≤ 2 s, p99 ≤ 5 s),
// and counts what must never happen: a slot with a third live instance, a healthy node terminated.
// A fault that never got a request is a miss: it counts as +∞ in the percentiles, never dropped.
//
// SHOAL_BENCH_NODES (default 1000), SHOAL_BENCH_FAULTS (100), SHOAL_BENCH_SEED (1). Human figures go
// to stderr; stdout is one JSON line. Times are virtual; wall time only says how fast the simulator ran.
import { percentile, stream } from '../harness/sim/index.js'
import { CloudSim } from '../harness/sim/cloud.js'

const nodes = Number(process.env.SHOAL_BENCH_NODES ?? 1000)
const faultCount = Number(process.env.SHOAL_BENCH_FAULTS ?? 100)
const seed = process.env.SHOAL_BENCH_SEED ?? '1'
const log = (s: string): void => { process.stderr.write(`bench:replace ${s}\n`) }

/** The council: coordinator-eligible agents 0..4 (also the bootstrap seeds 0..2). Faults spare them. */
const ELIGIBLE = 5
/**
 * A fault every 1–3 s, and a new instance's agent up 5 s after launch (a real GPU instance takes
 * minutes: time is compressed to keep the run short; it only sets how long a replacement stays in
 * flight, ~6 s here, so ~3 at once, well under max_in_flight).
 */
const FAULT_GAP_MS: readonly [number, number] = [1_000, 3_000]
const MAX_IN_FLIGHT = 8
const AGENT_BOOT_MS = 5_000
/** A coordinator kill every 25–50 s; its host comes back 10–20 s later (well before a dead node is replaced: 30 s). */
const KILL_GAP_MS: readonly [number, number] = [25_000, 50_000]
const RESTART_AFTER_MS: readonly [number, number] = [10_000, 20_000]
/** After election, before the first fault: the first listing and report are out. */
const WARMUP_MS = 10_000
/** After the last fault: long enough for a request through a failover, then for replacements to finish. */
const TAIL_REQUEST_MS = 30_000
const TAIL_COMPLETE_MS = 30_000
/** A fault slower than this is printed with its circumstances. */
const SLOW_MS = 2_000

interface Fault { t: number, victim: number, slot: number }
interface Kill { t: number, agent: number, restartAt: number }

const wall0 = performance.now()
const spares = faultCount + 16
const AWS = { name: 'aws', offerings: [{ region: 'us-east-1', instanceType: 'p5.48xlarge', capacity: 'unlimited' as const }] }
const s = new CloudSim({
  agents: nodes + spares, initial: nodes, eligible: ELIGIBLE, seed, seeds: 3, clouds: [AWS], agentBootMs: AGENT_BOOT_MS,
  keepEvents: false, pool: { health: { autoReplace: true, breakerFraction: 0.2, maxInFlight: MAX_IN_FLIGHT, bootDeadlineMs: 5 * 60_000, maxAttempts: 3, deadReplaceAfterMs: 30_000 } },
})
const f = s.fleet
log(`fleet: ${nodes} nodes in pool h100 (${ELIGIBLE} coordinator-eligible), ${spares} spare hosts; ${faultCount} faults every ${FAULT_GAP_MS[0] / 1000}–${FAULT_GAP_MS[1] / 1000} s; seed ${seed}; max_in_flight ${MAX_IN_FLIGHT}; agent boot ${AGENT_BOOT_MS / 1000} s; wire ${f.wire.mode}`)
s.start()
if (!f.runUntilTrue(() => s.acting >= 0 && f.node(s.acting).pools !== undefined, 60_000)) throw new Error(`seed ${seed}: no coordinator reported pools within 60 s`)
log(`coordinator agent ${s.acting} acting and reporting at t=${(s.now / 1000).toFixed(1)} s (${((performance.now() - wall0) / 1000).toFixed(1)} s wall)`)
f.runFor(WARMUP_MS)

// ---- the scenario: faults and kills at seeded times --------------------------------------------
const rng = stream(seed, 'bench-replace')
const uniform = ([lo, hi]: readonly [number, number]): number => lo + rng.next() * (hi - lo)
const t0 = s.now
const faults: Fault[] = []
const kills: Kill[] = []
const faulted = new Set<number>()
let tf = t0
for (let k = 0; k < faultCount; k++) {
  tf += uniform(FAULT_GAP_MS)
  f.sched.at(tf, () => {
    // A random pool node: not the council, not already faulted, still up.
    for (;;) {
      const v = ELIGIBLE + Math.floor(rng.next() * (nodes - ELIGIBLE))
      if (faulted.has(v) || !f.isLive(v)) continue
      faulted.add(v)
      faults.push({ t: s.now, victim: v, slot: s.instanceOf(v)!.tags.slot })
      s.injectFatal(v)
      return
    }
  })
}
const lastFault = tf
const killAt = (t: number): void => {
  f.sched.at(t, () => {
    const c = f.coordinator()
    if (c >= 0) {
      const restartAt = s.now + uniform(RESTART_AFTER_MS)
      kills.push({ t: s.now, agent: c, restartAt })
      f.kill(c)
      f.sched.at(restartAt, () => { s.restart(c) })
    }
    const next = s.now + uniform(KILL_GAP_MS)
    if (next < lastFault) killAt(next)
  })
}
killAt(t0 + uniform([5_000, KILL_GAP_MS[1]]))

const requestOf = (v: number): number | undefined => s.requests.find((r) => r.replaces === v)?.t
// What the acting planner reports, sampled every 100 ms: its replacements in flight, and which
// faulted slots it holds back behind max_in_flight ("waiting (N replacements in flight)").
let plannerMaxReplacing = 0
const queued = new Set<number>()
const sample = (): void => {
  const c = s.acting >= 0 && f.isLive(s.acting) ? s.reconcilers[s.acting] : undefined
  const pool = c?.active === true ? c.pools[0] : undefined
  if (pool !== undefined) {
    plannerMaxReplacing = Math.max(plannerMaxReplacing, pool.replacing)
    for (const x of faults) {
      if (queued.has(x.victim) || requestOf(x.victim) !== undefined) continue
      if (pool.slots.find((st) => st.index === x.slot)?.detail.includes('waiting (') === true) queued.add(x.victim)
    }
  }
  f.sched.after(100, sample)
}
sample()
let nextProgress = t0 + 50_000
while (s.now < lastFault) {
  f.runUntil(Math.min(lastFault, nextProgress))
  if (s.now >= nextProgress) {
    log(`  t=${((s.now - t0) / 1000).toFixed(0)} s: ${faults.length} faults, ${kills.length} kills, ${s.requests.length} requests (${((performance.now() - wall0) / 1000).toFixed(0)} s wall)`)
    nextProgress += 50_000
  }
}
f.runUntilTrue(() => faults.every((x) => requestOf(x.victim) !== undefined), TAIL_REQUEST_MS)
const completed = (): number => faults.filter((x) => s.instanceOf(x.victim)!.terminatedMs !== null).length
f.runUntilTrue(() => completed() === faults.length, TAIL_COMPLETE_MS)
const wall = (performance.now() - wall0) / 1000

// ---- figures --------------------------------------------------------------------------------------
const lat = faults.map((x) => { const r = requestOf(x.victim); return r === undefined ? Infinity : r - x.t })
const misses = faults.filter((_, k) => lat[k] === Infinity)
const p = (q: number): number => percentile(lat, q)
const fmt = (ms: number): string => (ms === Infinity ? 'miss' : `${ms.toFixed(0)} ms`)
const termOf = (v: number): number => s.instanceOf(v)!.terminatedMs ?? Infinity
/** Replacements in flight when fault k landed (requested, old instance not yet terminated), and faults ahead of it still waiting. */
const inFlightAt = (t: number): number => faults.filter((x) => { const r = requestOf(x.victim); return r !== undefined && r <= t && t < termOf(x.victim) }).length
const waitingAt = (t: number, k: number): number => faults.slice(0, k).filter((x) => (requestOf(x.victim) ?? Infinity) > t).length
const maxInFlight = Math.max(0, ...s.requests.map((r) => inFlightAt(r.t)))
const ages = s.requests.filter((r) => r.faultAgeMs !== undefined && faulted.has(r.replaces)).map((r) => r.faultAgeMs!)
const durations = faults.map((x) => termOf(x.victim) - (requestOf(x.victim) ?? Infinity)).filter((d) => Number.isFinite(d))
const twoActing = f.trace.violations.filter((v) => v.kind === 'two-acting').length

log(`faults ${faults.length}, coordinator kills ${kills.length} (agents ${kills.map((k) => k.agent).join(', ')}), replacement requests ${s.requests.length}, replacements completed ${completed()} of ${faults.length}`)
log(`fault → replacement request: p50 ${fmt(p(50))}, p90 ${fmt(p(90))}, p99 ${fmt(p(99))}, max ${fmt(p(100))}; misses ${misses.length}`)
log(`  of which the planner's part (fault seen by the acting reconciler → request: settle, queue): p50 ${fmt(percentile(ages, 50))}, p99 ${fmt(percentile(ages, 99))}`)
log(`replacement request → old node terminated: p50 ${fmt(percentile(durations, 50))}, max ${fmt(Math.max(...durations))}`)
log(`replacements in flight at most ${maxInFlight} by the cloud's truth, ${plannerMaxReplacing} as the planner counted (max_in_flight ${MAX_IN_FLIGHT}); faults held back by max_in_flight ${queued.size}`)
log(`duplicate instances ${s.duplicates}; healthy terminated ${s.healthyTerminated}; terminate calls for instances already terminated ${s.repeatTerminations}; two-acting ${twoActing}; violations ${s.violations.length}`)
for (const v of s.violations.slice(0, 10)) log(`  violation: ${v}`)
const slow = faults.map((x, k) => ({ ...x, k, ms: lat[k]! })).filter((x) => x.ms > SLOW_MS).sort((a, b) => b.ms - a.ms)
if (slow.length > 0) log(`slow faults (> ${SLOW_MS} ms): ${slow.length}`)
for (const x of slow.slice(0, 15)) {
  const kill = kills.filter((k) => k.t <= x.t + x.ms).at(-1)
  const since = kill === undefined ? 'no kill before' : `${((x.t - kill.t) / 1000).toFixed(1)} s after killing coordinator ${kill.agent}`
  const r = s.requests.find((q) => q.replaces === x.victim)
  log(`  fault ${x.k} on agent ${x.victim} (slot ${x.slot}) at t=${((x.t - t0) / 1000).toFixed(1)} s: ${fmt(x.ms)}; ${since}; ${inFlightAt(x.t)} in flight, ${waitingAt(x.t, x.k)} waiting ahead${queued.has(x.victim) ? ', held back by max_in_flight' : ''}; ` +
    (r === undefined ? 'never requested' : `requested by agent ${r.by}, ${r.faultAgeMs === undefined ? 'fault age unknown (seen by a predecessor)' : `${r.faultAgeMs.toFixed(0)} ms after its planner saw the fault`}`))
}
for (const m of misses) log(`  MISS: fault on agent ${m.victim} (slot ${m.slot}) at t=${((m.t - t0) / 1000).toFixed(1)} s never got a request`)
log(`pools reports published ${s.reports} (${(s.reports / (s.now / 1000)).toFixed(1)}/s, ${(s.reportBytes / Math.max(1, s.reports) / 1000).toFixed(1)} kB each on average)`)
log(`${((s.now - t0) / 1000).toFixed(0)} s virtual after warm-up (${(s.now / 1000).toFixed(0)} s in all) in ${wall.toFixed(1)} s wall; ${f.sched.processed} events`)

const ms = (n: number): number | null => (n === Infinity || Number.isNaN(n) ? null : Math.round(n))
process.stdout.write(`${JSON.stringify({
  bench: 'replace',
  faults: faults.length,
  fault_to_request_p50_ms: ms(p(50)),
  fault_to_request_p99_ms: ms(p(99)),
  duplicate_instances: s.duplicates,
  healthy_terminated: s.healthyTerminated,
  fault_to_request_p90_ms: ms(p(90)),
  fault_to_request_max_ms: ms(p(100)),
  misses: misses.length,
  nodes,
  seed,
  coordinator_kills: kills.length,
  requests: s.requests.length,
  replacements_completed: completed(),
  max_in_flight_seen: maxInFlight,
  planner_max_replacing: plannerMaxReplacing,
  held_by_max_in_flight: queued.size,
  replacement_p50_ms: ms(percentile(durations, 50)),
  repeat_terminations: s.repeatTerminations,
  pools_reports: s.reports,
  two_acting: twoActing,
  violations: s.violations.length,
  virtual_s: Math.round(s.now / 1000),
  wall_s: Math.round(wall * 10) / 10,
  events: f.sched.processed,
})}\n`)
