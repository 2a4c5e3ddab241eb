// The gossip model: a 1,000-host mesh of degree D..D_hi, flood with first-receipt dedup, loss
// repaired by IHAVE/IWANT at the next heartbeats, partitions (no crossing; upkeep keeps each side
// meshed; repair after a quick heal), kills routed around, the validator's ignore, byte accounting.
import t from 'tap'
import { Scheduler } from '../harness/sim/clock.js'
import { DEFAULT_GOSSIP_CONFIG, Gossip, type GossipConfig } from '../harness/sim/gossip.js'
import { Hosts } from '../harness/sim/hosts.js'
import { Meter, percentile } from '../harness/sim/metrics.js'
import { DEFAULT_LINK_CONFIG, type LinkConfig } from '../harness/sim/network.js'

interface World { s: Scheduler, hosts: Hosts, meter: Meter, g: Gossip, link: LinkConfig }

function world (n: number, link: Partial<LinkConfig> = {}, cfg: Partial<GossipConfig> = {}, seed = 1): World {
  const s = new Scheduler()
  const hosts = new Hosts(n)
  for (let i = 0; i < n; i++) hosts.setUp(i)
  const meter = new Meter(n)
  const l = { ...DEFAULT_LINK_CONFIG, ...link }
  const g = new Gossip({ sched: s, hosts, meter, seed, link: l, config: { ...DEFAULT_GOSSIP_CONFIG, ...cfg } })
  for (let i = 0; i < n; i++) g.join(i)
  g.start()
  return { s, hosts, meter, g, link: l }
}

/** Publishes from `from`; returns each host's receipt time (NaN: never) and delivery count. */
function flood (w: World, from: number, accept: (to: number) => boolean = () => true): { at: Float64Array, count: Uint32Array } {
  const at = new Float64Array(w.hosts.n).fill(NaN)
  const count = new Uint32Array(w.hosts.n)
  const t0 = w.s.now
  w.g.publish(from, 200, 'gossip:health', {
    accept,
    deliver: (to) => { count[to]!++; at[to] = w.s.now - t0 },
  })
  return { at, count }
}

function reached (r: { at: Float64Array }, hosts: readonly number[]): number {
  return hosts.filter((i) => !Number.isNaN(r.at[i]!)).length
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, k) => a + k)

t.test('1,000 hosts: degrees in [D_lo, D_hi], every host gets each message once, in a few hops', async (t) => {
  const w = world(1000)
  w.s.runFor(2000) // the heartbeats prune what the joins overgrafted
  const degrees = range(0, 1000).map((i) => w.g.mesh(i).length)
  const meanDegree = degrees.reduce((a, b) => a + b, 0) / degrees.length
  t.ok(Math.min(...degrees) >= 4 && Math.max(...degrees) <= 12 && meanDegree >= 7, `degrees ${Math.min(...degrees)}..${Math.max(...degrees)}, mean ${meanDegree.toFixed(1)}`)
  let oneSided = 0
  for (let i = 0; i < 1000; i++) for (const j of w.g.mesh(i)) if (!w.g.mesh(j).includes(i)) oneSided++
  t.equal(oneSided, 0, 'mesh links are symmetric')
  const r = flood(w, 17)
  w.s.runFor(5000)
  t.equal(reached(r, range(0, 1000)), 999, 'every host but the publisher')
  t.equal(Math.max(...r.count), 1, 'delivered at most once per host')
  t.ok(Number.isNaN(r.at[17]!), 'not delivered back to the publisher')
  const times = [...r.at].filter((x) => !Number.isNaN(x))
  // LAN hops are ~0.5 ms each; log_8(1000) ≈ 3.3 hops, the slowest path a few more.
  t.ok(percentile(times, 99) < 15, `p99 ${percentile(times, 99).toFixed(2)} ms of virtual time`)
  t.ok(w.g.stats.duplicates > w.g.stats.receipts, 'dedup: most hops carry a copy the host already has')
})

t.test('a validator that ignores stops the flood at that host', async (t) => {
  const w = world(200)
  // Hosts 100..199 ignore: they neither take nor forward it, so only hosts reachable through 0..99 get it.
  const r = flood(w, 0, (to) => to < 100)
  w.s.runFor(5000)
  t.equal(reached(r, range(100, 200)), 0, 'ignored hosts deliver nothing')
  t.ok(reached(r, range(1, 100)) >= 95, 'the accepting half still gets it through its own mesh links')
  t.ok(w.g.stats.ignored >= 1)
})

