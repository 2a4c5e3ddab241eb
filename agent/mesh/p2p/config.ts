// The libp2p driver's knobs, each with its default and why (memberlist's Config style). The byte
// and field bounds of the wire format live in limits.ts; peer scoring in score.ts.

export interface MeshHostConfig {
  /**
   * A direct stream unused this long is closed at both ends, 60 s. Streams are reused per peer:
   * lease renewals and a small fleet's probes reuse theirs for ever, while a large fleet's probe to
   * a peer it last probed minutes ago opens a fresh one and lets it go after a minute.
   */
  idleStreamMs: number
  /**
   * Opening a direct stream (dial, negotiate), or flushing a send a busy stream holds back, must
   * finish within this, 3 s. A LAN dial with
   * pnet + Noise + yamux takes about 35 ms, a busy host's a few hundred; past 3 s the probe it
   * carries is long decided (SWIM's probe timeout is 500 ms), and a dead peer must not pin sends.
   */
  sendTimeoutMs: number
  /**
   * A frame begun on an inbound direct stream must be finished within this, 5 s: a 4 MiB push-pull
   * takes about 0.3 s at 100 Mbit/s. A peer that trickles bytes loses the stream.
   */
  readTimeoutMs: number
  /**
   * Concurrent inbound direct streams per connection, 64. A well-behaved peer keeps one (and a
   * second for a moment when one idles out as the next send opens); 64 bounds a flood.
   */
  maxInboundStreams: number
  /** Concurrent outbound direct streams per connection, 64 (as inbound). */
  maxOutboundStreams: number
  /**
   * Sends in flight to all peers together, 256. Beyond it send() rejects at once: when dials to a
   * dead part of the fleet pile up, shedding probes is right (SWIM treats them as lost).
   */
  maxInflightSends: number
  /** First redial delay of a bootstrap peer, 500 ms: a restarting peer is usually back in seconds. */
  bootstrapBackoffMinMs: number
  /**
   * Longest redial delay of a bootstrap peer, 30 s: the delay doubles per failure up to this and
   * then stays, so a bootstrap peer that is gone for good costs one dial per 30 s, forever (it may
   * come back, and a node that lost every connection needs it).
   */
  bootstrapBackoffMaxMs: number
  /** One bootstrap dial attempt, 5 s (libp2p's default is 10 s, for the public internet). */
  bootstrapDialTimeoutMs: number
  /**
   * Bytes queued to one gossip peer before gossipsub resets that stream, 2 MiB (pitfall 10): 32
   * max-size messages. A peer that cannot take that much is not keeping up; without a cap one
   * stalled peer grows our heap without bound.
   */
  gossipOutboundBufferBytes: number
  /**
   * The largest gossip RPC frame accepted, 4 MiB (it-length-prefixed's default, stated here): one
   * RPC may batch several messages and control entries, each message at most MAX_MESSAGE_BYTES.
   */
  gossipInboundRpcBytes: number
  /**
   * Send our own messages to every connected subscriber, not just mesh peers, true (gossipsub's
   * default): the first hop reaches everyone we are connected to, which cuts fatal-event latency;
   * the cost is one copy per connection for our own (rare) changes, never for forwarded ones.
   */
  floodPublish: boolean
  /**
   * Loopback only: inbound connections accepted per second from one host, 10,000. libp2p's 5 is a
   * guard against one abusive address; on a local fleet every peer is 127.0.0.1 (pitfall 9).
   */
  loopbackInboundConnectionThreshold: number
  /** Loopback only: connections still upgrading at once, 256 (libp2p's 10; pitfall 9). */
  loopbackMaxIncomingPendingConnections: number
}

export const DEFAULT_MESH_HOST_CONFIG: Readonly<MeshHostConfig> = {
  idleStreamMs: 60_000,
  sendTimeoutMs: 3000,
  readTimeoutMs: 5000,
  maxInboundStreams: 64,
  maxOutboundStreams: 64,
  maxInflightSends: 256,
  bootstrapBackoffMinMs: 500,
  bootstrapBackoffMaxMs: 30_000,
  bootstrapDialTimeoutMs: 5000,
  gossipOutboundBufferBytes: 2 * 1024 * 1024,
  gossipInboundRpcBytes: 4 * 1024 * 1024,
  floodPublish: true,
  loopbackInboundConnectionThreshold: 10_000,
  loopbackMaxIncomingPendingConnections: 256,
}
