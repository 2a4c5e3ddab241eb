// Every bound a mesh message must respect, checked where bytes enter (validate.ts) and at encode
// (wire.ts): a peer, honest or not, cannot make an agent decode, hold or forward more than this.
// Bounds sit at about twice what an honest agent produces, so a rolling upgrade that grows a list
// a little is not mistaken for an attack; they change only with a new topic and protocol version.

/**
 * The largest gossip message (the encoded MeshMessage), 64 KiB. Gossip carries one member update,
 * one health update or one coordinator announce: well under 8 KiB with the default policy (ten
 * incidents, events stripped, eight GPUs). Each message is forwarded to D = 6 mesh peers and kept
 * in the message cache for 5 heartbeats, so this also bounds what one publish costs the fleet.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024

/**
 * The largest direct-stream message, 4 MiB. Probes and votes are tens of bytes; push-pull repair
 * carries a digest entry per node (about 90 bytes: 0.9 MB at 10,000 nodes) plus the updates the
 * other side lacks. The sender must trim a push-pull to fit (send() refuses a larger one); the
 * receiver never buffers more than this per stream.
 */
export const MAX_DIRECT_MESSAGE_BYTES = 4 * 1024 * 1024

/**
 * Clock skew tolerated on a message's time_ms, 60 s; beyond it the message is ignored (not
 * rejected: the fault may be our clock, and an honest forwarder must not lose score for it). It
 * stays below gossipsub's 120 s seen-cache TTL, so a captured gossip message replayed later is
 * either a duplicate (dropped by gossipsub) or too old (dropped here). NTP keeps hosts within
 * milliseconds; a host whose clock is a minute off is loudly out of the mesh, which is the signal.
 */
export const DEFAULT_MAX_SKEW_MS = 60_000

/** Per-field bounds, beyond the byte limits above. */
export const WIRE_LIMITS = {
  /** Characters in a node id: an Ed25519 peer id is 52 (base58), a CIDv1 one 62. */
  idChars: 128,
  /** Multiaddrs in one member update: a host announces a handful (one per interface). */
  addrs: 16,
  /** Characters in one multiaddr: dns names up to 253 plus the protocol parts. */
  addrChars: 512,
  /** Labels in NodeMeta: the config allows 32. */
  labels: 64,
  /** Reasons in a verdict: one per rule that holds; the default policy has about 30 rules. */
  reasons: 64,
  /** Open incidents in a health update: the agent sends its ten most recent. */
  incidents: 32,
  /** Events and findings kept in one incident: the incident book keeps 32 of each. */
  incidentMembers: 32,
  /** GPU summaries in a health update: 8 on a DGX, 16 on the largest boxes. */
  gpus: 64,
  /** Failures and models in a boot gate result: one per GPU at most. */
  bootGateEntries: 64,
  /** Council members: 5 by default, an odd number up to 7 or 9 in practice. */
  councilMembers: 64,
  /**
   * Digest entries, member updates or health updates in one push-pull: one per node at most, and
   * Shoal targets 10,000 nodes (DESIGN.md §10). The byte limit binds long before this for updates.
   */
  fleetNodes: 16_384,
  /** Pools in a pools report: a fleet has a handful. */
  pools: 256,
  /** Slots summed over a pools report: each pool's max_nodes plus replacements; 10,000-node fleets fit. */
  poolSlots: 16_384,
  /** Coordinator events carried in one pools report (reconciler maxReportEvents is 32). */
  poolEvents: 256,
} as const
