// The modelled network for direct messages: latency as configured, loss and duplication at their
// rates, reordering from random latency, partitions and kills dropping (in flight too), a paused
// host holding its messages until it resumes, and the byte accounting at both ends.
import t from 'tap'
import { Scheduler } from '../harness/sim/clock.js'
import { Hosts } from '../harness/sim/hosts.js'
import { Meter, percentile } from '../harness/sim/metrics.js'
import { DEFAULT_LINK_CONFIG, Network, type LinkConfig } from '../harness/sim/network.js'

function world (n: number, link: Partial<LinkConfig> = {}, seed = 1): { s: Scheduler, hosts: Hosts, meter: Meter, net: Network } {
  const s = new Scheduler()
  const hosts = new Hosts(n)
  for (let i = 0; i < n; i++) hosts.setUp(i)
  const meter = new Meter(n)
  const net = new Network({ sched: s, hosts, meter, seed, config: { ...DEFAULT_LINK_CONFIG, ...link } })
  return { s, hosts, meter, net }
}

t.test('delays follow the link: LAN median and p99 plus processing; reordering happens', async (t) => {
  const { s, net } = world(2)
  const delays: number[] = []
  const order: number[] = []
  for (let k = 0; k < 20_000; k++) {
    const sent = s.now
    net.send(0, 1, 50, 'ping', () => { delays.push(s.now - sent); order.push(k) })
    s.runFor(0.05) // a message every 50 µs: faster than the latency spread
  }
  s.runFor(100)
  t.equal(delays.length, 20_000, 'lossless: everything arrives')
  const p = DEFAULT_LINK_CONFIG.processingMs
  t.ok(Math.abs(percentile(delays, 50) - (0.3 + p)) < 0.02, `median ${percentile(delays, 50)}`)
  t.ok(Math.abs(percentile(delays, 99) - (2 + p)) < 0.15, `p99 ${percentile(delays, 99)}`)
  let inversions = 0
  for (let k = 1; k < order.length; k++) if (order[k]! < order[k - 1]!) inversions++
  t.ok(inversions > 100, `messages overtake each other (${inversions} inversions)`)
})

t.test('loss and duplication at their rates', async (t) => {
  const cases = [
    { lossRate: 0.01, duplicateRate: 0 },
    { lossRate: 0.05, duplicateRate: 0 },
    { lossRate: 0, duplicateRate: 0.02 },
  ]
  for (const c of cases) {
    const { s, net } = world(2, c)
    let got = 0
    const N = 50_000
    for (let k = 0; k < N; k++) net.send(0, 1, 10, 'x', () => { got++ })
    s.runFor(1000)
    const expected = N * (1 - c.lossRate) * (1 + c.duplicateRate)
    t.ok(Math.abs(got / expected - 1) < 0.01, `loss ${c.lossRate}, dup ${c.duplicateRate}: ${got} arrivals, ≈${expected} expected`)
    t.equal(net.stats.lost + net.stats.delivered - net.stats.duplicated, N, 'every message counted once as lost or delivered')
  }
})

t.test('partitions drop across sides, also in flight; heal restores', async (t) => {
  const { s, hosts, net } = world(4, { latency: { medianMs: 5, p99Ms: 5, maxMs: 5 } })
  const got: string[] = []
  net.send(0, 2, 10, 'x', () => got.push('in-flight 0→2'))
  hosts.partition([[0, 1], [2, 3]])
  net.send(0, 1, 10, 'x', () => got.push('0→1 same side'))
  net.send(0, 3, 10, 'x', () => got.push('0→3 across'))
  s.runFor(10)
  t.same(got, ['0→1 same side'], 'only the same side arrives; the in-flight message met the partition')
  t.equal(net.stats.cut, 2)
  hosts.heal()
  net.send(0, 3, 10, 'x', () => got.push('0→3 healed'))
  s.runFor(10)
  t.same(got, ['0→1 same side', '0→3 healed'])
  t.throws(() => hosts.partition([[0], [0, 1]]), /twice/)
  t.throws(() => hosts.partition([[9]]), /not in 0..3/)
})

t.test('a killed host receives nothing, in flight included; a paused one gets it all, in order, on resume', async (t) => {
  const { s, hosts, net } = world(3, { latency: { medianMs: 1, p99Ms: 1, maxMs: 1 } })
  const got: string[] = []
  net.send(0, 1, 10, 'x', () => got.push('to-killed'))
  hosts.setDown(1)
  s.runFor(5)
  t.same(got, [], 'dropped on arrival at a down host')
  hosts.pause(2)
  for (const m of ['a', 'b', 'c']) net.send(0, 2, 10, 'x', () => got.push(m))
  s.runFor(50)
  t.same(got, [], 'held while paused')
  for (const fn of hosts.resume(2)) fn()
  t.same(got, ['a', 'b', 'c'])
  t.throws(() => hosts.resume(2), /not paused/)
  const small = new Hosts(1, { heldMax: 2 })
  small.setUp(0); small.pause(0)
  for (let k = 0; k < 5; k++) small.deliver(0, () => {})
  t.equal(small.heldDropped, 3, 'a paused host buffers up to its limit')
})

t.test('bytes: out at the sender (with overhead) for every send, in at the receiver per arrival', async (t) => {
  const { s, hosts, meter, net } = world(3, {})
  net.send(0, 1, 100, 'ping', () => {})
  hosts.partition([[2]])
  net.send(0, 2, 100, 'ping', () => {})
  s.runFor(100)
  const wire = 100 + DEFAULT_LINK_CONFIG.directOverheadBytes
  t.equal(meter.bytesOut[0], 2 * wire, 'both sends left host 0')
  t.equal(meter.bytesIn[1], wire)
  t.equal(meter.bytesIn[2], 0, 'the cut one never arrived')
  t.same(meter.byKind.get('ping'), { msgs: 2, bytes: 2 * wire })
  t.throws(() => net.send(1, 1, 10, 'x', () => {}), /itself/)
})

t.test('a seed replays: same draws, same arrival times', async (t) => {
  const run = (seed: number): number[] => {
    const { s, net } = world(2, { lossRate: 0.1 }, seed)
    const times: number[] = []
    for (let k = 0; k < 100; k++) net.send(0, 1, 10, 'x', () => times.push(s.now))
    s.runFor(100)
    return times
  }
  t.same(run(5), run(5))
  t.not(run(5).join(), run(6).join())
})
