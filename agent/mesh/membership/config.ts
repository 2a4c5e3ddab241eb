// Every knob of the membership core, memberlist-style: what it feeds, what raising or lowering it
// costs, the default and why. The defaults were chosen with the seeded network in
// test/agent/mesh/membership-network.test.ts against DESIGN.md §10 and reference/mesh.md §6.
import { suspicionTimeoutMinMs } from './suspicion.js'

export interface MembershipConfig {
  /**
   * One peer is probed per interval (scaled by the local health score, see awarenessMax). A dead
   * peer is first probed after about e/(e−1) intervals (SWIM) and suspected one interval later,
   * and the suspicion timeout is a multiple of it, so detection time is linear in this knob; so are
   * probe traffic (two small messages out, two in, per interval) and the simulator's event count.
   * Default 500 ms: half of memberlist's LAN 1 s. It yields first suspicion p50 ≈ 1 s, p99 ≈ 2.5 s
   * and full detection p99 ≈ 4 s at 100 agents, ≈ 6 s at 1,000 (under the 5 s / 8 s targets), with
   * probes near 2 kbit/s. Simulator range: 200 ms to 2 s.
   */
  probeIntervalMs: number
  /**
   * How long a direct ping waits for its ack before `indirectChecks` relays are asked, and how long
   * a relay waits before it answers with a nack. memberlist: "the 99th percentile of RTT". Raising
   * it leaves less of the interval to the indirect round; lowering it sends ping_reqs for slow but
   * healthy peers. Must be at most half the interval so a relay's nack arrives before the prober's
   * deadline. Default 200 ms: RTT is ≤ 1 ms in one region, so this is a budget for event-loop
   * stalls on a busy host (the agent's loop-lag p99 target is 20 ms). Simulator range: 50 to 250 ms.
   */
  probeTimeoutMs: number
  /**
   * Relays asked to ping a peer that missed its direct ack. Each costs four messages on a failed
   * probe only. With 3, a live peer behind 5% loss is wrongly failed with probability
   * ≈ 0.1 × 0.19³ ≈ 7·10⁻⁴ per probe (direct miss × every relay path missing), and a false
   * suspicion then needs a second independent failure to shrink its timer. memberlist LAN: 3.
   */
  indirectChecks: number
  /**
   * Suspicion timeout multiplier: min = mult × max(1, log10(N)) × probeIntervalMs, and
   * mult − 2 independent confirmations (other reporters) bring a suspicion down to min (Lifeguard).
   * Lower detects faster but leaves a falsely suspected peer less time to refute; higher is slower.
   * Default 4 (memberlist LAN 4): at 500 ms, min is 4 s at 100 agents and 6 s at 1,000, yet the
   * dead-detection p99 stays inside the targets because a DEAD from the first timer to expire is
   * adopted by everyone, and 2 expected confirmations keep a lone confused prober from killing a
   * peer. 3 (memberlist Local) gives one confirmation only.
   */
  suspicionMult: number
  /**
   * Lifeguard: a suspicion starts at maxMult × min and shrinks towards min as confirmations arrive,
   * so an isolated or slow prober, whose suspicion nobody confirms, waits long enough for the
   * suspect's refutation. Default 6 (memberlist, all presets): 24 s at 100 agents without any
   * confirmation.
   */
  suspicionMaxMult: number
  /**
   * A floor under the suspicion min. log10(N) < 2 below 100 members leaves mult × interval (1 s at
   * the defaults), and with fewer than mult others to confirm, a suspicion starts at min: a three-
   * node fleet would declare a peer dead one second after a single failed probe, i.e. after a long
   * GC pause or a brief stall. Default 2 s, which also outlasts the 2 s host stall the Lifeguard
   * target (reference/mesh.md §6 G4) is measured with; from 100 members on the formula is above it.
   * 0 restores memberlist's formula exactly.
   */
  suspicionMinMs: number
  /**
   * Lifeguard LHA-Probe: the local health score runs over 0..awarenessMax−1 and stretches this
   * node's probe interval and timeout by (score + 1). It rises on failed probes that no relay
   * nacked, on stalls and when this node has to refute; it falls on every successful probe. A
   * node that is itself the slow one probes less and suspects less. Default 8 (memberlist).
   */
  awarenessMax: number
  /**
   * Dead and left members stay as tombstones this long, so a stale alive with an old incarnation
   * (a late gossip, a push-pull from a peer that missed the death) cannot bring them back. Costs a
   * record per departed node. Default 24 h (Serf TombstoneTimeout); maxMembers bounds the count.
   */
  deadRetentionMs: number
  /**
   * Records kept, self and tombstones included. An update about an unknown node when full evicts
   * the oldest tombstone, or is ignored when there is none. Default 20,000: twice the largest
   * fleet Shoal targets (10,000), so tombstones of a full replacement wave still fit.
   */
  maxMembers: number
  /**
   * ping_reqs this node relays at once; more are dropped (the requester then counts a missing
   * nack). Each lives probeTimeoutMs. Normal load is a few per second even when a rack dies.
   * Default 64.
   */
  maxRelays: number
  /** Addresses accepted in one update; a node advertising more is ignored. Default 16. */
  maxAddrs: number
  /**
   * A timer that fires this late means this process was stalled (GC, CPU starvation, SIGSTOP),
   * and acks or refutations may be waiting unread behind it. A probe whose timers fired that late
   * is inconclusive (no suspicion, health score +1); an expiring suspicion gets one grace of
   * probeTimeoutMs so queued messages are applied first. Default 150 ms: far above the 20 ms
   * loop-lag target, far below a stall that would otherwise cost a false suspicion.
   */
  stallMs: number
}

