// Only fleet members connect, and a member that sends forged or malformed messages is refused and
// loses gossipsub score (DESIGN.md §4, §11). Real libp2p on 127.0.0.1; the attacker is a host with
// the fleet key that bypasses our encoder through the explicit test hooks.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import { noise } from '@chainsafe/libp2p-noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import {
  CommandAckSchema, HealthUpdateSchema, MemberState, MemberUpdateSchema, NodeMetaSchema, PingSchema,
} from '../../../proto/gen/shoal_pb.js'
import { seededRng } from '../../../agent/lib/rng.js'
import type { Body, NodeId, Topic } from '../../../agent/mesh/types.js'
import { encodeFrame } from '../../../agent/mesh/p2p/direct.js'
import { generateFleetKey, parseFleetKey } from '../../../agent/mesh/p2p/fleet-key.js'
import type { MeshHost } from '../../../agent/mesh/p2p/host.js'
import { FLEET, host, until } from './fixtures/hosts.js'
import { encodeMessage, type Channel } from '../../../agent/mesh/p2p/wire.js'


interface Rejection { from: NodeId, channel: Channel, reason: string }

function rejections (h: MeshHost): Rejection[] {
  const got: Rejection[] = []
  h.on('rejected', (from, channel, reason) => { got.push({ from, channel, reason }) })
  return got
}

function senders (h: MeshHost): NodeId[] {
  const got: NodeId[] = []
  h.on('message', (from) => { got.push(from) })
  return got
}

const member = (node: NodeId, reporter = node): Body =>
  ({ case: 'member', value: create(MemberUpdateSchema, { node, reporter, state: MemberState.ALIVE, incarnation: 1 }) })
const health = (node: NodeId): Body =>
  ({ case: 'health', value: create(HealthUpdateSchema, { node, incarnation: 1, seq: 1, timeMs: Date.now() }) })
const ping = (target: NodeId): Body => ({ case: 'ping', value: create(PingSchema, { seq: 1, target }) })
const wire = (sender: NodeId, body: Body, fleet = FLEET): Uint8Array => encodeMessage({ fleet, sender, timeMs: Date.now(), body })

t.test('a host with another fleet key cannot connect', { timeout: 30_000 }, async (t) => {
  // A wrong key garbles Noise's length prefixes: the handshake fails at once, or (when a garbled
  // length happens to be small) waits for bytes that never come until the send times out.
  const victim = await host(t, { config: { sendTimeoutMs: 1000 } })
  const failures: Array<Record<string, unknown>> = []
  const outsider = await host(t, {
    fleetKey: parseFleetKey(generateFleetKey(), 'other key'),
    bootstrap: victim.addrs(),
    log: (o, msg) => { if (msg === 'bootstrap peer dial failed') failures.push(o as Record<string, unknown>) },
  })
  // The dial may fail fast (pnet handshake garbage) or run out its 5 s timeout on a busy host.
  await until('the outsider\'s bootstrap dial to fail', () => failures.length > 0, 15_000)
  t.equal(failures[0]!.peer, victim.peerId)
  t.same(outsider.connectedPeers(), [], 'no connection on the outsider\'s side')
  t.same(victim.connectedPeers(), [], 'none on the victim\'s side')
  // Nor the other way round.
  await victim.addAddresses(outsider.peerId, outsider.addrs())
  await t.rejects(victim.send(outsider.peerId, ping(outsider.peerId)), 'the victim cannot reach the outsider either')
  t.same(victim.connectedPeers(), [])
})

t.test('a host with no fleet key at all cannot connect', { timeout: 15_000 }, async (t) => {
  const victim = await host(t, { config: { sendTimeoutMs: 1000 } })
  const plain = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  })
  t.teardown(() => plain.stop())
  await t.rejects(plain.dial(multiaddr(victim.addrs()[0]!), { signal: AbortSignal.timeout(1000) }), 'dial from outside the fleet fails')
  t.equal(plain.getConnections().length, 0)
  const plainId = plain.peerId.toString()
  await victim.addAddresses(plainId, plain.getMultiaddrs().map(String))
  await t.rejects(victim.send(plainId, ping(plainId)), 'dial into a keyless host fails')
  t.same(victim.connectedPeers(), [])
  t.equal(plain.getConnections().length, 0)
})

interface Attack {
  name: string
  topic: Topic
  bytes: (attacker: NodeId, honest: NodeId) => Uint8Array
  reason: RegExp
}

const random = seededRng(0xbad5eed)
const BIG = (node: NodeId): Body => {
  const body = member(node)
  if (body.case === 'member') body.value.meta = create(NodeMetaSchema, { labels: { blob: 'x'.repeat(70_000) } })
  return body
}

const ATTACKS: Attack[] = [
  { name: 'envelope sender is not the signer', topic: 'members', bytes: (_x, h) => wire(h, member(h)), reason: /^sender ".*" is not the signer ".*"$/ },
  { name: 'member.reporter is not the sender', topic: 'members', bytes: (x, h) => wire(x, member(h, h)), reason: /^member\.reporter ".*" is not the sender/ },
  { name: 'health.node is not the sender', topic: 'health', bytes: (x, h) => wire(x, health(h)), reason: /^health\.node ".*" is not the sender/ },
  { name: 'random bytes', topic: 'coord', bytes: () => Uint8Array.from({ length: 200 }, () => Math.floor(random.next() * 256)), reason: /does not decode|^fleet / },
  { name: 'truncated protobuf', topic: 'members', bytes: (x) => { const b = wire(x, member(x)); return b.subarray(0, b.length - 3) }, reason: /^does not decode as a MeshMessage/ },
  { name: 'another fleet', topic: 'health', bytes: (x) => wire(x, health(x), 'other'), reason: /^fleet "other", not "test"$/ },
  { name: 'oversize', topic: 'members', bytes: (x) => wire(x, BIG(x)), reason: /bytes, more than the 65536 allowed on members$/ },
  { name: 'a body on the wrong topic', topic: 'coord', bytes: (x) => wire(x, member(x)), reason: /^a member body does not belong on coord$/ },
]

