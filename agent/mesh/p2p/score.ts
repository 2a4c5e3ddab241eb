// Gossipsub v1.1 peer scoring for Shoal's three topics (reference/mesh.md §2.1). The one thing we
// need from it: a peer that sends messages our validator rejects (P4) sinks below zero, leaves our
// mesh, and past the graylist threshold is not listened to at all. Our traffic is sparse (changes,
// not heartbeats), so the delivery-rate terms that suit Ethereum's busy topics (P3, P3b) would
// punish honest quiet peers and are off.
import {
  createPeerScoreParams, createPeerScoreThresholds, createTopicScoreParams, validatePeerScoreParams, validatePeerScoreThresholds,
  type PeerScoreParams, type PeerScoreThresholds, type TopicScoreParams,
} from '@libp2p/gossipsub/score'

/** The decay interval gossipsub uses for every counter below, ms (its default). */
const DECAY_INTERVAL_MS = 1000

export const SHOAL_TOPIC_SCORE: Partial<TopicScoreParams> = {
  /** All three topics weigh the same: a forged coordinator announce is as bad as a forged health. */
  topicWeight: 1,
  /** P1, time in mesh: +1 per topic after an hour, a tie-breaker that favours long-lived peers. */
  timeInMeshWeight: 1 / 3600,
  timeInMeshQuantum: 1000,
  timeInMeshCap: 3600,
  /** P2, first deliveries: up to +5 per topic, decaying by half in about 70 s (sparse traffic). */
  firstMessageDeliveriesWeight: 0.5,
  firstMessageDeliveriesDecay: 0.99,
  firstMessageDeliveriesCap: 10,
  /** P3 and P3b off (weight 0): a quiet honest peer delivers nothing and must not be penalised. */
  meshMessageDeliveriesWeight: 0,
  meshFailurePenaltyWeight: 0,
  /**
   * P4, invalid messages: weight × count² per topic, so one reject costs 10, two 40, three 90. A
   * new peer goes below zero (out of our mesh) at the first, below the graylist threshold (−80: we
   * stop reading it) at the third; one with the best history (+6 on each topic) stays at +8 after
   * one, −22 after two, −72 after three, −142 after four. The count halves in about 70 s (0.99 per
   * second): a peer with one bad message recovers in minutes, a flooder never does.
   */
  invalidMessageDeliveriesWeight: -10,
  invalidMessageDeliveriesDecay: 0.99,
}

/** Thresholds: gossipsub's defaults but opportunistic grafting, which must sit below our +10 cap. */
export const SHOAL_SCORE_THRESHOLDS: Partial<PeerScoreThresholds> = {
  gossipThreshold: -10,
  publishThreshold: -50,
  graylistThreshold: -80,
  acceptPXThreshold: 10,
  /** Half the positive cap: graft better peers when the mesh's median is mediocre. */
  opportunisticGraftThreshold: 5,
}

/** Loopback addresses a local fleet shares; never penalised for colocation there (pitfall 8). */
export const LOOPBACK_IPS: readonly string[] = ['127.0.0.1', '::1']

/**
 * Peer score parameters for the given gossip topic names. `loopback`: every peer of a local fleet
 * shares 127.0.0.1, and more than 10 peers on one IP would otherwise score −5 × excess² and never
 * be grafted. In production the colocation penalty stays: a Sybil needs many addresses.
 */
export function meshScoreParams (topicNames: readonly string[], loopback: boolean): PeerScoreParams {
  const params = createPeerScoreParams({
    topics: Object.fromEntries(topicNames.map((name) => [name, createTopicScoreParams(SHOAL_TOPIC_SCORE)])),
    /** The positive part (P1 + P2 over all topics) stops here, so good history cannot buy much abuse. */
    topicScoreCap: 10,
    decayInterval: DECAY_INTERVAL_MS,
    IPColocationFactorWhitelist: new Set(loopback ? LOOPBACK_IPS : []),
  })
  validatePeerScoreParams(params)
  return params
}

export function meshScoreThresholds (): PeerScoreThresholds {
  const thresholds = createPeerScoreThresholds(SHOAL_SCORE_THRESHOLDS)
  validatePeerScoreThresholds(thresholds)
  return thresholds
}
