// The gossip model for `publish` (gossipsub, reduced to what decides delivery time and bytes):
//
// - Mesh: a host that joins grafts random live, reachable hosts until it has `degree` (D) mesh
//   peers; grafts are accepted, and a host above `degreeHigh` (D_hi) prunes back to D at its
//   heartbeat; links are symmetric. A host that first receives a message forwards it to its mesh
//   peers except the one it came from and the publisher; later copies are dropped (dedup by
//   message id) but their bytes are counted, as they are on a real wire.
// - Flood publish: the publisher sends to every connected peer, mesh or not (seeds included, which
//   is how a bootstrap seed reaches hundreds of peers directly).
// - Each hop is a LinkDraws hop (latency, loss, partition) plus `signatureMs` of processing.
// - IHAVE/IWANT repair: a hop lost to loss or a partition gets another chance at the sender's next
//   heartbeat (each host's heartbeat has its own phase), for `repairWindows` heartbeats after the
//   sender received the message (mcache_gossip): IHAVE to the peer, IWANT back, the message; three
//   one-way legs, each of which may be lost again.
// - IHAVE cost: gossipsub advertises each message id to D_lazy peers in each of the next
//   mcache_gossip heartbeats. Rather than simulate those packets, each first receipt adds that many
//   id advertisements to the host's bytes out and, by symmetry, to its bytes in.
// - A host that goes down is dropped from its peers' meshes and connections at once (its TCP
//   connections close); it joins again, with new grafts, when it comes back.
// - Mesh upkeep: once per heartbeat a host with fewer than D_lo reachable mesh peers grafts
//   reachable hosts (as if dialled from its membership view) until it has D. A partition prunes
//   nothing, so a healed partition finds the old mesh intact.
// Not modelled: peer scoring, IDONTWANT, per-topic meshes (one mesh serves the three topics),
// GRAFT/PRUNE bytes, connection keep-alives.
import { assert } from '../../../agent/lib/assert.js'
import type { Rng } from '../../../agent/lib/rng.js'
import { pick } from '../../../agent/lib/rng.js'
import type { Scheduler } from './clock.js'
import type { Hosts } from './hosts.js'
import type { Meter } from './metrics.js'
import { LinkDraws, type LinkConfig } from './network.js'
import { stream } from './random.js'

export interface GossipConfig {
  /** D: mesh peers each host aims for. Default 8 (gossipsub hardening configs; JS default is 6). */
  degree: number
  /** D_lo: below this many reachable mesh peers a host grafts more at its heartbeat. Default 4. */
  degreeLow: number
  /** D_hi: a host with more mesh peers prunes down to D at its heartbeat. Default 12. */
  degreeHigh: number
  /** Gossipsub heartbeat. Default 1 s (the spec's and js-libp2p's). */
  heartbeatMs: number
  /** mcache_gossip: heartbeats a message id is advertised (and repairable) after receipt. Default 3. */
  repairWindows: number
  /** D_lazy: peers each IHAVE round goes to. Default 6. 0 turns the IHAVE byte charge off. */
  ihavePeers: number
  /** Bytes of one message id in an IHAVE or IWANT: from (38) + seqno (8) + framing. Default 48. */
  messageIdBytes: number
  /**
   * Bytes added to each gossip hop: the RPC frame and StrictSign's signature (64), key-less
   * `from` (38) and seqno (8), less shared framing. Default 100.
   */
  overheadBytes: number
  /** Receiver-side signature check, on top of the link's processing. Default 0.1 ms (ed25519 verify). */
  signatureMs: number
}

export const DEFAULT_GOSSIP_CONFIG: GossipConfig = {
  degree: 8,
  degreeLow: 4,
  degreeHigh: 12,
  heartbeatMs: 1000,
  repairWindows: 3,
  ihavePeers: 6,
  messageIdBytes: 48,
  overheadBytes: 100,
  signatureMs: 0.1,
}

export function checkGossipConfig (c: GossipConfig): void {
  assert(c.degreeLow >= 1 && c.degreeLow <= c.degree && c.degree <= c.degreeHigh,
    `gossip degrees must satisfy 1 ≤ D_lo ≤ D ≤ D_hi (got ${c.degreeLow}, ${c.degree}, ${c.degreeHigh})`)
  assert(c.heartbeatMs > 0 && c.repairWindows >= 0 && c.ihavePeers >= 0, 'gossip heartbeat, windows and peers must be positive')
}

/** One published message in flight. Dropped (garbage) once no event refers to it. */
interface Flood {
  readonly from: number
  readonly wire: number
  readonly kind: string
  /** Earliest arrival scheduled per host (receipt time once received); Infinity: none yet. */
  readonly arrive: Float64Array
  readonly have: Uint8Array
  readonly on: FloodHandlers
}

/** What a host does with a message on its first receipt. */
export interface FloodHandlers {
  /** gossipsub's topic validator: false = ignore (neither delivered nor forwarded). */
  accept: (to: number) => boolean
  deliver: (to: number) => void
}

