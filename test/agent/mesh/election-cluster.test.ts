// Five Election cores on a modelled network, in virtual time: per-host clocks that drift within
// the configured bound, message delay and loss, partitions, kills and restarts from the persisted
// state. After every event the run checks the safety invariant (never two nodes acting at once,
// never two coordinators in one term); the scenarios check liveness: one coordinator emerges,
// a killed one is replaced within the bound, the minority side of a partition never acts.
import t from 'tap'
import { seededRng, type Rng } from '../../../agent/lib/rng.js'
import {
  DEFAULT_ELECTION_CONFIG, Election, failoverBoundMs, type ElectionEffects, type ElectionState,
} from '../../../agent/mesh/election/election.js'
import type { Body } from '../../../agent/mesh/types.js'

const C = DEFAULT_ELECTION_CONFIG
const IDS = ['n0', 'n1', 'n2', 'n3', 'n4']
/** LAN: one-way 0.1–0.5 ms, so RTT ≤ 1 ms. */
const LAN = { delayMinMs: 0.1, delayMaxMs: 0.5, loss: 0 }

interface Host {
  readonly id: string
  e: Election | undefined
  persisted: ElectionState | null
  /** Local clock = offset + rate × real time; rates differ by at most maxClockDriftRatio. */
  readonly rate: number
  readonly offset: number
  lastLocal: number
  lives: number
}

interface Message { at: number, seq: number, from: string, to: string, via: 'direct' | 'coord', body: Body }

interface Network { delayMinMs: number, delayMaxMs: number, loss: number }

class Cluster {
  now = 0
  readonly hosts = new Map<string, Host>()
  readonly violations: string[] = []
  readonly #rng: Rng
  readonly #queue: Message[] = []
  #seq = 0
  #groups: Map<string, number> | undefined
  net: Network
  readonly #coordinatorOfTerm = new Map<number, string>()
  steps = 0

