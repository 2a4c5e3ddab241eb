// The simulator's clock and event queue: time order, insertion order at equal times (the
// determinism every seeded run rests on), checked against a naive sort; the scheduler's rules.
import t from 'tap'
import { seededRng, pick } from '../../agent/lib/rng.js'
import { EventQueue } from '../harness/sim/queue.js'
import { Scheduler } from '../harness/sim/clock.js'
import { latencySampler, stream } from '../harness/sim/random.js'
import { percentile } from '../harness/sim/metrics.js'

t.test('the heap pops in (time, insertion) order, as a stable sort of the same pushes would', async (t) => {
  const rng = seededRng('queue')
  const q = new EventQueue<number>()
  const ref: Array<{ time: number, id: number }> = []
  const popped: number[] = []
  const expected: number[] = []
  let id = 0
  // Interleaved pushes and pops; few distinct times so ties are common.
  for (let round = 0; round < 20_000; round++) {
    if (rng.next() < 0.6 || q.size === 0) {
      const time = pick(rng, 50) + Math.floor(round / 100)
      q.push(time, id)
      ref.push({ time, id })
      id++
    } else {
      popped.push(q.pop()!)
      ref.sort((a, b) => a.time - b.time || a.id - b.id)
      expected.push(ref.shift()!.id)
    }
  }
  while (q.size > 0) popped.push(q.pop()!)
  ref.sort((a, b) => a.time - b.time || a.id - b.id)
  for (const r of ref) expected.push(r.id)
  t.same(popped, expected)
  t.equal(q.pop(), undefined, 'empty pops undefined')
  t.equal(q.peekTime(), Infinity)
})

t.test('the queue refuses NaN times and stops at its limit', async (t) => {
  const q = new EventQueue<string>(3)
  t.throws(() => q.push(NaN, 'x'), /NaN/)
  q.push(1, 'a'); q.push(1, 'b'); q.push(0, 'c')
  t.throws(() => q.push(2, 'd'), /limit of 3/)
  t.same([q.pop(), q.pop(), q.pop()], ['c', 'a', 'b'])
})

t.test('scheduler: events run at their time, in order, and may schedule more', async (t) => {
  const s = new Scheduler()
  const log: string[] = []
  s.at(10, () => { log.push(`a@${s.now}`); s.after(0, () => log.push(`a2@${s.now}`)) })
  s.at(10, () => log.push(`b@${s.now}`))
  s.at(5, () => log.push(`c@${s.now}`))
  s.runUntil(20)
  t.same(log, ['c@5', 'a@10', 'b@10', 'a2@10'], 'equal times keep insertion order; a child runs after its siblings')
  t.equal(s.now, 20, 'runUntil leaves the clock at its target')
  t.equal(s.processed, 4)
  t.throws(() => s.at(19, () => {}), /past/)
  t.throws(() => s.runUntil(1), /past/)
})

t.test('runUntilTrue stops at the event that made it true, or at the deadline', async (t) => {
  const s = new Scheduler()
  let n = 0
  for (let k = 1; k <= 10; k++) s.at(k * 100, () => { n++ })
  t.equal(s.runUntilTrue(() => n === 3, 10_000), true)
  t.equal(s.now, 300)
  t.equal(s.runUntilTrue(() => n === 99, 650), false)
  t.equal(s.now, 650)
  t.equal(n, 6)
})

t.test('afterEach runs after every event (where the fleet checks its invariants)', async (t) => {
  const s = new Scheduler()
  const seen: number[] = []
  s.afterEach = () => seen.push(s.now)
  s.at(1, () => {}); s.at(2, () => {})
  s.runFor(5)
  t.same(seen, [1, 2])
})

t.test('latency: the lognormal hits its median and p99; streams replay and stay independent', async (t) => {
  const cases = [
    { name: 'LAN', medianMs: 0.3, p99Ms: 2, maxMs: 50 },
    { name: 'cross-zone', medianMs: 1.5, p99Ms: 6, maxMs: 50 },
  ]
  for (const c of cases) {
    const draw = latencySampler(stream(1, `lat/${c.name}`), c)
    const xs = Array.from({ length: 100_000 }, draw)
    t.ok(Math.abs(percentile(xs, 50) / c.medianMs - 1) < 0.03, `${c.name}: median ${percentile(xs, 50)} ≈ ${c.medianMs}`)
    t.ok(Math.abs(percentile(xs, 99) / c.p99Ms - 1) < 0.06, `${c.name}: p99 ${percentile(xs, 99)} ≈ ${c.p99Ms}`)
    t.ok(Math.max(...xs) <= c.maxMs, `${c.name}: clamped at ${c.maxMs}`)
  }
  const a = stream(7, 'x'); const b = stream(7, 'x'); const other = stream(7, 'y')
  const first = [a.next(), a.next(), a.next()]
  other.next(); other.next()
  t.same([b.next(), b.next(), b.next()], first, 'one seed and concern replay the same draws, whatever other streams did')
  t.not(stream(8, 'x').next(), first[0], 'another seed draws otherwise')
  t.equal(latencySampler(stream(1, 'f'), { medianMs: 1, p99Ms: 1, maxMs: 1 })(), 1, 'median = p99 is a fixed delay')
  t.throws(() => latencySampler(stream(1, 'f'), { medianMs: 2, p99Ms: 1, maxMs: 5 }), /median ≤ p99/)
})