t.test('forged, malformed, foreign and oversize gossip: rejected, not delivered, not forwarded, score < 0', { timeout: 25_000 }, async (t) => {
  const victim = await host(t)
  const honest = await host(t, { bootstrap: victim.addrs() })
  const atVictim = senders(victim)
  const atHonest = senders(honest)
  const refused = rejections(victim)
  const attackers = await Promise.all(ATTACKS.map(async () => await host(t, { bootstrap: victim.addrs() })))
  await until('every attacker and the honest host meshed with the victim', () =>
    attackers.every((x, i) => x.meshPeers(ATTACKS[i]!.topic).includes(victim.peerId)) &&
    (['members', 'health', 'coord'] as const).every((tp) => honest.meshPeers(tp).includes(victim.peerId) && victim.meshPeers(tp).includes(honest.peerId)))
  await Promise.all(attackers.map(async (x, i) => {
    const a = ATTACKS[i]!
    await x.unsafePublishRawForTests(a.topic, a.bytes(x.peerId, honest.peerId))
  }))
  await until('a rejection from every attacker', () => attackers.every((x) => refused.some((r) => r.from === x.peerId)))
  for (const [i, x] of attackers.entries()) {
    const a = ATTACKS[i]!
    const mine = refused.filter((r) => r.from === x.peerId)
    t.equal(mine.length, 1, `${a.name}: one rejection`)
    t.equal(mine[0]!.channel, a.topic, `${a.name}: on ${a.topic}`)
    t.match(mine[0]!.reason, a.reason, `${a.name}: ${mine[0]!.reason.slice(0, 80)}`)
  }
  await until('every attacker scores below zero at the victim', () => attackers.every((x) => victim.score(x.peerId) < 0), 5000)
  for (const [i, x] of attackers.entries()) t.ok(victim.score(x.peerId) < 0, `${ATTACKS[i]!.name}: score ${victim.score(x.peerId)}`)
  // An honest message after the attacks reaches the honest host; nothing of the attackers' did.
  await victim.publish('members', member(victim.peerId))
  await until('the victim\'s own gossip at the honest host', () => atHonest.includes(victim.peerId))
  t.same(atHonest, [victim.peerId], 'nothing forwarded from the attackers')
  t.same(atVictim, [], 'nothing delivered to the victim\'s listeners')
  t.ok(victim.score(honest.peerId) >= 0, 'the honest peer keeps its score')
  t.equal(victim.stats().rejected, ATTACKS.length)
})

t.test('forged and malformed direct streams are rejected; a valid one goes through', { timeout: 15_000 }, async (t) => {
  const victim = await host(t)
  const x = await host(t, { bootstrap: victim.addrs() })
  const atVictim = senders(victim)
  const refused = rejections(victim)
  await until('connected', () => victim.connectedPeers().includes(x.peerId))
  const v = victim.peerId
  const rows: Array<[string, Uint8Array, RegExp]> = [
    ['sender is not the stream peer', encodeFrame(wire(v, ping(v))), /^sender ".*" is not the stream peer ".*"$/],
    ['a gossip-only body on a stream', encodeFrame(wire(x.peerId, health(x.peerId))), /^a health body does not belong on direct$/],
    ['commandAck.node is not the sender', encodeFrame(wire(x.peerId, { case: 'commandAck', value: create(CommandAckSchema, { id: 'c', node: v }) })), /^commandAck\.node/],
    ['garbage in a frame', encodeFrame(Uint8Array.from([0xff, 0xff, 0xff, 0xff])), /^does not decode/],
    ['another fleet', encodeFrame(wire(x.peerId, ping(v), 'other')), /^fleet "other"/],
    ['a frame declared at 5 MiB', Uint8Array.from([0, 0x50, 0, 0]), /^a frame of 5242880 bytes declared, more than the 4194304 allowed$/],
  ]
  for (const [name, bytes, reason] of rows) {
    const before = refused.length
    // The victim may cut the stream before the writer has closed it: the writer's error is expected.
    await x.unsafeSendRawForTests(v, bytes).catch(() => {})
    await until(`${name}: rejected`, () => refused.length > before)
    t.match(refused[before], { from: x.peerId, channel: 'direct', reason }, name)
  }
  t.same(atVictim, [], 'none delivered')
  await x.send(v, ping(v))
  await until('the valid ping', () => atVictim.length === 1)
  t.same(atVictim, [x.peerId])
  // A stream that ends inside a frame loses that frame, blames nobody, and keeps the ones before it.
  const lostBefore = victim.stats().lost
  const rejectedBefore = refused.length
  await x.unsafeSendRawForTests(v, Uint8Array.from([...encodeFrame(wire(x.peerId, ping(v))), 0, 0])).catch(() => {})
  await until('the cut-short stream counted as lost', () => victim.stats().lost > lostBefore)
  t.same(atVictim, [x.peerId, x.peerId], 'the whole frame before the cut was delivered')
  t.equal(refused.length, rejectedBefore, 'a cut-short stream is not an offence')
  t.same(victim.connectedPeers(), [x.peerId], 'the connection survives: the driver decides what to do with offenders')
})
