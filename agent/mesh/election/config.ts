// Every knob of the election core, memberlist-style: what it feeds, what raising or lowering it
// costs, the default and why. The timing defaults meet DESIGN.md §10's failover target (killed
// coordinator → new coordinator acting, p99 ≤ 3 s, LAN RTT ≤ 1 ms); docs/election.md shows the
// arithmetic and failoverBoundMs computes it. Relations between knobs carry the safety argument, so
// validateElectionConfig checks them, not only ranges.

/** Raft's council is small: every renew goes to each member. 7 tolerates 3 failures. */
export const MAX_COUNCIL_SIZE = 7

export interface ElectionConfig {
  /**
   * Voters the coordinator grows the council to, from the coordinator-eligible agents. A council
   * of n survives ⌊(n − 1)/2⌋ lost members; each member costs one renew and one ack per
   * renewIntervalMs at the coordinator. Odd is recommended: 4 tolerates no more failures than 3.
   * Default 5 (DESIGN.md §5; etcd and Consul recommend 3 or 5). At most 7.
   */
  councilSize: number
  /**
   * A voter that hears no renew from its coordinator for a time drawn uniformly from
   * [electionTimeoutMinMs, electionTimeoutMaxMs] asks for pre-votes, then stands for election. The
   * minimum must exceed leaseMs: by the time any voter asks, every promise a voter made to the old
   * coordinator has run out, so the first candidate wins in two round trips (pre-vote, vote).
   * Raising it slows failover one for one; lowering it towards leaseMs gains little and breaks the
   * rule above. Default 1,200 ms.
   */
  electionTimeoutMinMs: number
  /**
   * The top of the election timeout range. The width (max − min) spreads candidates apart: two
   * voters timing out within one network delay of each other split the vote and cost another
   * round. With 800 ms of width and ≤ 1 ms RTT a split needs two of four timers within ~1 ms
   * (≈ 0.5 %). Default 2,000 ms: failover ≤ renewIntervalMs + 2,000 ms + two RTTs without a split.
   */
  electionTimeoutMaxMs: number
  /**
   * The coordinator sends LeaseRenew to every council member this often; each ack extends the
   * lease from that renew's send time. Must leave room for two renews within the usable lease so
   * one lost renew does not cost the lease. Raising it saves a few small messages per second and
   * adds up to its value to failover; lowering it costs bandwidth. Default 250 ms (4 per lease).
   */
  renewIntervalMs: number
  /**
   * How long a voter's ack (or vote) binds it: no vote for anyone else until receipt + leaseMs by
   * the voter's clock. The coordinator acts for leaseMs × (1 − maxClockDriftRatio) − driftMarginMs
   * from the renew's send time by its own clock, which ends before any promise does. Longer rides
   * out longer renew losses and stalls but delays failover (the election timeout must exceed it).
   * Default 1,000 ms: four renews per lease.
   */
  leaseMs: number
  /**
   * Bound on how much two hosts' clocks may disagree about a duration (rate, not offset: only
   * elapsed times are compared). NTP-disciplined clocks drift by ppm; 0.01 (1 %) leaves two orders
   * of magnitude for a host without NTP or a VM clock that is slewing. Costs leaseMs × ratio of
   * acting time per renew. Default 0.01.
   */
  maxClockDriftRatio: number
  /**
   * Taken off the coordinator's lease on top of drift: covers what happens between the driver
   * asking acting(now) and the act leaving the host (a GC pause, a slow tick), and a step in the
   * monotonic clock. Default 50 ms: above the agent's 20 ms loop-lag p99 target.
   */
  driftMarginMs: number
  /**
   * The coordinator publishes CoordinatorAnnounce on the coord topic when it wins, when the
   * council changes and every this often, so agents that missed one (a lost gossip, a restart) catch
   * up; push-pull repair carries it too. One small message per interval for the whole fleet keeps
   * bandwidth flat. Default 10 s.
   */
  announceIntervalMs: number
  /**
   * A coordinator that has had no renew acked by a majority for this long (from that renew's send
   * time) stops being coordinator and returns to voter. Before this it keeps renewing with its lease
   * lost, so a brief stall (a GC pause longer than the lease) costs only the lease, not a term. At
   * or past electionTimeoutMaxMs every voter that lost contact has stood, so waiting longer helps
   * nobody. Default 2,000 ms (= electionTimeoutMaxMs).
   */
  stepDownAfterMs: number
  /**
   * Longest candidate list setCandidates takes (coordinator-eligible, alive, healthy agents).
   * Default 10,000: the largest fleet Shoal targets. A longer list is a driver bug.
   */
  maxCandidates: number
}

