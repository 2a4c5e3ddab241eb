// Mesh fidelity: every agent is the real MeshNode on the simulated network (sim/fleet.ts), every
// council agent runs the real Reconciler while it holds the lease (sim/cloud.ts). Nothing about
// membership, gossip or the election is modelled here: it is the agents' own code.
import type { OwnHealth } from '../../../agent/mesh/node.js'
import { CloudSim } from '../sim/cloud.js'
import { converged } from '../sim/scenario.js'
import { DEFAULT_LINK_CONFIG } from '../sim/network.js'
import type { Scenario } from '../scenario/load.js'
import { placeLabels } from '../scenario/profile.js'
import { defaultSpares } from './harness.js'
import type { Seen, World, WorldHooks } from './world.js'

export function meshWorld (s: Scenario, hooks: WorldHooks): World {
  const pool = s.fleet.pool
  const providers = pool.providers ?? s.providers.map((p) => p.name)
  const byName = new Map(s.providers.map((p) => [p.name, p]))
  const median = s.network.latency.median
  const latency = median > 0
    ? { medianMs: median, p99Ms: Math.max(median, s.network.latency.p99), maxMs: Math.max(50, s.network.latency.p99 * 5) }
    : DEFAULT_LINK_CONFIG.latency
  const sim = new CloudSim({
    agents: s.fleet.council + pool.nodes + defaultSpares(s),
    seed: String(s.seed),
    control: s.fleet.council,
    initial: pool.nodes,
    link: { lossRate: s.network.loss, duplicateRate: s.network.duplication, latency },
    clouds: providers.map((name) => {
      const p = byName.get(name)!
      return { name, offerings: [{ region: p.region, instanceType: p.instance_type, capacity: p.capacity }], latencyMs: [p.latency.min, p.latency.max] as const, doaRate: p.doa_rate }
    }),
    pool: {
      name: pool.name, minNodes: pool.min_nodes ?? pool.nodes, maxNodes: pool.max_nodes ?? pool.nodes,
      gpusPerNode: s.fleet.gpus_per_node,
      health: {
        autoReplace: true, breakerFraction: pool.breaker_fraction, maxInFlight: pool.max_in_flight,
        bootDeadlineMs: pool.boot_deadline, maxAttempts: 3, deadReplaceAfterMs: pool.dead_replace_after,
      },
    },
    place: (slot) => placeLabels(s, slot),
    hooks,
  })
  const f = sim.fleet
  let violationsSeen = 0
  let cloudViolationsSeen = 0
  const viewer = (): number | undefined => {
    const acting = f.actingNow()
    return acting.length === 1 ? acting[0] : f.live()[0]
  }
  return {
    sched: f.sched,
    clouds: sim.clouds,
    get events () { return f.sched.processed },
    start: () => { sim.start() },
    ready: () => converged(f) && sim.reconcilers.some((r) => r?.active === true && r.pools.length > 0),
    localNow: (a) => f.localNow(a),
    poolAgents: () => sim.poolAgents(),
    liveAgents: () => f.live(),
    instanceOf: (a) => sim.instanceOf(a),
    isLive: (a) => f.isLive(a),
    kill: (a) => { f.kill(a) },
    restart: (a, h: OwnHealth | undefined) => {
      if (sim.instanceOf(a) === undefined) f.restart(a) // a council agent
      else sim.restart(a)
      if (h !== undefined) sim.setHealth(a, h)
    },
    pause: (a) => { f.pause(a) },
    resume: (a) => { f.resume(a) },
    isPaused: (a) => f.hosts.isAlive(a) && !f.hosts.isUp(a),
    setHealth: (a, h) => { sim.setHealth(a, h) },
    markFaulted: (a) => { sim.markFaulted(a) },
    acting: () => {
      const acting = f.actingNow()
      return acting.length === 1 ? { agent: acting[0]!, term: f.node(acting[0]!).term } : null
    },
    pool: () => sim.acting >= 0 && f.isLive(sim.acting) ? sim.reconcilers[sim.acting]?.pools.find((p) => p.name === pool.name) : undefined,
    seen: (a): Seen => {
      const v = viewer()
      if (v === undefined) return { member: undefined, state: undefined, action: undefined }
      const node = f.node(v)
      const id = f.ids[a]!
      const verdict = node.health(id)?.verdict
      return { member: node.memberState(id), state: verdict?.state, action: verdict?.action }
    },
    liveInstances: () => {
      let n = 0
      for (const xs of sim.liveBySlot().values()) n += xs.length
      return n
    },
    link: {
      setLoss: (rate) => { f.setLoss(rate) },
      setDuplication: (rate) => { f.link.duplicateRate = rate },
      setDelay: (medianMs, p99Ms) => {
        f.link.latency = { medianMs, p99Ms, maxMs: Math.max(50, p99Ms * 5) }
        f.network.refit()
      },
      reset: () => {
        f.setLoss(s.network.loss)
        f.link.duplicateRate = s.network.duplication
        f.link.latency = latency
        f.network.refit()
      },
    },
    partition: (groups) => {
      f.heal()
      if (groups.length > 0) f.partition(groups)
    },
    skew: (a, ms) => { f.skew(a, ms) },
    sameSide: (a, b) => f.hosts.sameSide(a, b),
    drainViolations: () => {
      const out: ReturnType<World['drainViolations']> = f.trace.violations.slice(violationsSeen)
        .map((v) => ({ t: v.t, kind: v.kind === 'two-acting' ? 'one-coordinator' : 'no-crash', detail: `${v.kind}: ${v.detail}` }))
      violationsSeen = f.trace.violations.length
      for (const v of sim.violations.slice(cloudViolationsSeen)) {
        if (v.startsWith('no spare host')) throw new Error(`${s.file}: ${v} (fleet.spares)`)
        if (v.includes('third live instance')) out.push({ t: f.now, kind: 'pool-bounds', detail: v })
      }
      cloudViolationsSeen = sim.violations.length
      return out
    },
  }
}
