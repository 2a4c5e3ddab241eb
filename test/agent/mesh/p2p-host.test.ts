// MeshHost on real libp2p over 127.0.0.1: bootstrap, gossip on every topic, direct streams both
// ways, redial after a bootstrap peer restarts, the core's freshness hook, and what publish and
// send refuse. Conditions are awaited by events or bounded polling, never by sleeping.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import { generateKeyPair } from '@libp2p/crypto/keys'
import {
  AckSchema, CoordinatorAnnounceSchema, HealthUpdateSchema, MemberState, MemberUpdateSchema, NodeMetaSchema, PingSchema,
} from '../../../proto/gen/shoal_pb.js'
import { AssertionError } from '../../../agent/lib/assert.js'
import type { Body, NodeId, Topic } from '../../../agent/mesh/types.js'
import { BootstrapAddressError } from '../../../agent/mesh/p2p/bootstrap.js'
import { MeshHost } from '../../../agent/mesh/p2p/host.js'
import { FLEET, KEY, host, until } from './fixtures/hosts.js'
import { MessageTooLargeError, TOPICS, type Channel, type MeshMessage } from '../../../agent/mesh/p2p/wire.js'


interface Got { from: NodeId, message: MeshMessage, channel: Channel }

function inbox (h: MeshHost): Got[] {
  const got: Got[] = []
  h.on('message', (from, message, channel) => { got.push({ from, message, channel }) })
  return got
}

const member = (node: NodeId, reporter = node): Body =>
  ({ case: 'member', value: create(MemberUpdateSchema, { node, reporter, state: MemberState.ALIVE, incarnation: 1, addrs: [] }) })
const health = (node: NodeId, seq: number): Body =>
  ({ case: 'health', value: create(HealthUpdateSchema, { node, incarnation: 1, seq, timeMs: Date.now() }) })
const announce = (node: NodeId): Body =>
  ({ case: 'coordinator', value: create(CoordinatorAnnounceSchema, { term: 1, coordinator: node, timeMs: Date.now() }) })
const ping = (seq: number, target: NodeId): Body => ({ case: 'ping', value: create(PingSchema, { seq, target }) })
const ack = (seq: number, target: NodeId): Body => ({ case: 'ack', value: create(AckSchema, { seq, target }) })

const BODY: Record<Topic, (node: NodeId) => Body> = { members: (n) => member(n), health: (n) => health(n, 1), coord: announce }

/**
 * Every link given is in both ends' mesh on every topic. Gossip published before a mesh link forms
 * may never reach that peer (pitfall 11: no replay to late joiners), so tests wait for it.
 */
async function meshed (links: ReadonlyArray<readonly [MeshHost, MeshHost]>): Promise<void> {
  await until('the mesh links on every topic', () => links.every(([x, y]) =>
    TOPICS.every((tp) => x.meshPeers(tp).includes(y.peerId) && y.meshPeers(tp).includes(x.peerId))))
}