export const DEFAULT_MEMBERSHIP_CONFIG: Readonly<MembershipConfig> = Object.freeze({
  probeIntervalMs: 250,
  probeTimeoutMs: 100,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxMult: 6,
  suspicionMinMs: 2000,
  awarenessMax: 8,
  deadRetentionMs: 24 * 3_600_000,
  maxMembers: 20_000,
  maxRelays: 64,
  maxAddrs: 16,
  stallMs: 150,
})

/** A sentence naming the field and the rule it breaks. */
export class MembershipConfigError extends RangeError {
  override name = 'MembershipConfigError'
}

function integer (config: MembershipConfig, field: keyof MembershipConfig, min: number, max: number): void {
  const value = config[field]
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new MembershipConfigError(`membership.${field} must be an integer in [${min}, ${max}], got ${String(value)}`)
  }
}

/** Checks ranges and the relations between knobs; returns the config for chaining. */
export function validateMembershipConfig (config: MembershipConfig): MembershipConfig {
  integer(config, 'probeIntervalMs', 10, 60_000)
  integer(config, 'probeTimeoutMs', 1, 30_000)
  integer(config, 'indirectChecks', 0, 16)
  integer(config, 'suspicionMult', 1, 100)
  integer(config, 'suspicionMaxMult', 1, 100)
  integer(config, 'suspicionMinMs', 0, 600_000)
  integer(config, 'awarenessMax', 1, 64)
  integer(config, 'deadRetentionMs', 0, 30 * 86_400_000)
  integer(config, 'maxMembers', 2, 1_000_000)
  integer(config, 'maxRelays', 0, 10_000)
  integer(config, 'maxAddrs', 1, 1_000)
  integer(config, 'stallMs', 1, 60_000)
  if (config.probeTimeoutMs * 2 > config.probeIntervalMs) {
    throw new MembershipConfigError(
      `membership.probeTimeoutMs (${config.probeTimeoutMs}) must be at most half of probeIntervalMs ` +
      `(${config.probeIntervalMs}): a relay's nack must reach the prober before the probe period ends`)
  }
  if (config.deadRetentionMs < suspicionTimeoutMinMs(config.suspicionMult, config.maxMembers, config.probeIntervalMs)) {
    throw new MembershipConfigError(
      'membership.deadRetentionMs must outlast a suspicion at maxMembers, or a reaped dead node could be resurrected ' +
      'by gossip still in flight')
  }
  return config
}
