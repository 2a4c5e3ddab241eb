// Every knob of the membership core, memberlist-style: what it feeds, what raising or lowering it
// costs, the default and why. Figures quoted here were measured with the seeded network of
// test/agent/mesh/membership-network.test.ts (1 ms links, 5-40 ms gossip, 1% loss, kill one agent,
// restart it, repeat), which also checks the 100-agent ones on every run.
import { suspicionBounds } from './suspicion.js'

export interface MembershipConfig {
  /**
   * One peer is probed per interval (times the local health score + 1, see awarenessMax). N probers
   * each probing once per interval reach a given peer about once per interval, at random: the wait
   * until someone probes a dead peer is exponential with mean one interval, so its p99 is 4.6
   * intervals, and the suspicion comes one interval later. Detection time, probe traffic and the
   * simulator's event count are all linear in this knob.
   * Default 250 ms (memberlist LAN: 1 s). First suspicion p50 0.4 s, p99 1.1-1.4 s (target 1.5 s);
   * 99% of live agents mark a dead one dead at p50 2.7 s, p99 3.7 s with 100 agents (target 5 s)
   * and p50 3.5 s, worst of 30 4.2 s with 1,000 (target 8 s). 500 ms misses both: first
   * suspicion p99 2.4 s, detection p99 6.4 s at 100. Cost: a ping and an ack sent per interval
   * (8 messages/s, ~13 kbit/s at 200 B each; 9/s at 1% loss, 12/s at 5%), independent of N.
   * Simulator range: 200 ms to 2 s (a sim preset may trade detection time for events).
   */
  probeIntervalMs: number
  /**
   * How long a direct ping waits for its ack before `indirectChecks` relays are asked, and how long
   * a relay waits before it answers with a nack. memberlist: "the 99th percentile of RTT". Raising
   * it leaves less of the interval to the indirect round; lowering it sends ping_reqs for slow but
   * healthy peers. At most half the interval, so a relay's nack arrives before the prober's deadline.
   * Default 100 ms: RTT is ≤ 1 ms in one region, so this is a budget for event-loop lag on a busy
   * host, five times the agent's 20 ms loop-lag p99 target. Simulator range: 20 ms to half the interval.
   */
  probeTimeoutMs: number
  /**
   * Relays asked to ping a peer that missed its direct ack. Each costs four messages on a failed
   * probe only. With 3, a live peer behind 5% loss is wrongly failed with probability
   * ≈ 0.1 × 0.19³ ≈ 7·10⁻⁴ per probe (direct miss × every relay path missing): about 8 false
   * suspicions per agent-hour at 250 ms, all refuted in the 100 agent-hours measured. memberlist: 3.
   */
  indirectChecks: number
  /**
   * Suspicion timeout multiplier: min = mult × max(1, log10(N)) × probeIntervalMs, and mult − 2
   * independent confirmations (other reporters) bring a suspicion down to min (Lifeguard). Lower
   * detects faster but leaves a falsely suspected peer less time to refute; higher is slower.
   * Default 4 (memberlist LAN): min 2 s at 100 agents, 3 s at 1,000, 4 s at 10,000; a real death
   * gets its 2 confirmations within a second (the dead peer is probed ~4 times a second), a false
   * suspicion rarely gets any. 3 expects a single confirmation.
   */
  suspicionMult: number
  /**
   * Lifeguard: a suspicion starts at maxMult × min and shrinks towards min as confirmations arrive,
   * so an isolated or slow prober, whose suspicion nobody confirms, waits long enough for the
   * suspect's refutation. Default 6 (memberlist, all presets): 12 s at 100 agents without any
   * confirmation, 18 s at 1,000.
   */
  suspicionMaxMult: number
  /**
   * A floor under the suspicion min. Below 100 members log10(N) < 2 leaves as little as mult ×
   * interval (1 s at the defaults), and with fewer than mult others to confirm, a suspicion starts
   * at min: a three-node fleet would declare a peer dead a second after one failed probe, i.e.
   * after a long GC pause. Default 2 s, which outlasts the 2 s host stall of reference/mesh.md §6
   * G4 (suspicion, timeout and the expiry's verification probe add up to more); from 100 members
   * on the formula is at or above it. 0 restores memberlist's formula exactly.
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
  /**
   * Expired suspicions verified at once. A suspicion that runs out costs one more probe of the
   * suspect (ping, and ping_req if needed) before it is declared dead; beyond this many at once
   * (a large partition) they die unverified. Default 64: a rack of 16 dying together fits.
   */
  maxVerifications: number
  /**
   * Last looks in flight at once (lastLook: the coordinator's one probe of a dead node before it
   * replaces it). More are refused, and asked again at the planner's next plan. Default 16: more
   * than a pool replaces at once (max_in_flight), and each costs one ping and k ping_reqs.
   */
  maxLooks: number
  /** Addresses accepted in one update; a node advertising more is ignored. Default 16. */
  maxAddrs: number
  /**
   * A timer that fires this late means this process was stalled (GC, CPU starvation, SIGSTOP),
   * and acks or refutations may be waiting unread behind it. A probe whose timers fired that late
   * is inconclusive: no suspicion (a verification re-arms its suspicion), health score +1. Default
   * 150 ms: far above the 20 ms loop-lag target, far below a stall that would otherwise cost a
   * false suspicion.
   */
  stallMs: number
  /**
   * Every this many probe rounds, one member held dead (not left) for less than deadProbeWindowMs
   * is pinged too, on top of the round's probe (memberlist's GossipToTheDeadTime, Serf's
   * reconnect). After a partition long enough for deaths, each side holds the other dead and
   * nobody probes the dead: only what happens to cross (a coordinator announcement, a rejoining
   * bootstrap link, push-pull every few minutes) would bring them together. The ping carries
   * nothing; a live target hears from us and, holding us dead too, tells us so (see
   * deadNoticeIntervalMs), and its ack makes us tell it: one exchange starts both refutations.
   * An ack alone never makes it alive. The rate is per agent, not per dead member: one ping per
   * this many rounds while any death is recent, whatever their number. Default 8: one every 2 s
   * at 250 ms. In the simulator, 200 agents split 80 | 120 for 30 s are all live in every view
   * 2 s after the heal (4: 1.5 s; 16: 2 s; 0: 4 s, thanks to the coordinator's announcements).
   * 0: never.
   */
  deadProbeEvery: number
  /**
   * Only members dead for less than this are pinged (see deadProbeEvery): a host that really
   * died (the common case) costs each agent at most window / (deadProbeEvery × interval) pings
   * (on libp2p, failed dials), then nothing: at the defaults 150 in 5 min, < 1 kbit/s. A
   * partition longer than this heals by push-pull and the announcements that cross it. Default
   * 5 min: covers a switch or router reboot; Serf retries for 24 h at one node per 30 s,
   * memberlist gossips to the dead for 30 s. Beyond deadRetentionMs it changes nothing (reaped).
   */
  deadProbeWindowMs: number
  /**
   * A member we hold dead that sends us anything (direct or gossip) is told so, directly, with
   * our dead record, so that it refutes with a higher incarnation that is then gossiped; at most
   * once per this long per member, so a chatty one (it probes us four times a second) gets one
   * notice, not one per message. A notice lost to loss is sent again after this. Default 1 s:
   * four times its probe interval, a few RTTs for the refutation to arrive. 0: every message.
   */
  deadNoticeIntervalMs: number
  /**
   * A gossip from a member held dead reaches every agent that holds it dead at once (after a
   * partition heals, half the fleet); if each told it so, it would get that many notices and
   * answer each with its alive. So a gossip is answered with probability fanout / live members:
   * about this many notices per gossip, whatever the fleet's size. Direct messages are always
   * answered (one sender, one notice). Default 3 (memberlist's GossipNodes): one is enough, three
   * survive loss.
   */
  deadNoticeGossipFanout: number
  /**
   * A member's alive learned from a push-pull that is news here (a refutation, a new life: a
   * higher incarnation of a member we held) is gossiped again by us (memberlist's mergeState),
   * at most this many per push-pull message: gossip reached everyone but us, or else we are one
   * of a group it missed (a partition), and repair between two agents would then take one
   * round per agent. Only first learners re-gossip (those who hear it by gossip do not), first
   * sightings of unknown members never (a joiner learns the whole fleet from its first
   * push-pull). Measured in the simulator: 0 or 1 per partition heal (notices and dead probes
   * get there first), none in a 1,000-agent cold start or 2 min at 5% loss. Default 16. 0: never.
   */
  syncRegossipMax: number
  /**
   * The announcement a node gossips at start goes nowhere (no connection yet: libp2p drops a
   * publish without topic peers), so it gossips its alive (same incarnation) and its health
   * again this long after its first connection: long enough for gossipsub to learn the peer's
   * subscriptions, short enough that few members probe the joiner before they know it (each such
   * probe costs a full push-pull). Default 250 ms: one probe interval.
   */
  joinAnnounceDelayMs: number
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
  maxVerifications: 64,
  maxLooks: 16,
  maxAddrs: 16,
  stallMs: 150,
  deadProbeEvery: 8,
  deadProbeWindowMs: 5 * 60_000,
  deadNoticeIntervalMs: 1000,
  deadNoticeGossipFanout: 3,
  syncRegossipMax: 16,
  joinAnnounceDelayMs: 250,
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

/** Checks fields, ranges and the relations between knobs; returns the config for chaining. */
export function validateMembershipConfig (config: MembershipConfig): MembershipConfig {
  for (const key of Object.keys(config)) {
    if (!(key in DEFAULT_MEMBERSHIP_CONFIG)) throw new MembershipConfigError(`membership.${key} is not a membership setting`)
  }
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
  integer(config, 'maxVerifications', 0, 10_000)
  integer(config, 'maxLooks', 0, 10_000)
  integer(config, 'maxAddrs', 1, 1_000)
  integer(config, 'stallMs', 1, 60_000)
  integer(config, 'deadProbeEvery', 0, 10_000)
  integer(config, 'deadProbeWindowMs', 0, 30 * 86_400_000)
  integer(config, 'deadNoticeIntervalMs', 0, 3_600_000)
  integer(config, 'deadNoticeGossipFanout', 0, 1_000_000)
  integer(config, 'syncRegossipMax', 0, 10_000)
  integer(config, 'joinAnnounceDelayMs', 0, 60_000)
  if (config.probeTimeoutMs * 2 > config.probeIntervalMs) {
    throw new MembershipConfigError(
      `membership.probeTimeoutMs (${config.probeTimeoutMs}) must be at most half of probeIntervalMs ` +
      `(${config.probeIntervalMs}): a relay's nack must reach the prober before the probe period ends`)
  }
  const longest = suspicionBounds(config.suspicionMult, config.suspicionMaxMult, config.suspicionMinMs, config.maxMembers, config.probeIntervalMs).maxMs
  if (config.deadRetentionMs < longest) {
    throw new MembershipConfigError(
      `membership.deadRetentionMs (${config.deadRetentionMs}) must outlast the longest suspicion (${longest} ms at ` +
      'maxMembers), or gossip still in flight could resurrect a reaped dead node')
  }
  return config
}