t.test('three hosts: bootstrap, gossip on every topic, direct streams both ways', { timeout: 20_000 }, async (t) => {
  const a = await host(t)
  const b = await host(t, { bootstrap: a.addrs() })
  const c = await host(t, { bootstrap: a.addrs() })
  const [gotA, gotB, gotC] = [inbox(a), inbox(b), inbox(c)]
  t.match(a.addrs()[0], new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${a.peerId}$`))
  await until('a connected to b and c', () => a.connectedPeers().length === 2)
  t.same(b.connectedPeers(), [a.peerId], 'b knows only its bootstrap peer')
  await meshed([[a, b], [a, c]])
  t.same(a.meshPeers('health').sort(), [b.peerId, c.peerId].sort())

  // b's gossip reaches a directly and c through a, on each topic, as b's and on that topic.
  for (const topic of TOPICS) {
    await b.publish(topic, BODY[topic](b.peerId))
    await until(`${topic} from b at a and c`, () =>
      [gotA, gotC].every((got) => got.some((g) => g.channel === topic && g.from === b.peerId)))
  }
  for (const got of [gotA, gotC]) {
    t.same(got.map((g) => [g.channel, g.from, g.message.body.case, g.message.sender, g.message.fleet]), [
      ['members', b.peerId, 'member', b.peerId, FLEET],
      ['health', b.peerId, 'health', b.peerId, FLEET],
      ['coord', b.peerId, 'coordinator', b.peerId, FLEET],
    ])
  }
  t.equal(gotB.length, 0, 'no echo of our own messages')
  await c.publish('health', health(c.peerId, 2))
  await until('c\'s health at b', () => gotB.some((g) => g.from === c.peerId && g.channel === 'health'))

  // Direct: a <-> b over their connection.
  await a.send(b.peerId, ping(1, b.peerId))
  await until('ping at b', () => gotB.some((g) => g.channel === 'direct'))
  await b.send(a.peerId, ack(1, b.peerId))
  await until('ack at a', () => gotA.some((g) => g.channel === 'direct'))
  t.match(gotB.find((g) => g.channel === 'direct'), { from: a.peerId, message: { sender: a.peerId, body: { case: 'ping', value: { seq: 1 } } } })
  t.match(gotA.find((g) => g.channel === 'direct'), { from: b.peerId, message: { body: { case: 'ack', value: { seq: 1, target: b.peerId } } } })

  // b has never heard of c's address: the send fails (SWIM counts it as loss) until it learns it.
  await t.rejects(b.send(c.peerId, ping(2, c.peerId)), 'no address for c yet')
  const connects: NodeId[] = []
  b.on('peer:connect', (p) => { connects.push(p) })
  await b.addAddresses(c.peerId, c.addrs())
  await b.send(c.peerId, ping(3, c.peerId))
  await until('ping at c', () => gotC.some((g) => g.channel === 'direct' && g.from === b.peerId))
  t.same(connects, [c.peerId], 'the send dialled c')
  await c.send(b.peerId, ack(3, c.peerId))
  await until('ack at b from c', () => gotB.some((g) => g.channel === 'direct' && g.from === c.peerId))

  // Several sends in flight to one peer, both ways at once.
  await Promise.all([
    ...Array.from({ length: 20 }, async (_, i) => { await a.send(c.peerId, ping(100 + i, c.peerId)) }),
    ...Array.from({ length: 20 }, async (_, i) => { await c.send(a.peerId, ping(200 + i, a.peerId)) }),
  ])
  await until('20 pings each way', () =>
    new Set(gotC.filter((g) => g.from === a.peerId).map((g) => (g.message.body.value as { seq: number }).seq)).size === 20 &&
    gotA.filter((g) => g.from === c.peerId && g.channel === 'direct').length === 20)
  const seqs = gotC.filter((g) => g.from === a.peerId && g.channel === 'direct').map((g) => (g.message.body.value as { seq: number }).seq)
  t.same(seqs, Array.from({ length: 20 }, (_, i) => 100 + i), 'frames to one peer arrive in the order they were sent')
  t.equal(a.stats().streamsOpened, 2, 'a opened one stream per peer (b, c): one carried all 20 pings to c')
  t.equal(c.stats().streamsOpened, 2, 'c opened one stream per peer (b, a)')

  const sb = b.stats()
  t.equal(sb.messagesOut, 5, 'b: three publishes, an ack, a ping (the failed send is not counted)')
  t.ok(sb.bytesOut > 0 && sb.lost === 1, `b sent ${sb.bytesOut} bytes, lost the send to an unknown address`)
  const sa = a.stats()
  t.ok(sa.messagesIn >= 5 && sa.bytesIn > 0, `a received ${sa.messagesIn} messages, ${sa.bytesIn} bytes`)
  t.equal(sa.rejected + sb.rejected + c.stats().rejected, 0, 'nothing rejected among honest hosts')
  for (const [x, y] of [[a, b], [a, c], [b, a]] as const) t.ok(x.score(y.peerId) >= 0, 'honest peers score >= 0')
})

t.test('a host redials its bootstrap peer after that peer restarts', { timeout: 20_000 }, async (t) => {
  const keyA = await generateKeyPair('Ed25519')
  const a = await host(t, { privateKey: keyA })
  const port = /\/tcp\/(\d+)\//.exec(a.addrs()[0]!)![1]
  const logs: string[] = []
  const b = await host(t, {
    bootstrap: a.addrs(),
    config: { bootstrapBackoffMinMs: 20, bootstrapBackoffMaxMs: 200 },
    log: (_o, msg) => { logs.push(msg) },
  })
  await until('b connected to a', () => b.connectedPeers().includes(a.peerId))
  const gone = new Promise<void>((resolve) => b.on('peer:disconnect', (p) => { if (p === a.peerId) resolve() }))
  await a.stop()
  await gone
  const back = new Promise<void>((resolve) => b.on('peer:connect', (p) => { if (p === a.peerId) resolve() }))
  const a2 = await host(t, { privateKey: keyA, listen: [`/ip4/127.0.0.1/tcp/${port}`] })
  t.equal(a2.peerId, a.peerId, 'same identity, same address')
  await back
  t.ok(logs.includes('mesh host started'))
  await meshed([[a2, b]])
  const got = inbox(a2)
  await b.publish('members', member(b.peerId))
  await until('gossip flows again', () => got.length === 1)
})

t.test('the core\'s freshness check: stale gossip is ignored, not rejected', { timeout: 20_000 }, async (t) => {
  const a = await host(t)
  const stale: string[] = []
  const d = await host(t, {
    bootstrap: a.addrs(),
    isFresh: (m, channel) => {
      if (m.body.case === 'health' && m.body.value.seq < 10) {
        stale.push(channel)
        return false
      }
      return true
    },
  })
  const got = inbox(d)
  const rejected: string[] = []
  d.on('rejected', (_f, _c, reason) => { rejected.push(reason) })
  await meshed([[a, d]])
  await a.publish('health', health(a.peerId, 1))
  await a.publish('health', health(a.peerId, 11))
  await until('the fresh one arrives and the stale one was seen', () => got.length === 1 && stale.length === 1)
  t.same(stale, ['health'])
  t.match(got[0], { channel: 'health', message: { body: { value: { seq: 11 } } } })
  t.equal(d.stats().ignored, 1)
  t.same(rejected, [])
  t.ok(d.score(a.peerId) >= 0, 'an ignore costs no score')
})

t.test('what publish and send refuse', { timeout: 20_000 }, async (t) => {
  const a = await host(t)
  // A one-host fleet publishes into the void without error (allowPublishToZeroTopicPeers).
  for (const topic of TOPICS) await a.publish(topic, BODY[topic](a.peerId))
  await t.rejects(a.publish('members', ping(1, a.peerId)), AssertionError, 'a body on the wrong channel is a bug')
  await t.rejects(a.send(a.peerId, health(a.peerId, 1)), AssertionError, 'health goes by gossip, not direct')
  await t.rejects(a.publish('members', member('12D3KooWOther', '12D3KooWOther')), { name: 'AssertionError', message: /would be refused: member.reporter/ },
    'our own message that peers would reject')
  const big = member(a.peerId)
  if (big.case === 'member') big.value.meta = create(NodeMetaSchema, { labels: { blob: 'x'.repeat(70_000) } })
  await t.rejects(a.publish('members', big), MessageTooLargeError)
  await t.rejects(a.send('12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X', ping(1, a.peerId)), 'an unknown peer')
  await t.rejects(a.send('not a peer id', ping(1, a.peerId)), 'a malformed peer id')
  await a.stop()
  await t.rejects(a.publish('members', member(a.peerId)), /the mesh host is stopped/)
  await a.stop()
})

t.test('what create refuses', async (t) => {
  const privateKey = await generateKeyPair('Ed25519')
  const base = { privateKey, fleet: FLEET, fleetKey: KEY, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], now: () => 0 }
  await t.rejects(MeshHost.create({ ...base, fleet: 'Bad/Fleet' }), { name: 'RangeError', message: /"Bad\/Fleet" is not a fleet name/ })
  await t.rejects(MeshHost.create({ ...base, fleetKey: new Uint8Array(16) }), { name: 'RangeError', message: /16 bytes, not 32/ })
  await t.rejects(MeshHost.create({ ...base, bootstrap: ['/ip4/127.0.0.1/tcp/1'] }), BootstrapAddressError)
})
