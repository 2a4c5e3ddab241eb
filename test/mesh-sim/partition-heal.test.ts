// (d), after the heal: the fleet comes back to one picture: every agent names the one coordinator
// (PreVote keeps the cut-off side's terms from rising; a newer council wins over a stale member),
// and every agent is live in every view (a node held dead is told so and refutes). 200 agents.
import t from 'tap'
import type { TapTest } from '../agent/gpu/fixtures/support.js'
import { bootFleet, runUntil, theCoordinator, waitFor, type SimFleet } from '../harness/sim/index.js'

const AGENTS = 200

function councilOf (f: SimFleet, c: number): number[] {
  return f.node(c).coordinator(f.now).council!.members.map((m) => f.indexOf(m))
}

function noTwoActing (t: TapTest, f: SimFleet): void {
  t.same(f.trace.violations.filter((v) => v.kind === 'two-acting' || v.kind === 'core-error'), [], `seed ${f.seed}: never two acting at once`)
}


t.test('after a council split long enough to replace members, every live agent names the coordinator again', async (t) => {
  const f = bootFleet({ agents: AGENTS, seed: 'heal-names', known: true })
  const c = theCoordinator(f)
  const council = councilOf(f, c)
  const partner = council.find((x) => x !== c)!
  const minority = new Set([c, partner])
  for (let i = 0; minority.size < 0.4 * AGENTS; i++) if (!council.includes(i)) minority.add(i)
  f.partition([[...minority]])
  f.runFor(6000) // the majority side elects, and its council replaces the two members it lost
  f.heal()
  runUntil(f, 'exactly one acting coordinator after the heal', () => f.actingNow().length === 1, 30_000, 10)
  const named = waitFor(f, () => {
    const a = f.actingNow()
    return a.length === 1 && f.live().every((i) => f.node(i).coordinator(f.now).coordinator === f.ids[a[0]!])
  }, 20_000)
  noTwoActing(t, f)
  const a = theCoordinator(f)
  const stray = f.live().filter((i) => f.node(i).coordinator(f.now).coordinator !== f.ids[a])
    .map((i) => `agent ${i}${i === c || i === partner ? ' (an old council member)' : ''}: ${f.node(i).coordinator(f.now).role} at term ${f.node(i).term}`)
  t.ok(named, `seed ${f.seed}: every agent names agent ${a} (term ${f.node(a).term}) 20 s after the heal; not: ${stray.join('; ')}`)
})

t.test('after a long partition, membership converges again within 20 s', async (t) => {
  const f = bootFleet({ agents: AGENTS, seed: 'heal-members', known: true })
  const minority = new Set(Array.from({ length: 80 }, (_, i) => i + 100))
  f.partition([[...minority]])
  f.runFor(6000)
  f.heal()
  runUntil(f, 'exactly one acting coordinator after the heal', () => f.actingNow().length === 1, 30_000, 10)
  noTwoActing(t, f)
  const ok = waitFor(f, () => f.live().every((i) => f.node(i).liveCount() === AGENTS), 20_000, 500)
  let missing = 0
  for (const i of f.live()) missing += AGENTS - f.node(i).liveCount()
  t.ok(ok, `seed ${f.seed}: ${missing} (agent, agent) pairs still not live 20 s after the heal`)
})
