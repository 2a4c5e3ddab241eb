// (d) Partitions never yield two acting coordinators (checked after every event), and after the
// heal there is again exactly one. 200 agents: a partition makes every agent learn the other
// side's suspicion and death (N² state changes), which at 1,000 agents costs minutes of CPU.
import t from 'tap'
import type { TapTest } from '../agent/gpu/fixtures/support.js'
import { bootFleet, converged, runUntil, theCoordinator, type SimFleet } from '../harness/sim/index.js'

const AGENTS = 200

function councilOf (f: SimFleet, c: number): number[] {
  return f.node(c).coordinator(f.now).council!.members.map((m) => f.indexOf(m))
}

function noTwoActing (t: TapTest, f: SimFleet): void {
  t.same(f.trace.violations.filter((v) => v.kind === 'two-acting' || v.kind === 'core-error'), [], `seed ${f.seed}: never two acting at once`)
}

/** Partition for `holdMs`, heal, then require exactly one acting coordinator again. */
function splitAndHeal (t: TapTest, f: SimFleet, minority: Set<number>, holdMs: number): { old: number, during: number[], after: number } {
  const old = theCoordinator(f)
  f.partition([[...minority]])
  f.runFor(holdMs)
  const during = f.actingNow()
  t.ok(during.length <= 1, `at most one acting during the partition (${during.join(', ') || 'none'})`)
  f.heal()
  runUntil(f, 'exactly one acting coordinator after the heal', () => f.actingNow().length === 1, 30_000, 10)
  f.runFor(10_000)
  const after = theCoordinator(f)
  noTwoActing(t, f)
  return { old, during, after }
}

t.test('a 40/60 split with the coordinator on the small side', async (t) => {
  const f = bootFleet({ agents: AGENTS, seed: 'split-40-60', known: true })
  const c = theCoordinator(f)
  const minority = new Set([c])
  for (let i = 0; minority.size < 0.4 * AGENTS; i++) minority.add(i)
  const r = splitAndHeal(t, f, minority, 6000)
  t.equal(r.old, c)
  t.pass(`acting during: ${r.during.join(', ') || 'none'}; after the heal: ${r.after}`)
})

t.test('a council split: the coordinator and one voter cut off from three voters', async (t) => {
  const f = bootFleet({ agents: AGENTS, seed: 'council-split', known: true })
  const c = theCoordinator(f)
  const council = councilOf(f, c)
  t.equal(council.length, 5, 'a full council of five')
  const partner = council.find((x) => x !== c)!
  // Most agents stay with the coordinator: the council, not the crowd, decides.
  const minority = new Set(f.live().filter((i) => !council.includes(i) || i === c || i === partner).slice(0, 150))
  minority.add(c); minority.add(partner)
  const t0 = f.now
  f.partition([[...minority]])
  runUntil(f, 'the old coordinator stops acting', () => !f.node(c).acting(f.now), 2000, 1)
  const stopped = f.now - t0
  runUntil(f, 'a coordinator on the council majority side', () => f.actingNow().some((i) => !minority.has(i)), 10_000, 1)
  const elected = f.now - t0
  t.ok(stopped <= 1000, `the cut-off coordinator stopped acting ${stopped} ms after the cut (lease 1 s)`)
  t.ok(elected > stopped && elected <= 3500, `the other side acts ${elected} ms after the cut, after the old one stopped`)
  f.runFor(5000)
  f.heal()
  runUntil(f, 'exactly one acting coordinator after the heal', () => f.actingNow().length === 1, 30_000, 10)
  f.runFor(10_000)
  t.equal(f.actingNow().length, 1)
  noTwoActing(t, f)
})

t.test('a short cut (below the suspicion timeout) heals without anyone declared dead', async (t) => {
  const f = bootFleet({ agents: AGENTS, seed: 'short-cut', known: true })
  const minority = new Set(Array.from({ length: 80 }, (_, i) => i * 2))
  splitAndHeal(t, f, minority, 1500)
  runUntil(f, 'convergence', () => converged(f), 30_000)
  t.same(f.trace.events.filter((e) => e.kind === 'dead').slice(0, 3), [], 'no dead declarations')
})
