// The real-rate failure profile (reference/fleet-failures.md §4) as fault events: each class a
// Poisson process at rate × accel over the pool's nodes, drawn from the seed, so the same scenario
// expands to the same events. Explicit events are merged in; the result is sorted by time.
import { seededRng, type Rng } from '../../../agent/lib/rng.js'
import type { FaultEvent, Target } from './faults.js'
import { racksPerZone, type Scenario } from './load.js'

const NODE_DAY_MS = 86_400_000

/** One line of the profile: per 1,000 node-days at accel 1, and the fault it injects. */
export interface ProfileClass {
  readonly name: string
  readonly per1000NodeDays: number
  readonly make: (at: number, target: Target, rng: Rng) => FaultEvent
}

const one = (n: number): Target => ({ kind: 'nodes', nodes: [n] })
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!

/**
 * §4's table, fatal classes and the non-node ones that must not cause a replacement. The software
 * hang (0.55) is an application XID (13, 31, 43 or 45): the harness checks it replaces nothing.
 * Unplanned maintenance (0.3) is a host reboot: the agent is down for 5 minutes, then back.
 */
export const REALISTIC_PROFILE: readonly ProfileClass[] = [
  { name: 'gpu hard fail (XID 79/119/120/62/143/158)', per1000NodeDays: 1.5, make: (at, target, rng) => ({ at, fault: 'xid', target, count: 1, gpu: undefined, code: pick(rng, [79, 119, 120, 62, 143, 158]) }) },
  { name: 'HBM uncorrectable', per1000NodeDays: 0.65, make: (at, target, rng) => ({ at, fault: pick(rng, ['row-remap-failure', 'ecc-dbe'] as const), target, count: 1, gpu: undefined }) },
  { name: 'GPU SRAM', per1000NodeDays: 0.17, make: (at, target) => ({ at, fault: 'sram', target, count: 1, gpu: undefined }) },
  { name: 'NVLink / NVSwitch (15% cascade)', per1000NodeDays: 0.3, make: (at, target, rng) => ({ at, fault: 'nvlink', target, count: 1, gpu: undefined, cascade: rng.next() < 0.15 }) },
  { name: 'thermal, persistent', per1000NodeDays: 0.05, make: (at, target) => ({ at, fault: 'thermal', target, count: 1, gpu: undefined, for: 30 * 60_000 }) },
  { name: 'PCIe degradation', per1000NodeDays: 0.05, make: (at, target) => ({ at, fault: 'pcie-replay', target, count: 1, gpu: undefined, for: 30 * 60_000 }) },
  { name: 'silent data corruption', per1000NodeDays: 0.05, make: (at, target) => ({ at, fault: 'sdc', target, count: 1, gpu: undefined }) },
  { name: 'host (PSU, SSD, CPU, DIMM, NIC)', per1000NodeDays: 0.2, make: (at, target) => ({ at, fault: 'host-loss', target, count: 1 }) },
  { name: 'software / driver hang (application XID)', per1000NodeDays: 0.55, make: (at, target, rng) => ({ at, fault: 'xid', target, count: 1, gpu: undefined, code: pick(rng, [13, 31, 43, 45]) }) },
  { name: 'unplanned host maintenance (reboot)', per1000NodeDays: 0.3, make: (at, target) => ({ at, fault: 'agent-crash', target, count: 1, down: 5 * 60_000 }) },
]

/** ToR failures: 0.051% of ToR switches per month (Alibaba HPN), each rack cut off for 10 min. */
export const TOR_PER_RACK_DAY = 0.00051 / 30
/** One outage per zone per year, 1–4 h. */
export const ZONE_OUTAGE_PER_ZONE_DAY = 1 / 365

/** Events at a Poisson rate (per ms) in [0, duration), each made by `make`. */
function poisson (rng: Rng, perMs: number, durationMs: number, make: (at: number) => FaultEvent, out: FaultEvent[]): void {
  if (perMs <= 0) return
  let t = 0
  for (;;) {
    t += -Math.log(1 - rng.next()) / perMs
    if (t >= durationMs) return
    out.push(make(Math.floor(t)))
  }
}

/** Every fault of the run, in time order: the profile's (if any) and the file's own. */
export function expandFailures (s: Scenario): FaultEvent[] {
  const out: FaultEvent[] = [...s.failures.events]
  if (s.failures.profile === 'realistic') {
    const nodes = s.fleet.pool.nodes
    const accel = s.failures.accel
    for (const c of REALISTIC_PROFILE) {
      const rng = seededRng(`${s.seed}:profile:${c.name}`)
      poisson(rng, c.per1000NodeDays / 1000 * nodes * accel / NODE_DAY_MS, s.duration, (at) => c.make(at, one(Math.floor(rng.next() * nodes)), rng), out)
    }
    const zones = s.fleet.topology.zones
    const racks = racksPerZone(s)
    const tor = seededRng(`${s.seed}:profile:tor`)
    poisson(tor, TOR_PER_RACK_DAY * zones.length * racks * accel / NODE_DAY_MS, s.duration, (at) =>
      ({ at, fault: 'rack-outage', target: { kind: 'rack', zone: pick(tor, zones), rack: Math.floor(tor.next() * racks) }, cause: 'network', for: 10 * 60_000 }), out)
    const zone = seededRng(`${s.seed}:profile:zone`)
    poisson(zone, ZONE_OUTAGE_PER_ZONE_DAY * zones.length * accel / NODE_DAY_MS, s.duration, (at) =>
      ({ at, fault: 'zone-outage', target: { kind: 'zone', zone: pick(zone, zones) }, for: Math.floor((1 + 3 * zone.next()) * 3_600_000) }), out)
  }
  // Stable: equal times keep file order, then profile order.
  return out.map((e, i) => ({ e, i })).sort((a, b) => a.e.at - b.e.at || a.i - b.i).map((x) => x.e)
}

/** Pool node n's zone and rack (nodes are dealt to zones in turn, then fill racks in order). */
export function placeOf (s: Scenario, n: number): { zone: string, rack: number } {
  const zones = s.fleet.topology.zones
  const j = Math.floor(n / zones.length)
  return { zone: zones[n % zones.length]!, rack: Math.floor(j / s.fleet.topology.rack_size) }
}

/** Pool node n's labels, as every engine gives them to the coordinator: zone "b", rack "b/1". */
export function placeLabels (s: Scenario, n: number): { zone: string, rack: string } {
  const p = placeOf(s, n)
  return { zone: p.zone, rack: `${p.zone}/${p.rack}` }
}

/** The pool nodes a target names (random and coordinator are resolved by the engine at run time). */
export function nodesOf (s: Scenario, t: Target): number[] {
  const n = s.fleet.pool.nodes
  switch (t.kind) {
    case 'nodes': return [...t.nodes]
    case 'zone': return range(n).filter((i) => placeOf(s, i).zone === t.zone)
    case 'rack': return range(n).filter((i) => { const p = placeOf(s, i); return p.zone === t.zone && p.rack === t.rack })
    default: return []
  }
}

function range (n: number): number[] { return Array.from({ length: n }, (_, i) => i) }