  constructor (seed: string, net: Network) {
    this.#rng = seededRng(seed)
    this.net = net
    for (const id of IDS) {
      const rate = 1 + (this.#rng.next() - 0.5) * C.maxClockDriftRatio * 0.99
      const offset = Math.floor(this.#rng.next() * 1e9)
      const host: Host = { id, e: undefined, persisted: null, rate, offset, lastLocal: -Infinity, lives: 0 }
      this.hosts.set(id, host)
      this.start(id, id === 'n0')
    }
  }

  local (h: Host): number {
    h.lastLocal = Math.max(h.lastLocal, h.offset + h.rate * this.now)
    return h.lastLocal
  }

  start (id: string, found = false): void {
    const h = this.hosts.get(id)!
    h.lives++
    h.e = new Election(id, { eligible: true, found }, C, h.persisted, seededRng(`${id}-${h.lives}-${this.#rng.next()}`), this.local(h))
  }

  kill (id: string): void {
    this.hosts.get(id)!.e = undefined
  }

  partition (...sides: string[][]): void {
    this.#groups = new Map(sides.flatMap((side, i) => side.map((id) => [id, i] as const)))
  }

  heal (): void { this.#groups = undefined }

  connected (a: string, b: string): boolean {
    return this.#groups === undefined || this.#groups.get(a) === this.#groups.get(b)
  }

  acting (): string[] {
    return [...this.hosts.values()].filter((h) => h.e?.acting(this.local(h)) === true).map((h) => h.id)
  }

  /** Run until `until` (real ms) or until `stop` holds after an event. */
  run (until: number, stop?: () => boolean): boolean {
    for (;;) {
      const next = this.#next()
      if (next === undefined || next.at > until) { this.now = Math.max(this.now, until); return false }
      this.now = Math.max(this.now, next.at)
      next.go()
      this.#check()
      if (++this.steps > 5_000_000) throw new Error('runaway simulation')
      if (stop?.() === true) return true
    }
  }

  #next (): { at: number, go: () => void } | undefined {
    let best: { at: number, go: () => void } | undefined
    for (const h of this.hosts.values()) {
      const e = h.e
      if (e === undefined) continue
      const wake = e.nextWakeAt()
      if (wake === Infinity) continue
      const at = Math.max(this.now, (wake - h.offset) / h.rate)
      if (best === undefined || at < best.at) best = { at, go: () => this.#tick(h, wake) }
    }
    const m = this.#queue[0]
    if (m !== undefined && (best === undefined || m.at <= best.at)) return { at: m.at, go: () => this.#deliver(this.#queue.shift()!) }
    return best
  }

  #tick (h: Host, wake: number): void {
    const e = h.e!
    h.lastLocal = Math.max(this.local(h), wake)
    this.#apply(h, e.tick(h.lastLocal))
    // node.ts hands the acting coordinator the alive, eligible members as council candidates.
    if (h.e === e && e.acting(h.lastLocal)) {
      const alive = IDS.filter((id) => this.hosts.get(id)!.e !== undefined)
      this.#apply(h, e.setCandidates(alive, h.lastLocal))
    }
  }

  #deliver (m: Message): void {
    const h = this.hosts.get(m.to)!
    const e = h.e
    if (e === undefined || !this.connected(m.from, m.to)) return
    const now = this.local(h)
    if (m.via === 'coord') {
      if (m.body.case === 'coordinator') this.#apply(h, e.announce(m.from, m.body.value, now))
    } else {
      this.#apply(h, e.receive(m.from, m.body, now))
    }
  }

  #apply (h: Host, fx: ElectionEffects): void {
    // Persist before anything leaves: the driver's contract.
    if (fx.persist !== undefined) h.persisted = structuredClone(fx.persist)
    for (const s of fx.send) this.#transmit(h.id, s.to, 'direct', s.body)
    for (const p of fx.publish) for (const id of IDS) if (id !== h.id) this.#transmit(h.id, id, 'coord', p.body)
  }

  #transmit (from: string, to: string, via: Message['via'], body: Body): void {
    if (!this.connected(from, to) || this.#rng.next() < this.net.loss) return
    const at = this.now + this.net.delayMinMs + this.#rng.next() * (this.net.delayMaxMs - this.net.delayMinMs)
    const m: Message = { at, seq: this.#seq++, from, to, via, body }
    let i = this.#queue.length
    while (i > 0 && this.#queue[i - 1]!.at > at) i--
    this.#queue.splice(i, 0, m)
  }

  #check (): void {
    const acting = this.acting()
    if (acting.length > 1) this.violations.push(`t=${this.now.toFixed(3)}: ${acting.join(' and ')} acting at once`)
    for (const h of this.hosts.values()) {
      const s = h.e?.status(this.local(h))
      if (s?.role !== 'coordinator') continue
      const known = this.#coordinatorOfTerm.get(s.term)
      if (known === undefined) this.#coordinatorOfTerm.set(s.term, h.id)
      else if (known !== h.id) this.violations.push(`t=${this.now.toFixed(3)}: ${known} and ${h.id} both coordinator in term ${s.term}`)
    }
  }

  statusOf (id: string): ReturnType<Election['status']> | undefined {
    const h = this.hosts.get(id)!
    return h.e?.status(this.local(h))
  }

  pick<T> (items: readonly T[]): T {
    return items[Math.floor(this.#rng.next() * items.length)]!
  }

  chance (): number { return this.#rng.next() }
}

/** Founder plus four joiners, run until the council is five and settled. */
function bootstrap (seed: string, net: Network = LAN): Cluster {
  const c = new Cluster(seed, net)
  c.run(5000)
  return c
}

t.test('bootstrap: the founder coordinates and grows the council to five; everyone agrees', async (t) => {
  for (const seed of ['b1', 'b2', 'b3']) {
    const c = bootstrap(seed)
    t.same(c.violations, [], `${seed}: safe`)
    t.same(c.acting(), ['n0'], `${seed}: exactly one acting`)
    for (const id of IDS) {
      const s = c.statusOf(id)!
      t.same([s.term, s.coordinator, s.council?.epoch, s.council?.members.length], [1, 'n0', 1004, 5], `${seed}: ${id} agrees`)
      t.equal(s.role, id === 'n0' ? 'coordinator' : 'voter')
    }
  }
})

t.test('coordinator killed: another acts within the bound (many seeds, LAN timing)', async (t) => {
  const bound = failoverBoundMs(C, 1)
  const times: number[] = []
  for (let i = 0; i < 60; i++) {
    const c = bootstrap(`kill-${i}`)
    c.run(5000 + c.chance() * C.renewIntervalMs)
    const old = c.acting()
    t.equal(old.length, 1)
    const killedAt = c.now
    c.kill(old[0]!)
    const found = c.run(killedAt + 20_000, () => c.acting().length === 1)
    t.ok(found, `kill-${i}: a new coordinator acts`)
    times.push(c.now - killedAt)
    t.same(c.violations, [], `kill-${i}: safe`)
    // The dead member leaves the council once the new coordinator learns it is gone.
    c.run(c.now + 3000)
    const s = c.statusOf(c.acting()[0]!)!
    t.equal(s.council?.members.length, 4, `kill-${i}: the dead member was removed`)
    t.notOk(s.council?.members.includes(old[0]!))
  }
  times.sort((a, b) => a - b)
  const p99 = times[Math.ceil(times.length * 0.99) - 1]!
  t.ok(times.filter((x) => x > bound).length <= 1, `at most one split vote in 60 kills (bound ${bound} ms, worst ${times.at(-1)!.toFixed(0)} ms)`)
  t.ok(times[Math.floor(times.length / 2)]! <= 2000, `median ${times[Math.floor(times.length / 2)]!.toFixed(0)} ms`)
  t.ok(p99 <= 2 * bound, `p99 ${p99.toFixed(0)} ms`)
  t.ok(times[0]! >= C.electionTimeoutMinMs - C.renewIntervalMs, 'nobody takes over before the promises ran out')
})

t.test('partition 2|3 with the coordinator in the minority: it stops acting, the majority elects, heal converges', async (t) => {
  for (const seed of ['p1', 'p2', 'p3', 'p4']) {
    const c = bootstrap(seed)
    const old = c.acting()[0]!
    const others = IDS.filter((id) => id !== old)
    const minority = [old, others[0]!]
    const majority = others.slice(1)
    const cutAt = c.now
    const termsAtCut = minority.map((id) => c.hosts.get(id)!.e!.raftTerm)
    c.partition(minority, majority)
    let minorityActedLate = false
    let majorityActingAt = -1
    c.run(cutAt + 10_000, () => {
      const acting = c.acting()
      if (c.now >= cutAt + C.leaseMs && acting.some((id) => minority.includes(id))) minorityActedLate = true
      if (majorityActingAt < 0 && acting.some((id) => majority.includes(id))) majorityActingAt = c.now
      return false
    })
    t.notOk(minorityActedLate, `${seed}: the minority never acts once its lease is gone`)
    t.ok(majorityActingAt > 0 && majorityActingAt - cutAt <= failoverBoundMs(C, 1) + C.electionTimeoutMaxMs, `${seed}: the majority side acts after ${(majorityActingAt - cutAt).toFixed(0)} ms`)
    t.equal(c.statusOf(old)?.role === 'coordinator' && c.statusOf(old)?.acting, false, `${seed}: the old coordinator is not acting`)
    t.same(minority.map((id) => c.hosts.get(id)!.e!.raftTerm), termsAtCut, `${seed}: PreVote: 10 s of timeouts did not raise the minority's terms`)
    const majorityTerm = c.statusOf(majority[0]!)!.term
    c.heal()
    c.run(c.now + 5000)
    t.same(c.violations, [], `${seed}: safe`)
    const acting = c.acting()
    t.equal(acting.length, 1, `${seed}: one coordinator after healing`)
    const terms = new Set(IDS.map((id) => c.statusOf(id)!.term))
    t.equal(terms.size, 1, `${seed}: every node on the same term`)
    t.same(new Set(IDS.map((id) => c.statusOf(id)!.coordinator)), new Set(acting), `${seed}: every node follows it`)
    t.equal(c.statusOf(acting[0]!)!.term, majorityTerm, `${seed}: the majority side's coordinator kept its term: the heal cost no election`)
  }
})

t.test('partition 2|3 with the coordinator in the majority: it never stops acting', async (t) => {
  const c = bootstrap('pm')
  const old = c.acting()[0]!
  const others = IDS.filter((id) => id !== old)
  c.partition(others.slice(0, 2), [old, ...others.slice(2)])
  const cutAt = c.now
  let gap = false
  c.run(cutAt + 10_000, () => { if (c.acting().join() !== old) gap = true; return false })
  t.notOk(gap, 'acting throughout')
  t.same(c.violations, [])
})

t.test('chaos: loss, delays, kills, restarts and partitions never give two acting coordinators', async (t) => {
  for (let i = 0; i < 12; i++) {
    const seed = `chaos-${i}`
    const c = bootstrap(seed, { delayMinMs: 0.1, delayMaxMs: 30, loss: 0.1 })
    const end = 60_000
    while (c.now < end) {
      c.run(c.now + 500 + c.chance() * 3000)
      const r = c.chance()
      const dead = IDS.filter((id) => c.hosts.get(id)!.e === undefined)
      const live = IDS.filter((id) => !dead.includes(id))
      if (r < 0.3 && dead.length < 2) c.kill(c.chance() < 0.5 && c.acting().length > 0 ? c.acting()[0]! : c.pick(live))
      else if (r < 0.55 && dead.length > 0) c.start(c.pick(dead))
      else if (r < 0.75) {
        const shuffled = [...IDS].sort(() => c.chance() - 0.5)
        const cut = 1 + Math.floor(c.chance() * 4)
        c.partition(shuffled.slice(0, cut), shuffled.slice(cut))
      } else c.heal()
      // A pause longer than the lease: the paused host's messages and timers wait, its clock does not.
      if (c.chance() < 0.1) c.net = { ...c.net, delayMaxMs: 30 + c.chance() * 1500 }
      else c.net = { ...c.net, delayMaxMs: 30 }
    }
    t.same(c.violations, [], `${seed}: never two acting, never two coordinators in a term`)
    // Liveness once the faults stop.
    c.heal()
    c.net = { delayMinMs: 0.1, delayMaxMs: 5, loss: 0.01 }
    for (const id of IDS) if (c.hosts.get(id)!.e === undefined) c.start(id)
    c.run(c.now + 15_000)
    t.same(c.violations, [], `${seed}: safe while converging`)
    t.equal(c.acting().length, 1, `${seed}: one coordinator once the faults stop`)
    t.equal(new Set(IDS.map((id) => c.statusOf(id)!.term)).size, 1, `${seed}: one term`)
  }
})
