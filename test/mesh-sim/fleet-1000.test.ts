// The 1,000-agent cases on one booted fleet (the boot is most of this file's time):
// (a) a fatal health event reaches every live agent, (b) a killed agent is declared dead by every
// live agent, (c) a killed coordinator is replaced within a bounded virtual time. Throughout: never
// two agents acting at once, no live agent declared dead. Times asserted are virtual.
import t from 'tap'
import {
  bootFleet, declaresDead, fatalHealth, isFatal, liveExcept, runUntil, runUntilWatched, theCoordinator,
} from '../harness/sim/index.js'

const AGENTS = 1000
const f = bootFleet({ agents: AGENTS, seed: 'fleet-1000', link: { lossRate: 0.01 }, known: true, maxBootMs: 30_000 })
/** Agents killed on purpose: a dead declaration about anyone else is false. */
const killed = new Set<number>()

t.test('booted: 1,000 agents, one coordinator every agent names', async (t) => {
  t.equal(f.live().length, AGENTS)
  const c = theCoordinator(f)
  t.equal(f.live().filter((i) => f.node(i).coordinator(f.now).coordinator === f.ids[c]).length, AGENTS)
})

t.test('(a) a fatal health event (unhealthy, replace) reaches every live agent', async (t) => {
  const victim = 417
  const w = f.watch('fatal event', (node) => isFatal(node.health(f.ids[victim]!)))
  f.setHealth(victim, fatalHealth(f.now))
  const took = runUntilWatched(f, w, () => liveExcept(f, victim), 5000)
  t.equal(w.countFor(liveExcept(f, victim)), AGENTS - 1, 'all 999 others hold it')
  t.ok(took <= 1000, `every agent within 1 s of virtual time (${took} ms; the target p99 is 500 ms)`)
})

t.test('(b) a killed agent is declared dead by every live agent', async (t) => {
  const victim = 733
  const w = f.watch('dead', declaresDead(f.ids[victim]!))
  killed.add(victim)
  f.kill(victim)
  const took = runUntilWatched(f, w, () => liveExcept(f, ...killed), 30_000)
  t.equal(w.countFor(liveExcept(f, ...killed)), AGENTS - killed.size, 'every live agent')
  t.ok(took <= 8000, `within 8 s (${took} ms)`)
})

t.test('(c) a killed coordinator is replaced: another agent acts within 3 s', async (t) => {
  const c = theCoordinator(f)
  killed.add(c)
  f.kill(c)
  const took = runUntil(f, 'a new coordinator', () => f.actingNow().length === 1, 10_000, 10)
  const next = theCoordinator(f)
  t.not(next, c)
  t.ok(took <= 3000, `failover in ${took} ms`)
  const named = f.watch('names the new coordinator', (node) => node.coordinator(f.now).coordinator === f.ids[next])
  runUntilWatched(f, named, () => f.live(), 15_000)
  t.pass('every live agent names the new coordinator')
})

t.test('throughout: never two acting at once, no live agent declared dead', async (t) => {
  f.runFor(10_000)
  t.same(f.trace.violations.filter((v) => v.kind === 'two-acting' || v.kind === 'core-error'), [], `seed ${f.seed}`)
  const falseDead = f.trace.events.filter((e) => e.kind === 'dead' && !killed.has(e.node))
  t.same(falseDead.slice(0, 5), [], `${falseDead.length} dead declarations about live agents`)
})