t.test('loss: IHAVE/IWANT repair at later heartbeats still reaches everyone', async (t) => {
  const cases = [0.01, 0.05, 0.2]
  for (const lossRate of cases) {
    const w = world(1000, { lossRate })
    const r = flood(w, 3)
    w.s.runFor(10_000)
    t.equal(reached(r, range(0, 1000)), 999, `loss ${lossRate}: all reached`)
    t.ok(w.g.stats.lost > 0, `loss ${lossRate}: ${w.g.stats.lost} hops lost, ${w.g.stats.repaired} repaired`)
  }
})

t.test('a partition: nothing crosses, upkeep keeps the small side meshed, a quick heal is repaired', async (t) => {
  const w = world(1000)
  const small = range(0, 400)
  const large = range(400, 1000)
  w.hosts.partition([small])
  w.s.runFor(3000) // upkeep heartbeats
  for (const i of small) {
    const reachable = w.g.mesh(i).filter((j) => j < 400).length
    if (reachable < 4) t.fail(`host ${i} has ${reachable} reachable mesh peers`)
  }
  const r = flood(w, 5)
  w.s.runFor(5000)
  t.equal(reached(r, small), 399, 'the whole small side')
  t.equal(reached(r, large), 0, 'nothing on the other side')
  // Published just before a heal: the cross hops get their IHAVE chance at the next heartbeats.
  const q = flood(w, 5)
  w.s.runFor(500)
  w.hosts.heal()
  w.s.runFor(5000)
  t.equal(reached(q, large), 600, 'repair carried it across after the heal')
})

t.test('hosts that join later graft live peers only; early joiners end up meshed with them', async (t) => {
  const s = new Scheduler()
  const hosts = new Hosts(500)
  const meter = new Meter(500)
  const g = new Gossip({ sched: s, hosts, meter, seed: 3, link: { ...DEFAULT_LINK_CONFIG }, config: DEFAULT_GOSSIP_CONFIG })
  g.start()
  // One host up every 4 ms, as a fleet booting over two seconds.
  for (let i = 0; i < 500; i++) s.at(i * 4, () => { hosts.setUp(i); g.join(i) })
  s.at(1, () => t.same(g.mesh(0), [], 'the first host has nobody to graft'))
  s.runFor(5000)
  for (let i = 0; i < 500; i++) {
    const m = g.mesh(i)
    if (m.length < 4 || m.length > 12) t.fail(`host ${i} has ${m.length} mesh peers`)
  }
  const w: World = { s, hosts, meter, g, link: DEFAULT_LINK_CONFIG }
  const r = flood(w, 0)
  s.runFor(5000)
  t.equal(reached(r, range(0, 500)), 499, 'the first host reaches everyone')
})

t.test('killed hosts are routed around; they receive nothing', async (t) => {
  const w = world(1000)
  const dead = range(0, 1000).filter((i) => i % 10 === 1)
  for (const i of dead) w.hosts.setDown(i)
  const r = flood(w, 0)
  w.s.runFor(5000)
  t.equal(reached(r, dead), 0)
  t.equal(reached(r, range(0, 1000)), 1000 - dead.length - 1, 'every live host')
})

t.test('bytes: each hop counted at both ends with overhead, plus the IHAVE charge per receipt', async (t) => {
  const w = world(50, {}, { ihavePeers: 0 })
  flood(w, 0)
  w.s.runFor(5000)
  const wire = 200 + DEFAULT_GOSSIP_CONFIG.overheadBytes
  const hops = w.g.stats.hops
  const total = (a: Float64Array): number => a.reduce((x, y) => x + y, 0)
  t.equal(total(w.meter.bytesOut), hops * wire, 'out = hops × wire')
  t.equal(total(w.meter.bytesIn), hops * wire, 'in = hops × wire (lossless)')
  t.equal(hops, w.g.stats.receipts + w.g.stats.duplicates + w.g.stats.lost, 'every hop is a first receipt, a duplicate or lost')
  const v = world(50)
  flood(v, 0)
  v.s.runFor(5000)
  const c = DEFAULT_GOSSIP_CONFIG
  const ihave = c.repairWindows * c.ihavePeers * c.messageIdBytes
  t.equal(v.meter.byKind.get('ihave')?.bytes, 50 * ihave, 'one IHAVE charge per host that has the message')
})

t.test('a seed replays the same arrivals; another seed builds another mesh', async (t) => {
  const times = (seed: number): string => {
    const w = world(300, { lossRate: 0.05 }, {}, seed)
    const r = flood(w, 1)
    w.s.runFor(5000)
    return [...r.at].join()
  }
  t.equal(times(9), times(9))
  t.not(times(9), times(10))
})
