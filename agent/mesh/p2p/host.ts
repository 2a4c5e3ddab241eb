// The mesh's libp2p host (DESIGN.md §4): TCP, the fleet key's pnet protector, Noise, yamux,
// identify, gossipsub (StrictSign) on the three fleet topics, and direct streams. It decides
// nothing: every message in is validated (validate.ts) and handed to listeners; every message out
// is encoded with our fleet, id and clock, self-checked by the same validator, and sent.
import { noise } from '@chainsafe/libp2p-noise'
import type { privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { gossipsub, TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { MeshMessage } from '../../../proto/gen/shoal_pb.js'
import { assert } from '../../lib/assert.js'
import { systemRng, type Rng } from '../../lib/rng.js'
import type { Body, NodeId, Topic } from '../types.js'
import { Bootstrapper, parseBootstrap, type BootstrapTarget } from './bootstrap.js'
import { DEFAULT_MESH_HOST_CONFIG, type MeshHostConfig } from './config.js'
import { DenyFileWatcher, DenyList, denyGater } from './deny.js'
import { DirectStreams, encodeFrame } from './direct.js'
import { FLEET_KEY_BYTES, pnetKeyBytes } from './fleet-key.js'
import { DEFAULT_MAX_SKEW_MS, MAX_DIRECT_MESSAGE_BYTES, MAX_MESSAGE_BYTES, WIRE_LIMITS } from './limits.js'
import { meshScoreParams, meshScoreThresholds } from './score.js'
import { CHANNEL_BODIES, validateMessage, type Channel } from './validate.js'
import { directProtocol, encodeMessage, isFleetName, MessageTooLargeError, TOPICS, topicName } from './wire.js'

/** The key type libp2p takes: the store's Identity.privateKey (an Ed25519 key) is one as it is. */
export type MeshPrivateKey = Parameters<typeof privateKeyToProtobuf>[0]

export interface MeshHostOptions {
  privateKey: MeshPrivateKey
  fleet: string
  /** The 32 key bytes, from parseFleetKey. */
  fleetKey: Uint8Array
  /** Multiaddrs to listen on, e.g. /ip4/0.0.0.0/tcp/4001 (tests: /ip4/127.0.0.1/tcp/0). */
  listen: string[]
  /** Multiaddrs ending in /p2p/<peer id>; our own entry, if present, is skipped. */
  bootstrap: string[]
  /** Addresses to tell peers instead of the listen addresses (behind NAT); default: the listen ones. */
  announce?: string[]
  /** Tests and local fleets: no IP-colocation penalty for 127.0.0.1, a raised inbound rate limit. */
  loopback?: boolean
  /** The core's freshness check on an otherwise valid gossip message; false: ignored, no penalty. */
  isFresh?: (m: MeshMessage, channel: Topic) => boolean
  /** Wall clock, ms: stamps time_ms on what we send and checks skew on what we receive. */
  now: () => number
  /** Default DEFAULT_MAX_SKEW_MS (60 s). */
  maxSkewMs?: number
  log?: (obj: object, msg: string) => void
  /** Backoff jitter; default systemRng(). */
  rng?: Rng
  config?: Partial<MeshHostConfig>
  /** mesh.deny_peers_file: peer ids refused (dial and accept) and cut off; re-read while set. */
  denyPeersFile?: string | null
}

export interface MeshHostStats {
  /** Message bytes received: gossip (first copy of each, before validation) and direct frames. */
  bytesIn: number
  /** Message bytes sent: our gossip × the peers it went to, and direct frames. */
  bytesOut: number
  messagesIn: number
  messagesOut: number
  rejected: number
  ignored: number
  /** Direct streams cut short or timed out, and sends that failed. */
  lost: number
  /** Outbound direct streams opened (they are reused per peer: about one per peer and idle period). */
  streamsOpened: number
}

interface Listeners {
  message: (from: NodeId, message: MeshMessage, channel: Channel) => void
  'peer:connect': (peer: NodeId) => void
  'peer:disconnect': (peer: NodeId) => void
  rejected: (from: NodeId, channel: Channel, reason: string) => void
}

/** What gossipsub has at run time but its exported type lacks (pitfall 12). */
type GossipSubRuntime = GossipSub & {
  getMeshPeers (topic: string): string[]
  getScore (peer: string): number
}

type MeshLibp2p = Libp2p<{ identify: unknown, pubsub: GossipSub }>

export class MeshHost {
  readonly peerId: NodeId
  readonly fleet: string
  readonly #libp2p: MeshLibp2p
  readonly #pubsub: GossipSubRuntime
  readonly #direct: DirectStreams
  readonly #bootstrap: Bootstrapper
  readonly #topicNames: Readonly<Record<Topic, string>>
  readonly #topicByName: ReadonlyMap<string, Topic>
  readonly #now: () => number
  readonly #maxSkewMs: number
  readonly #isFresh: MeshHostOptions['isFresh']
  readonly #log: (obj: object, msg: string) => void
  /** Messages the topic validator accepted, by their data, so delivery does not decode twice. */
  readonly #accepted = new WeakMap<Uint8Array, MeshMessage>()
  readonly #listeners: { [K in keyof Listeners]: Set<Listeners[K]> } = {
    message: new Set(), 'peer:connect': new Set(), 'peer:disconnect': new Set(), rejected: new Set(),
  }

  readonly #stats: Omit<MeshHostStats, 'streamsOpened'> = { bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0, rejected: 0, ignored: 0, lost: 0 }
  #state: 'created' | 'running' | 'stopped' = 'created'
  #denyWatcher: DenyFileWatcher | undefined

  static async create (o: MeshHostOptions): Promise<MeshHost> {
    assert(typeof (Promise as { withResolvers?: unknown }).withResolvers === 'function',
      'Promise.withResolvers is missing: import agent/polyfill.ts first (Node 20, libp2p 3)')
    if (!isFleetName(o.fleet)) {
      throw new RangeError(`fleet ${JSON.stringify(o.fleet)} is not a fleet name (lower-case letters, digits, "-"; up to 63; not starting with "-")`)
    }
    if (o.fleetKey.length !== FLEET_KEY_BYTES) {
      throw new RangeError(`the fleet key is ${o.fleetKey.length} bytes, not ${FLEET_KEY_BYTES} (use parseFleetKey)`)
    }
    const targets = parseBootstrap(o.bootstrap, peerIdFromPrivateKey(o.privateKey).toString())
    const config: MeshHostConfig = { ...DEFAULT_MESH_HOST_CONFIG, ...o.config }
    const loopback = o.loopback === true
    const topicNames = Object.fromEntries(TOPICS.map((t) => [t, topicName(o.fleet, t)])) as Record<Topic, string>
    const deny = new DenyList()
    const libp2p: MeshLibp2p = await createLibp2p({
      start: false,
      privateKey: o.privateKey,
      addresses: { listen: o.listen, announce: o.announce ?? [] },
      transports: [tcp()],
      connectionProtector: preSharedKey({ psk: pnetKeyBytes(o.fleetKey) }),
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: denyGater(deny),
      connectionManager: loopback
        ? {
            inboundConnectionThreshold: config.loopbackInboundConnectionThreshold,
            maxIncomingPendingConnections: config.loopbackMaxIncomingPendingConnections,
          }
        : {},
      services: {
        identify: identify(),
        pubsub: gossipsub({
          globalSignaturePolicy: 'StrictSign',
          allowPublishToZeroTopicPeers: true,
          emitSelf: false,
          fallbackToFloodsub: false,
          floodPublish: config.floodPublish,
          allowedTopics: Object.values(topicNames),
          maxOutboundBufferSize: config.gossipOutboundBufferBytes,
          maxInboundDataLength: config.gossipInboundRpcBytes,
          scoreParams: meshScoreParams(Object.values(topicNames), loopback),
          scoreThresholds: meshScoreThresholds(),
        }),
      },
    })
    const host = new MeshHost(libp2p, o, config, topicNames, targets)
    try {
      if (o.denyPeersFile !== undefined && o.denyPeersFile !== null) await host.#watchDenied(o.denyPeersFile, deny)
      await host.#start()
    } catch (err) {
      host.#denyWatcher?.stop()
      await Promise.resolve(libp2p.stop()).catch(() => {})
      throw err
    }
    return host
  }

  private constructor (
    libp2p: MeshLibp2p, o: MeshHostOptions, config: MeshHostConfig, topicNames: Record<Topic, string>,
    targets: readonly BootstrapTarget[],
  ) {
    this.#libp2p = libp2p
    this.#pubsub = libp2p.services.pubsub as GossipSubRuntime
    this.peerId = libp2p.peerId.toString()
    this.fleet = o.fleet
    this.#topicNames = topicNames
    this.#topicByName = new Map(TOPICS.map((t) => [topicNames[t], t]))
    this.#now = o.now
    this.#maxSkewMs = o.maxSkewMs ?? DEFAULT_MAX_SKEW_MS
    this.#isFresh = o.isFresh
    this.#log = o.log ?? (() => {})
    this.#direct = new DirectStreams(libp2p, directProtocol(o.fleet), MAX_DIRECT_MESSAGE_BYTES, config, {
      frame: (from, bytes) => { this.#onDirectFrame(from, bytes) },
      offence: (from, reason) => { this.#reject(from, 'direct', reason) },
      lost: () => { this.#stats.lost++ },
    })
    const dialTimeoutMs = config.bootstrapDialTimeoutMs
    this.#bootstrap = new Bootstrapper(targets, async (target) => {
      await libp2p.dial([...target.addrs], { signal: AbortSignal.timeout(dialTimeoutMs) })
    }, config, o.rng ?? systemRng(), () => performance.now(), this.#log)
  }

  /** Reads the deny file before the host starts (a denied peer is never dialled), then keeps reading it. */
  async #watchDenied (path: string, list: DenyList): Promise<void> {
    this.#denyWatcher = new DenyFileWatcher({
      path,
      list,
      onDenied: (peers) => {
        this.#log({ peers: peers.length, file: path }, 'mesh peers denied')
        for (const p of peers) {
          if (this.#state !== 'running') return
          void this.#libp2p.hangUp(peerIdFromString(p)).catch(() => {})
        }
      },
    })
    await this.#denyWatcher.start()
  }

  async #start (): Promise<void> {
    for (const topic of TOPICS) this.#pubsub.topicValidators.set(this.#topicNames[topic], this.#validator(topic))
    this.#pubsub.addEventListener('message', (evt) => { this.#onGossip(evt.detail) })
    this.#libp2p.addEventListener('peer:connect', (evt) => {
      const peer = evt.detail.toString()
      this.#bootstrap.onConnect(peer)
      this.#emit('peer:connect', peer)
    })
    this.#libp2p.addEventListener('peer:disconnect', (evt) => {
      const peer = evt.detail.toString()
      this.#bootstrap.onDisconnect(peer)
      this.#emit('peer:disconnect', peer)
    })
    await this.#direct.start()
    await this.#libp2p.start()
    for (const topic of TOPICS) this.#pubsub.subscribe(this.#topicNames[topic])
    this.#state = 'running'
    this.#bootstrap.start()
    this.#log({ peerId: this.peerId, addrs: this.addrs(), fleet: this.fleet }, 'mesh host started')
  }

  addrs (): string[] {
    return this.#libp2p.getMultiaddrs().map((ma) => ma.toString())
  }

  /** Sends `body` to every subscriber of `topic`; resolves once handed to the peers' streams. */
  async publish (topic: Topic, body: Body): Promise<void> {
    const bytes = this.#encodeChecked(topic, body)
    const result = await this.#pubsub.publish(this.#topicNames[topic], bytes)
    this.#stats.messagesOut++
    this.#stats.bytesOut += bytes.length * result.recipients.length
  }

  /**
   * Sends `body` to one node over its direct stream (opened on first use). Rejects on any failure (no address, dial or
   * write error, timeout, too many in flight): SWIM treats it as loss, so callers may ignore it.
   */
  async send (to: NodeId, body: Body): Promise<void> {
    const frame = encodeFrame(this.#encodeChecked('direct', body))
    try {
      await this.#direct.send(to, frame)
    } catch (err) {
      this.#stats.lost++
      throw err
    }
    this.#stats.messagesOut++
    this.#stats.bytesOut += frame.length
  }

  /** Adds addresses for `peer` to the peer store, so send() can dial it (members learned from gossip). */
  async addAddresses (peer: NodeId, addrs: readonly string[]): Promise<void> {
    if (peer === this.peerId) return
    const id = peerIdFromString(peer)
    const multiaddrs: Multiaddr[] = []
    for (const text of addrs.slice(0, WIRE_LIMITS.addrs)) {
      let ma: Multiaddr
      try {
        ma = multiaddr(text)
      } catch {
        continue
      }
      // An address naming another peer would make libp2p dial someone else for this one.
      const named = ma.getComponents().findLast((c) => c.name === 'p2p')?.value
      if (named !== undefined && named !== peer) continue
      multiaddrs.push(ma)
    }
    if (multiaddrs.length > 0) await this.#libp2p.peerStore.merge(id, { multiaddrs })
  }

  on<K extends keyof Listeners> (event: K, fn: Listeners[K]): () => void {
    const set = this.#listeners[event] as Set<Listeners[K]>
    set.add(fn)
    return () => { set.delete(fn) }
  }

  connectedPeers (): NodeId[] {
    return this.#libp2p.getPeers().map((p) => p.toString())
  }

  meshPeers (topic: Topic): NodeId[] {
    return this.#pubsub.getMeshPeers(this.#topicNames[topic])
  }

  /** Gossipsub's score of `peer` here (cached up to one heartbeat, 1 s). */
  score (peer: NodeId): number {
    return this.#pubsub.getScore(peer)
  }

  stats (): MeshHostStats {
    return { ...this.#stats, streamsOpened: this.#direct.opened }
  }

  async stop (): Promise<void> {
    if (this.#state === 'stopped') return
    this.#state = 'stopped'
    this.#denyWatcher?.stop()
    this.#bootstrap.stop()
    await this.#direct.stop().catch(() => {})
    await this.#libp2p.stop()
    this.#log({ peerId: this.peerId }, 'mesh host stopped')
  }

  /** TEST ONLY: publishes `data` as is (no envelope, no checks), as a misbehaving peer would. */
  async unsafePublishRawForTests (topic: Topic, data: Uint8Array): Promise<void> {
    await this.#pubsub.publish(this.#topicNames[topic], data)
  }

  /** TEST ONLY: writes `streamBytes` as is on a direct stream to `to` (no framing, no checks). */
  async unsafeSendRawForTests (to: NodeId, streamBytes: Uint8Array): Promise<void> {
    await this.#direct.sendAlone(to, streamBytes)
  }

  // ---- inbound ----

  #validator (topic: Topic) {
    return (propagationSource: { toString (): string }, msg: Message): TopicValidatorResult => {
      this.#stats.bytesIn += msg.data.length
      const source = propagationSource.toString()
      // StrictSign has checked the signature; an unsigned message cannot reach us, but say so if it does.
      if (msg.type !== 'signed') return this.#reject(source, topic, 'unsigned gossip message')
      const verdict = validateMessage(msg.data, {
        fleet: this.fleet, from: msg.from.toString(), channel: topic, now: this.#now(), maxSkewMs: this.#maxSkewMs,
      })
      if (verdict.result === 'reject') return this.#reject(source, topic, verdict.reason)
      if (verdict.result === 'ignore' || !this.#fresh(verdict.message, topic)) {
        this.#stats.ignored++
        return TopicValidatorResult.Ignore
      }
      this.#accepted.set(msg.data, verdict.message)
      return TopicValidatorResult.Accept
    }
  }

  #fresh (m: MeshMessage, topic: Topic): boolean {
    if (this.#isFresh === undefined) return true
    try {
      return this.#isFresh(m, topic)
    } catch (err) {
      // gossipsub would swallow it as an ignore; a throwing core is a bug and must surface.
      queueMicrotask(() => { throw err })
      return false
    }
  }

  #onGossip (msg: Message): void {
    const topic = this.#topicByName.get(msg.topic)
    if (topic === undefined || msg.type !== 'signed') return
    const message = this.#accepted.get(msg.data)
    assert(message !== undefined, `gossip on ${topic} delivered without passing our validator`)
    this.#accepted.delete(msg.data)
    this.#stats.messagesIn++
    this.#emit('message', msg.from.toString(), message, topic)
  }

  #onDirectFrame (from: NodeId, bytes: Uint8Array): void {
    this.#stats.bytesIn += bytes.length
    const verdict = validateMessage(bytes, {
      fleet: this.fleet, from, channel: 'direct', now: this.#now(), maxSkewMs: this.#maxSkewMs,
    })
    if (verdict.result === 'reject') {
      this.#reject(from, 'direct', verdict.reason)
      return
    }
    if (verdict.result === 'ignore') {
      this.#stats.ignored++
      return
    }
    this.#stats.messagesIn++
    this.#emit('message', from, verdict.message, 'direct')
  }

  #reject (from: NodeId, channel: Channel, reason: string): TopicValidatorResult {
    this.#stats.rejected++
    // Deferred: inside gossipsub's validator a throwing listener would be swallowed as an ignore.
    queueMicrotask(() => { this.#emit('rejected', from, channel, reason) })
    return TopicValidatorResult.Reject
  }

  // ---- outbound ----

  /** Our envelope for `body`, checked by the validator our peers run: a core bug fails here, loudly. */
  #encodeChecked (channel: Channel, body: Body): Uint8Array {
    if (this.#state !== 'running') throw new Error(`the mesh host is ${this.#state}`)
    assert(CHANNEL_BODIES[channel].has(body.case), `a ${body.case} body cannot go on ${channel}`)
    const now = this.#now()
    const bytes = encodeMessage({ fleet: this.fleet, sender: this.peerId, timeMs: now, body })
    const max = channel === 'direct' ? MAX_DIRECT_MESSAGE_BYTES : MAX_MESSAGE_BYTES
    if (bytes.length > max) throw new MessageTooLargeError(bytes.length, max, channel, body.case)
    const verdict = validateMessage(bytes, { fleet: this.fleet, from: this.peerId, channel, now, maxSkewMs: this.#maxSkewMs })
    assert(verdict.result === 'accept', `our own ${body.case} message would be refused: ${verdict.result === 'accept' ? '' : verdict.reason}`)
    return bytes
  }

  #emit<K extends keyof Listeners> (event: K, ...args: Parameters<Listeners[K]>): void {
    for (const fn of [...this.#listeners[event]]) (fn as (...a: Parameters<Listeners[K]>) => void)(...args)
  }
}