export const DEFAULT_ELECTION_CONFIG: Readonly<ElectionConfig> = Object.freeze({
  councilSize: 5,
  electionTimeoutMinMs: 1200,
  electionTimeoutMaxMs: 2000,
  renewIntervalMs: 250,
  leaseMs: 1000,
  maxClockDriftRatio: 0.01,
  driftMarginMs: 50,
  announceIntervalMs: 10_000,
  stepDownAfterMs: 2000,
  maxCandidates: 10_000,
})

/** A sentence naming the field and the rule it breaks. */
export class ElectionConfigError extends RangeError {
  override name = 'ElectionConfigError'
}

type IntegerField = Exclude<keyof ElectionConfig, 'maxClockDriftRatio'>

function integer (config: ElectionConfig, field: IntegerField, min: number, max: number): void {
  const value = config[field]
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ElectionConfigError(`election.${field} must be an integer in [${min}, ${max}], got ${String(value)}`)
  }
}

/** How long the coordinator may act after sending a renew that a majority acked (by its clock). */
export function usableLeaseMs (config: ElectionConfig): number {
  return config.leaseMs * (1 - config.maxClockDriftRatio) - config.driftMarginMs
}

/**
 * Failover without a split vote or a lost message: the last renew left up to renewIntervalMs
 * before the kill, the first voter asks for pre-votes at most electionTimeoutMaxMs after receiving
 * it, one round trip later it stands, and one more later it holds a majority of votes, which is its
 * first lease (docs/election.md). PreVote costs the first of those two round trips.
 */
export function failoverBoundMs (config: ElectionConfig, rttMs: number): number {
  return config.renewIntervalMs + config.electionTimeoutMaxMs + 2 * rttMs
}

/** Checks ranges and the relations the safety argument rests on; returns the config for chaining. */
export function validateElectionConfig (config: ElectionConfig): ElectionConfig {
  integer(config, 'councilSize', 1, MAX_COUNCIL_SIZE)
  integer(config, 'electionTimeoutMinMs', 1, 600_000)
  integer(config, 'electionTimeoutMaxMs', 1, 600_000)
  integer(config, 'renewIntervalMs', 1, 60_000)
  integer(config, 'leaseMs', 1, 600_000)
  integer(config, 'driftMarginMs', 0, 60_000)
  integer(config, 'announceIntervalMs', 1, 3_600_000)
  integer(config, 'stepDownAfterMs', 1, 3_600_000)
  integer(config, 'maxCandidates', 1, 1_000_000)
  const drift = config.maxClockDriftRatio
  if (!(Number.isFinite(drift) && drift >= 0 && drift < 0.5)) {
    throw new ElectionConfigError(`election.maxClockDriftRatio must be in [0, 0.5), got ${String(drift)}`)
  }
  if (config.electionTimeoutMinMs <= config.leaseMs) {
    throw new ElectionConfigError(
      `election.electionTimeoutMinMs (${config.electionTimeoutMinMs}) must exceed leaseMs (${config.leaseMs}): ` +
      'a voter must not stand while the promises made to a live coordinator still hold')
  }
  if (config.electionTimeoutMaxMs <= config.electionTimeoutMinMs) {
    throw new ElectionConfigError(
      `election.electionTimeoutMaxMs (${config.electionTimeoutMaxMs}) must exceed electionTimeoutMinMs ` +
      `(${config.electionTimeoutMinMs}): without spread, voters stand together and split the vote`)
  }
  if (usableLeaseMs(config) < 2 * config.renewIntervalMs) {
    throw new ElectionConfigError(
      `election.renewIntervalMs (${config.renewIntervalMs}) must be at most half the usable lease ` +
      `(leaseMs × (1 − maxClockDriftRatio) − driftMarginMs = ${usableLeaseMs(config)} ms): one lost renew must not cost the lease`)
  }
  if (config.stepDownAfterMs < config.leaseMs) {
    throw new ElectionConfigError(
      `election.stepDownAfterMs (${config.stepDownAfterMs}) must be at least leaseMs (${config.leaseMs}): ` +
      'a coordinator steps down only after its lease is gone')
  }
  return config
}
