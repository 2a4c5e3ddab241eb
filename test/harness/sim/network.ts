// The modelled network for direct messages (libp2p streams: probes, votes, leases, push-pull,
// commands). Each message draws a one-way latency (lognormal, LAN by default) plus the receiver's
// processing time; it may be lost or duplicated; reordering falls out of the random latencies.
// Partitions and down hosts drop it, checked when it leaves and again when it arrives; a paused
// receiver holds it until it resumes. Not modelled: bandwidth and queueing, connection setup (every
// pair is treated as already connected), TCP's own retransmission (loss here is a lost message).
import { assert } from '../../../agent/lib/assert.js'
import type { Rng } from '../../../agent/lib/rng.js'
import type { Action, Scheduler } from './clock.js'
import type { Hosts } from './hosts.js'
import type { Meter } from './metrics.js'
import { LAN_LATENCY, latencySampler, stream, type LatencyConfig, type Sampler } from './random.js'

export interface LinkConfig {
  latency: LatencyConfig
  /**
   * Receiver-side time to decode, validate and hand a message to the core. Default 0.1 ms: a
   * protobuf decode and a stream read in Node. Gossip adds its own signature check on top.
   */
  processingMs: number
  /** Probability that a message is lost. Default 0: TCP does not lose; scenarios raise it. */
  lossRate: number
  /** Probability that a message arrives twice (the copy with its own latency). Default 0. */
  duplicateRate: number
  /**
   * Bytes added to each direct message for framing: yamux header (12), Noise AEAD tag (16) and
   * a length prefix, less the share of Noise frames several messages ride in. Default 20.
   */
  directOverheadBytes: number
}

export const DEFAULT_LINK_CONFIG: LinkConfig = {
  latency: LAN_LATENCY,
  processingMs: 0.1,
  lossRate: 0,
  duplicateRate: 0,
  directOverheadBytes: 20,
}

export function checkLinkConfig (c: LinkConfig): void {
  assert(c.lossRate >= 0 && c.lossRate < 1, `lossRate ${c.lossRate} outside [0, 1)`)
  assert(c.duplicateRate >= 0 && c.duplicateRate < 1, `duplicateRate ${c.duplicateRate} outside [0, 1)`)
  assert(c.processingMs >= 0 && c.directOverheadBytes >= 0, 'processingMs and directOverheadBytes must be ≥ 0')
}

/** Per-hop draws (delay, loss, duplication) from their own streams, reading the live config. */
export class LinkDraws {
  readonly #config: LinkConfig
  readonly #loss: Rng
  readonly #latencyRng: Rng
  #latency: Sampler

  constructor (seed: number | string, name: string, config: LinkConfig) {
    this.#config = config
    this.#loss = stream(seed, `${name}/loss`)
    this.#latencyRng = stream(seed, `${name}/latency`)
    this.#latency = latencySampler(this.#latencyRng, config.latency)
  }

  /** After config.latency changed. */
  refit (): void { this.#latency = latencySampler(this.#latencyRng, this.#config.latency) }

  delay (extraProcessingMs = 0): number { return this.#latency() + this.#config.processingMs + extraProcessingMs }
  /** Draws only when the rate is non-zero, so a lossless run keeps its other streams' draws. */
  lost (): boolean { return this.#config.lossRate > 0 && this.#loss.next() < this.#config.lossRate }
  duplicated (): boolean { return this.#config.duplicateRate > 0 && this.#loss.next() < this.#config.duplicateRate }
}

export interface NetworkStats { sent: number, delivered: number, lost: number, cut: number, duplicated: number }

export class Network {
  readonly config: LinkConfig
  readonly stats: NetworkStats = { sent: 0, delivered: 0, lost: 0, cut: 0, duplicated: 0 }
  readonly #sched: Scheduler
  readonly #hosts: Hosts
  readonly #meter: Meter
  readonly #draws: LinkDraws

  constructor (o: { sched: Scheduler, hosts: Hosts, meter: Meter, seed: number | string, config: LinkConfig }) {
    checkLinkConfig(o.config)
    this.config = o.config
    this.#sched = o.sched
    this.#hosts = o.hosts
    this.#meter = o.meter
    this.#draws = new LinkDraws(o.seed, 'direct', o.config)
  }

  refit (): void { this.#draws.refit() }

  /**
   * Sends `bytes` (message only; the overhead is added here) from `from` to `to`; `deliver` runs at
   * the receiver when (and each time) the message arrives.
   */
  send (from: number, to: number, bytes: number, kind: string, deliver: Action): void {
    assert(from !== to, `host ${from} sends to itself`)
    const wire = bytes + this.config.directOverheadBytes
    this.stats.sent++
    this.#meter.out(from, wire, kind)
    if (!this.#hosts.passes(from, to)) { this.stats.cut++; return }
    if (this.#draws.lost()) { this.stats.lost++; return }
    this.#transit(from, to, wire, deliver)
    if (this.#draws.duplicated()) {
      this.stats.duplicated++
      this.#transit(from, to, wire, deliver)
    }
  }

  #transit (from: number, to: number, wire: number, deliver: Action): void {
    this.#sched.after(this.#draws.delay(), () => {
      if (!this.#hosts.passes(from, to)) { this.stats.cut++; return }
      this.stats.delivered++
      this.#meter.in(to, wire)
      this.#hosts.deliver(to, deliver)
    })
  }
}
