// SimFleet on a small fleet in 'copy' mode (every message encoded, gated and decoded as on a real
// host): convergence, determinism, restarts from the persisted store, a paused coordinator, the
// command path, clock offsets, and the safety invariant checked after every event throughout.
import t from 'tap'
import { CommandKind, CommandStatus } from '../../proto/gen/shoal_pb.js'
import type { TapTest } from '../agent/gpu/fixtures/support.js'
import {
  SimFleet, bootFleet, converged, declaresDead, fatalHealth, isFatal, liveExcept, runUntil, runUntilWatched, theCoordinator,
} from '../harness/sim/index.js'

const AGENTS = 40

function safety (t: TapTest, f: SimFleet): void {
  t.same(f.trace.violations.filter((v) => v.kind !== 'wire-reject'), [], `seed ${f.seed}: no two agents ever acting at once, no core errors`)
}

t.test('a fleet boots, converges on one coordinator, and every agent names it', async (t) => {
  const f = bootFleet({ agents: AGENTS, seed: 'small-1' })
  t.equal(f.wire.mode, 'copy')
  t.ok(converged(f))
  const c = theCoordinator(f)
  t.equal(f.live().filter((i) => f.node(i).coordinator(f.now).coordinator === f.ids[c]).length, AGENTS, 'every agent names it')
  t.equal(f.trace.acting.filter((a) => a.to === Infinity).length, 1, 'one open acting interval')
  safety(t, f)
})

t.test('one seed replays the run event for event; another seed does not', async (t) => {
  const run = (seed: string): string => {
    const f = new SimFleet({ agents: 25, seed, link: { lossRate: 0.02 } })
    f.start()
    f.runFor(6000)
    f.kill(4)
    f.setHealth(9, fatalHealth(f.now))
    f.runFor(8000)
    return `${f.trace.digest}/${f.sched.processed}/${f.inputs}`
  }
  const a = run('replay')
  t.equal(run('replay'), a, `same seed, same digest (${a})`)
  t.not(run('replay-2'), a)
})

t.test('a killed agent restarts from its store: a higher incarnation, alive again everywhere', async (t) => {
  const f = bootFleet({ agents: AGENTS, seed: 'small-restart' })
  const k = 11
  const before = f.node(k).incarnation
  f.kill(k)
  const dead = f.watch('dead', declaresDead(f.ids[k]!))
  runUntilWatched(f, dead, () => liveExcept(f, k), 30_000)
  t.ok(f.stored(k)!.incarnation >= before, 'the store kept the incarnation')
  f.restart(k)
  t.ok(f.node(k).incarnation > before, `new life: incarnation ${f.node(k).incarnation} > ${before}`)
  const back = f.watch('alive again', (node) => node.memberState(f.ids[k]!) === 'alive')
  runUntilWatched(f, back, () => f.live(), 60_000)
  runUntil(f, 'convergence after the restart', () => converged(f), 60_000)
  safety(t, f)
})

t.test('a paused coordinator stops acting before anyone else starts; after resume there is one', async (t) => {
  const f = bootFleet({ agents: AGENTS, seed: 'small-pause' })
  const c = theCoordinator(f)
  f.pause(c)
  runUntil(f, 'another agent acting', () => f.actingNow().some((i) => i !== c), 10_000, 10)
  const next = f.actingNow().filter((i) => i !== c)
  t.equal(next.length, 1, 'one new coordinator')
  t.notOk(f.node(c).acting(f.now), 'the paused one no longer counts as acting (its lease ran out)')
  f.runFor(5000)
  f.resume(c)
  runUntil(f, 'convergence after resume', () => converged(f), 30_000)
  safety(t, f)
})

t.test('an operator cordon travels asker → coordinator → target → back, applied once', async (t) => {
  const f = bootFleet({ agents: AGENTS, seed: 'small-cmd' })
  const c = theCoordinator(f)
  const asker = c === 3 ? 4 : 3
  const target = c === 9 ? 10 : 9
  f.request(asker, 'req-1', { kind: CommandKind.CORDON, target, reason: 'test' })
  runUntil(f, 'the answer', () => f.results.some((r) => r.requestId === 'req-1'), 10_000, 10)
  const r = f.results.find((x) => x.requestId === 'req-1')!
  t.equal(r.at, asker)
  t.equal(r.result.errorCode, '', `no error (${r.result.message})`)
  t.equal(r.result.ack?.status, CommandStatus.APPLIED)
  t.equal(r.result.coordinator, f.ids[c])
  t.ok(f.node(target).cordoned, 'the target applied it')
  t.ok(f.stored(target)!.acks.has(r.result.ack!.id), 'its ack was persisted')
  const seen = f.watch('cordoned', (node) => node.health(f.ids[target]!)?.cordoned === true)
  f.setHealth(target, fatalHealth(f.now)) // a health update carries the cordon to everyone
  runUntilWatched(f, seen, () => liveExcept(f, target), 5000)
  safety(t, f)
})

t.test('clock offsets of up to ±2 s change nothing: leases compare elapsed times only', async (t) => {
  const f = new SimFleet({ agents: AGENTS, seed: 'small-skew', earlyPublish: 'hold' })
  for (let i = 0; i < AGENTS; i++) f.skew(i, ((i * 7919) % 4001) - 2000)
  f.start()
  runUntil(f, 'convergence with skewed clocks', () => f.live().length === AGENTS && converged(f), 30_000)
  const c = theCoordinator(f)
  f.kill(c)
  runUntil(f, 'failover with skewed clocks', () => f.actingNow().length === 1, 10_000, 10)
  const fatal = f.watch('fatal', (node) => isFatal(node.health(f.ids[1]!)))
  f.setHealth(1, fatalHealth(f.localNow(1)))
  runUntilWatched(f, fatal, () => liveExcept(f, 1), 5000)
  safety(t, f)
})

t.test('every message the cores emit passes the agent\'s own gate (validateMessage)', async (t) => {
  const f = bootFleet({ agents: AGENTS, seed: 'small-gate', link: { lossRate: 0.05 } })
  f.kill(5)
  f.pause(6)
  f.runFor(8000)
  f.resume(6)
  f.restart(5)
  f.runFor(20_000)
  t.same(Object.fromEntries(f.wireRejects), {}, `seed ${f.seed}: no message refused`)
})