export interface GossipStats {
  published: number
  /** Hops sent (first copies and duplicates). */
  hops: number
  /** First receipts, the publisher excluded. */
  receipts: number
  duplicates: number
  lost: number
  repaired: number
  grafts: number
  prunes: number
  /** First receipts the validator ignored (stale): not forwarded. */
  ignored: number
}

export class Gossip {
  readonly config: GossipConfig
  readonly stats: GossipStats = { published: 0, hops: 0, receipts: 0, duplicates: 0, lost: 0, repaired: 0, grafts: 0, prunes: 0, ignored: 0 }
  readonly #n: number
  readonly #sched: Scheduler
  readonly #hosts: Hosts
  readonly #meter: Meter
  readonly #draws: LinkDraws
  readonly #rng: Rng
  readonly #mesh: number[][]
  /** Connected peers outside the mesh (seeds and those who dialled a seed): flood publish only. */
  readonly #extra: number[][]
  readonly #phase: Float64Array
  /** Hosts that ever joined, where grafts look for peers (down ones are skipped when drawn). */
  readonly #joined: number[] = []
  readonly #isJoined: Uint8Array
  readonly #ihaveBytes: number
  #started = false

  constructor (o: { sched: Scheduler, hosts: Hosts, meter: Meter, seed: number | string, link: LinkConfig, config: GossipConfig }) {
    checkGossipConfig(o.config)
    this.config = o.config
    this.#n = o.hosts.n
    this.#sched = o.sched
    this.#hosts = o.hosts
    this.#meter = o.meter
    this.#draws = new LinkDraws(o.seed, 'gossip', o.link)
    this.#rng = stream(o.seed, 'overlay')
    this.#mesh = Array.from({ length: this.#n }, () => [])
    this.#extra = Array.from({ length: this.#n }, () => [])
    this.#phase = new Float64Array(this.#n)
    for (let i = 0; i < this.#n; i++) this.#phase[i] = this.#rng.next() * o.config.heartbeatMs
    this.#ihaveBytes = o.config.repairWindows * o.config.ihavePeers * o.config.messageIdBytes
    this.#isJoined = new Uint8Array(this.#n)
  }

  /**
   * Host i came up and subscribed: it grafts live reachable hosts up to D at once (js-libp2p
   * grafts on subscribe) and is itself a graft candidate from now on.
   */
  join (i: number): void {
    if (this.#isJoined[i] === 0) {
      this.#isJoined[i] = 1
      this.#joined.push(i)
    }
    this.#graftUpTo(i, this.config.degree, (j) => this.#reachable(i, j))
  }

  /** Host i went down: its connections close, so every peer drops it from mesh and connections. */
  leave (i: number): void {
    for (const j of this.#mesh[i]!) removeFrom(this.#mesh[j]!, i)
    for (const j of this.#extra[i]!) removeFrom(this.#extra[j]!, i)
    this.#mesh[i]!.length = 0
    this.#extra[i]!.length = 0
  }

  #reachable (i: number, j: number): boolean { return this.#hosts.isUp(j) && this.#hosts.sameSide(i, j) }

  refit (): void { this.#draws.refit() }

  mesh (i: number): readonly number[] { return this.#mesh[i]! }
  connections (i: number): readonly number[] { return this.#extra[i]! }

  /** A transport connection outside the mesh (a bootstrap seed): flood publish reaches it. */
  connect (a: number, b: number): void {
    assert(a !== b, `host ${a} connects to itself`)
    if (!this.#mesh[a]!.includes(b) && !this.#extra[a]!.includes(b)) {
      this.#extra[a]!.push(b)
      this.#extra[b]!.push(a)
    }
  }

  /** That connection closed. */
  disconnect (a: number, b: number): void {
    removeFrom(this.#extra[a]!, b)
    removeFrom(this.#extra[b]!, a)
  }

  /** Starts the heartbeat that keeps every host's mesh above D_lo. */
  start (): void {
    if (this.#started) return
    this.#started = true
    const beat = (): void => {
      this.#upkeep()
      this.#sched.after(this.config.heartbeatMs, beat)
    }
    this.#sched.after(this.config.heartbeatMs, beat)
  }

  /**
   * Publishes a message of `bytes` (envelope included, transport overhead not) from `from`;
   * `on.accept(to)`, then `on.deliver(to)` when accepted, run once at each host on its first receipt.
   */
  publish (from: number, bytes: number, kind: string, on: FloodHandlers): void {
    const f: Flood = {
      from,
      wire: bytes + this.config.overheadBytes,
      kind,
      arrive: new Float64Array(this.#n).fill(Infinity),
      have: new Uint8Array(this.#n),
      on,
    }
    this.stats.published++
    f.arrive[from] = this.#sched.now
    f.have[from] = 1
    this.#chargeIhave(from)
    for (const to of this.#mesh[from]!) this.#hop(f, from, to)
    for (const to of this.#extra[from]!) this.#hop(f, from, to)
  }

  #chargeIhave (i: number): void {
    if (this.#ihaveBytes === 0) return
    this.#meter.out(i, this.#ihaveBytes, 'ihave')
    this.#meter.in(i, this.#ihaveBytes)
  }

  #hop (f: Flood, at: number, to: number): void {
    if (!this.#hosts.isAlive(to)) return // the connection is gone: gossipsub sends nothing
    this.stats.hops++
    this.#meter.out(at, f.wire, f.kind)
    if (!this.#hosts.sameSide(at, to) || this.#draws.lost()) {
      this.stats.lost++
      this.#scheduleRepair(f, at, to)
      return
    }
    this.#meter.in(to, f.wire)
    this.#arrive(f, at, to, this.#sched.now + this.#draws.delay(this.config.signatureMs))
  }

  /** Schedules the arrival unless an earlier one is already on its way (then it is a duplicate). */
  #arrive (f: Flood, at: number, to: number, t: number): void {
    if (t >= f.arrive[to]!) { this.stats.duplicates++; return }
    f.arrive[to] = t
    this.#sched.at(t, () => {
      if (f.arrive[to] !== t) { this.stats.duplicates++; return } // overtaken by a faster copy
      if (!this.#hosts.passes(at, to)) {
        f.arrive[to] = Infinity
        this.#scheduleRepair(f, at, to)
        return
      }
      this.#hosts.deliver(to, () => { this.#receive(f, at, to) })
    })
  }

  #receive (f: Flood, at: number, to: number): void {
    if (f.have[to] === 1) { this.stats.duplicates++; return }
    f.have[to] = 1
    f.arrive[to] = this.#sched.now
    this.stats.receipts++
    if (!f.on.accept(to)) { this.stats.ignored++; return }
    this.#chargeIhave(to)
    for (const next of this.#mesh[to]!) {
      if (next !== at && next !== f.from) this.#hop(f, to, next)
    }
    f.on.deliver(to)
  }

  #nextHeartbeat (i: number): number {
    const hb = this.config.heartbeatMs
    const phase = this.#phase[i]!
    const now = this.#sched.now
    return phase + (Math.floor((now - phase) / hb) + 1) * hb
  }

  #scheduleRepair (f: Flood, at: number, to: number): void {
    const t = this.#nextHeartbeat(at)
    if (t > f.arrive[at]! + this.config.repairWindows * this.config.heartbeatMs) return
    this.#sched.at(t, () => { this.#repair(f, at, to) })
  }

  /** IHAVE at -> to, IWANT to -> at, the message at -> to; any leg may be lost. */
  #repair (f: Flood, at: number, to: number): void {
    if (!this.#hosts.isUp(at) || !this.#hosts.isAlive(to)) return
    if (f.have[to] === 1 || f.arrive[to]! <= this.#sched.now) return
    const id = this.config.messageIdBytes
    const legs = this.#draws.delay() + this.#draws.delay() + this.#draws.delay(this.config.signatureMs)
    const lost = !this.#hosts.sameSide(at, to) || this.#draws.lost() || this.#draws.lost() || this.#draws.lost()
    if (lost) { this.#scheduleRepair(f, at, to); return }
    this.stats.repaired++
    this.#meter.out(to, id, 'iwant')
    this.#meter.in(at, id)
    this.#meter.out(at, f.wire, f.kind)
    this.#meter.in(to, f.wire)
    this.#arrive(f, at, to, this.#sched.now + legs)
  }

  /** Adds random mesh peers to `i` (accepted by `ok`) until it has `want` that pass `ok`. */
  #graftUpTo (i: number, want: number, ok: (j: number) => boolean): void {
    const mesh = this.#mesh[i]!
    let have = 0
    for (const j of mesh) if (ok(j)) have++
    const pool = this.#joined
    for (let tries = 0; have < want && tries < 20 * want && pool.length > 1; tries++) {
      const j = pool[pick(this.#rng, pool.length)]!
      if (j === i || !ok(j) || mesh.includes(j)) continue
      mesh.push(j)
      this.#mesh[j]!.push(i)
      have++
      this.stats.grafts++
    }
  }

  /** gossipsub's heartbeat: prune a mesh above D_hi down to D (unreachable peers first), graft below D_lo. */
  #upkeep (): void {
    const c = this.config
    for (let i = 0; i < this.#n; i++) {
      if (!this.#hosts.isUp(i) || this.#isJoined[i] === 0) continue
      const mesh = this.#mesh[i]!
      if (mesh.length > c.degreeHigh) this.#prune(i, mesh.length - c.degree)
      let have = 0
      for (const j of mesh) if (this.#reachable(i, j)) have++
      if (have < c.degreeLow) this.#graftUpTo(i, c.degree, (j) => this.#reachable(i, j))
    }
  }

  #prune (i: number, count: number): void {
    const mesh = this.#mesh[i]!
    for (let k = 0; k < count; k++) {
      let victim = mesh.find((j) => !this.#reachable(i, j))
      victim ??= mesh[pick(this.#rng, mesh.length)]!
      removeFrom(mesh, victim)
      removeFrom(this.#mesh[victim]!, i)
      this.stats.prunes++
    }
  }
}

function removeFrom (list: number[], x: number): void {
  const k = list.indexOf(x)
  if (k >= 0) {
    list[k] = list[list.length - 1]!
    list.pop()
  }
}
