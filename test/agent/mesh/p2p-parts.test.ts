// The libp2p driver's pure parts: the fleet key file, peer score parameters (and the figures
// docs/mesh-network.md quotes), bootstrap parsing and backoff, direct-stream framing.
import t from 'tap'
import type { PeerScoreParams } from '@libp2p/gossipsub/score'
import { seededRng, type Rng } from '../../../agent/lib/rng.js'
import { Bootstrapper, BootstrapAddressError, parseBootstrap, redialDelayMs } from '../../../agent/mesh/p2p/bootstrap.js'
import { encodeFrame, FrameDecoder } from '../../../agent/mesh/p2p/direct.js'
import { FleetKeyError, formatFleetKey, generateFleetKey, parseFleetKey, pnetKeyBytes } from '../../../agent/mesh/p2p/fleet-key.js'
import { LOOPBACK_IPS, meshScoreParams, meshScoreThresholds } from '../../../agent/mesh/p2p/score.js'
import { directProtocol, isFleetName, topicName } from '../../../agent/mesh/p2p/wire.js'

const HEX = '0123456789abcdef'.repeat(4)

t.test('fleet key: generate, parse, format round trip', async (t) => {
  const text = generateFleetKey()
  t.match(text, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
  const key = parseFleetKey(text, 'gen')
  t.equal(key.length, 32)
  t.equal(formatFleetKey(key), text)
  t.not(generateFleetKey(), text, 'two keys differ')
  // What pnet takes: the file's three lines.
  t.equal(new TextDecoder().decode(pnetKeyBytes(key)), text.trimEnd())
})

t.test('fleet key: what editors do to the file is accepted', async (t) => {
  const expect = Buffer.from(HEX, 'hex')
  const rows: Array<[string, string]> = [
    ['CRLF line ends', `/key/swarm/psk/1.0.0/\r\n/base16/\r\n${HEX}\r\n`],
    ['no final newline', `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}`],
    ['upper-case hex', `/key/swarm/psk/1.0.0/\n/base16/\n${HEX.toUpperCase()}\n`],
    ['blank lines and spaces around', `\n  /key/swarm/psk/1.0.0/  \n\n/base16/\n ${HEX} \n\n`],
  ]
  for (const [name, text] of rows) t.same(Buffer.from(parseFleetKey(text, 'f')), expect, name)
})

t.test('fleet key: each problem is named, with the source', async (t) => {
  const rows: Array<[string, string, RegExp]> = [
    ['empty', '', /the file is empty/],
    ['only blank lines', '\n\n \n', /the file is empty/],
    ['a raw hex key', HEX, /line 1 is "0123456789abcdef0123456789abcdef01234567…", not "\/key\/swarm\/psk\/1.0.0\/"/],
    ['wrong header', `/key/swarm/psk/2.0.0/\n/base16/\n${HEX}`, /line 1 is "\/key\/swarm\/psk\/2.0.0\/"/],
    ['header only', '/key/swarm/psk/1.0.0/\n', /1 non-empty lines, not 3/],
    ['no key line', '/key/swarm/psk/1.0.0/\n/base16/\n', /2 non-empty lines, not 3/],
    ['base64 codec', `/key/swarm/psk/1.0.0/\n/base64/\n${HEX}`, /line 2 is "\/base64\/"; only "\/base16\/" keys are supported/],
    ['an extra line', `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\n${HEX}`, /4 non-empty lines, not 3/],
    ['not hex', `/key/swarm/psk/1.0.0/\n/base16/\n${HEX.slice(0, 63)}g`, /not hex digits/],
    ['63 digits', `/key/swarm/psk/1.0.0/\n/base16/\n${HEX.slice(0, 63)}`, /63 hex digits, not 64/],
    ['66 digits', `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}ab`, /66 hex digits, not 64/],
    ['all zeros', `/key/swarm/psk/1.0.0/\n/base16/\n${'0'.repeat(64)}`, /all zeros/],
    ['a huge file', 'x'.repeat(5000), /5000 characters/],
  ]
  for (const [name, text, reason] of rows) {
    let err: unknown
    try {
      parseFleetKey(text, '/etc/shoal/fleet.key')
    } catch (e) {
      err = e
    }
    t.ok(err instanceof FleetKeyError, `${name}: a FleetKeyError`)
    const e = err as FleetKeyError
    t.equal(e.source, '/etc/shoal/fleet.key')
    t.match(e.message, /^\/etc\/shoal\/fleet\.key: /, `${name}: names the source`)
    t.match(e.message, reason, name)
  }
})

t.test('names: fleet, topics, protocol', async (t) => {
  t.equal(topicName('prod-a', 'health'), 'shoal/prod-a/health/1')
  t.equal(topicName('prod-a', 'members'), 'shoal/prod-a/members/1')
  t.equal(topicName('prod-a', 'coord'), 'shoal/prod-a/coord/1')
  t.equal(directProtocol('prod-a'), '/shoal/prod-a/mesh/1.0.0')
  for (const good of ['a', 'prod', 'us-east-1', 'a-', '0', 'a'.repeat(63)]) t.ok(isFleetName(good), good)
  for (const bad of ['', 'Prod', 'a/b', '-a', 'a b', 'a_b', 'a'.repeat(64), 'é']) t.notOk(isFleetName(bad), JSON.stringify(bad))
})

interface TopicHistory { invalid: number, inMeshMs: number, firstDeliveries: number }

/**
 * Gossipsub v1.1's score (spec, and packages/gossipsub/src/score/compute-score.ts, which the package
 * does not export) for the terms Shoal uses: P1, P2, P4 per topic, the positive cap, P6. The live
 * score is checked against real hosts in p2p-security.test.ts.
 */
function scoreOf (params: PeerScoreParams, topics: Record<string, TopicHistory>, peersOnIp = 0, ip = '10.0.0.1'): number {
  let score = 0
  for (const [name, h] of Object.entries(topics)) {
    const p = params.topics[name]!
    const p1 = Math.min(h.inMeshMs / p.timeInMeshQuantum, p.timeInMeshCap) * p.timeInMeshWeight
    const p2 = Math.min(h.firstDeliveries, p.firstMessageDeliveriesCap) * p.firstMessageDeliveriesWeight
    const p4 = h.invalid * h.invalid * p.invalidMessageDeliveriesWeight
    score += (p1 + p2 + p4) * p.topicWeight
  }
  if (params.topicScoreCap > 0) score = Math.min(score, params.topicScoreCap)
  if (!params.IPColocationFactorWhitelist.has(ip) && peersOnIp > params.IPColocationFactorThreshold) {
    score += (peersOnIp - params.IPColocationFactorThreshold) ** 2 * params.IPColocationFactorWeight
  }
  return score
}

t.test('peer score: the figures docs/mesh-network.md quotes', async (t) => {
  const topics = ['shoal/a/members/1', 'shoal/a/health/1', 'shoal/a/coord/1']
  const params = meshScoreParams(topics, false)
  const th = meshScoreThresholds()
  const topic = topics[0]!
  const score = (invalid: number, inMeshMs = 0, firstDeliveries = 0): number =>
    scoreOf(params, { [topic]: { invalid, inMeshMs, firstDeliveries } })
  t.same(Object.keys(params.topics).sort(), [...topics].sort(), 'every topic is scored (P4 counts nowhere else)')
  t.equal(score(0), 0, 'a new peer')
  t.equal(score(1), -10, 'one invalid message')
  t.equal(score(2), -40, 'two')
  t.equal(score(3), -90, 'three')
  t.ok(score(3) < th.graylistThreshold, 'three invalid messages graylist a new peer')
  // The best possible history (an hour in mesh, many first deliveries) on every topic is capped at +10.
  const best = scoreOf(params, Object.fromEntries(topics.map((tp) => [tp, { invalid: 0, inMeshMs: 3_600_000, firstDeliveries: 1000 }])))
  t.equal(best, 10, 'positive part capped at 10')
  t.equal(scoreOf(params, { [topic]: { invalid: 0, inMeshMs: 3_600_000, firstDeliveries: 1000 } }), 6, 'one topic: +1 (P1) +5 (P2)')
  const bestWith = (invalid: number): number => scoreOf(params, {
    ...Object.fromEntries(topics.map((tp) => [tp, { invalid: 0, inMeshMs: 3_600_000, firstDeliveries: 1000 }])),
    [topic]: { invalid, inMeshMs: 3_600_000, firstDeliveries: 1000 },
  })
  t.equal(bestWith(1), 8, 'the best peer after one invalid message')
  t.equal(bestWith(2), -22, 'after two: below zero, out of the mesh')
  t.equal(bestWith(3), -72, 'after three: below the publish threshold')
  t.ok(bestWith(3) < th.publishThreshold && bestWith(3) > th.graylistThreshold)
  t.equal(bestWith(4), -142, 'after four: graylisted')
  t.ok(bestWith(4) < th.graylistThreshold)
  t.equal(score(0, 60_000), 60 / 3600, 'a minute in mesh is worth 1/60')
  // The invalid count halves in about 70 s at one decay per second.
  const p4 = params.topics[topic]!
  t.ok(Math.abs(p4.invalidMessageDeliveriesDecay ** 69 - 0.5) < 0.01, 'half-life about 69 s')
  t.equal(params.decayInterval, 1000)
  t.equal(p4.meshMessageDeliveriesWeight, 0, 'P3 off')
  t.equal(p4.meshFailurePenaltyWeight, 0, 'P3b off')
  t.ok(th.gossipThreshold >= th.publishThreshold && th.publishThreshold >= th.graylistThreshold)
  t.ok(th.opportunisticGraftThreshold < params.topicScoreCap, 'opportunistic grafting is reachable')
})

t.test('peer score: IP colocation is waived on loopback only', async (t) => {
  const loop = meshScoreParams(['x'], true)
  const prod = meshScoreParams(['x'], false)
  t.same([...loop.IPColocationFactorWhitelist], LOOPBACK_IPS)
  t.equal(prod.IPColocationFactorWhitelist.size, 0)
  t.equal(prod.IPColocationFactorWeight, -5)
  t.equal(prod.IPColocationFactorThreshold, 10)
  // 13 peers on 127.0.0.1: −45 in production (pitfall 8), 0 on loopback.
  const none = { x: { invalid: 0, inMeshMs: 0, firstDeliveries: 0 } }
  t.equal(scoreOf(prod, none, 13, '127.0.0.1'), -45)
  t.equal(scoreOf(loop, none, 13, '127.0.0.1'), 0)
})

const ID1 = '12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X'
const ID2 = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'

t.test('bootstrap addresses: grouped by peer, self dropped, /p2p/ required', async (t) => {
  const targets = parseBootstrap([
    `/ip4/10.0.0.1/tcp/4001/p2p/${ID1}`,
    `/ip4/10.0.0.2/tcp/4001/p2p/${ID2}`,
    `/dns4/seed.example/tcp/4001/p2p/${ID1}`,
    `/ip4/10.0.0.9/tcp/4001/p2p/${'12D3KooWSelf'}`,
  ], '12D3KooWSelf')
  t.same(targets.map((x) => [x.peer, x.addrs.map(String)]), [
    [ID1, [`/ip4/10.0.0.1/tcp/4001/p2p/${ID1}`, `/dns4/seed.example/tcp/4001/p2p/${ID1}`]],
    [ID2, [`/ip4/10.0.0.2/tcp/4001/p2p/${ID2}`]],
  ])
  t.throws(() => parseBootstrap(['/ip4/10.0.0.1/tcp/4001'], 'x'), { name: 'BootstrapAddressError', message: /has no \/p2p\/<peer id>/ })
  t.throws(() => parseBootstrap(['10.0.0.1:4001'], 'x'), BootstrapAddressError)
  t.same(parseBootstrap([], 'x'), [])
})

const fixed = (v: number): Rng => ({ next: () => v })

t.test('redial delay: doubles from the minimum, caps at the maximum, jitter in [0.5, 1)', async (t) => {
  const rows: Array<[number, number, number]> = [
    // attempt, rng, delay (min 500, max 30,000)
    [1, 0, 250], [1, 0.999999, 500], [2, 0, 500], [3, 0, 1000], [6, 0, 8000], [7, 0, 15_000],
    [7, 0.999999, 30_000], [8, 0, 15_000], [60, 0, 15_000], [60, 0.5, 22_500], [0, 0, 250],
  ]
  for (const [attempt, r, delay] of rows) t.equal(redialDelayMs(attempt, 500, 30_000, fixed(r)), delay, `attempt ${attempt}, rng ${r}`)
})

t.test('bootstrapper: retries with backoff until connected, redials on disconnect, stops', { timeout: 10_000 }, async (t) => {
  const target = parseBootstrap([`/ip4/127.0.0.1/tcp/1/p2p/${ID1}`], 'x')[0]!
  let dials = 0
  let failFirst = 3
  const logs: Array<Record<string, unknown>> = []
  let clock = 0
  let boot!: Bootstrapper
  const settled: Array<() => void> = []
  boot = new Bootstrapper([target], async () => {
    dials++
    settled.shift()?.()
    if (failFirst > 0) {
      failFirst--
      throw new Error('refused')
    }
    boot.onConnect(ID1)
  }, { bootstrapBackoffMinMs: 2, bootstrapBackoffMaxMs: 8 }, seededRng(1), () => clock, (o) => { logs.push(o as Record<string, unknown>) })
  const nextDial = async (): Promise<void> => { await new Promise<void>((resolve) => settled.push(resolve)) }
  boot.start()
  for (let i = 0; i < 4; i++) await nextDial()
  t.equal(dials, 4, 'three failures, then a success')
  t.same(logs.map((l) => l.attempt), [1, 2, 3], 'each failure logged with its attempt')
  boot.onConnect(ID1)
  boot.onConnect(ID2) // not a bootstrap peer: ignored
  // A connection that drops at once keeps its backoff; the redial comes.
  boot.onDisconnect(ID1)
  await nextDial()
  t.equal(dials, 5, 'redialled after a disconnect')
  // A long-lived connection resets the count.
  clock = 100
  boot.onDisconnect(ID1)
  await nextDial()
  t.equal(dials, 6)
  boot.stop()
  boot.onDisconnect(ID1)
  boot.start()
  t.equal(dials, 6, 'nothing after stop')
})

/** Feeds `parts` to a decoder; returns the frames, then how the stream ended ('end' or the error). */
function decode (maxBytes: number, ...parts: Array<Uint8Array | number[]>): { frames: Uint8Array[], ended: string } {
  const d = new FrameDecoder(maxBytes)
  const frames: Uint8Array[] = []
  try {
    for (const p of parts) frames.push(...d.push(Uint8Array.from(p)))
    d.end()
    return { frames, ended: 'end' }
  } catch (err) {
    return { frames, ended: `${(err as Error).name}: ${(err as Error).message}` }
  }
}

t.test('frames: many per stream, whole, in order, bounded', async (t) => {
  const body = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff)
  const frame = encodeFrame(body)
  const other = encodeFrame(Uint8Array.from([7, 8, 9]))
  const empty = encodeFrame(new Uint8Array(0))
  t.same([...frame.subarray(0, 4)], [0, 0, 1, 44])
  const both = new Uint8Array([...frame, ...empty, ...other])
  const cases: Array<{ name: string, max: number, parts: Array<Uint8Array | number[]>, frames: Uint8Array[], ended: string | RegExp }> = [
    { name: 'one frame in one chunk', max: 1000, parts: [frame], frames: [body], ended: 'end' },
    { name: 'three frames in one chunk', max: 1000, parts: [both], frames: [body, new Uint8Array(0), Uint8Array.from([7, 8, 9])], ended: 'end' },
    { name: 'three frames one byte at a time', max: 1000, parts: [...both].map((b) => [b]), frames: [body, new Uint8Array(0), Uint8Array.from([7, 8, 9])], ended: 'end' },
    { name: 'a chunk boundary inside the header', max: 1000, parts: [both.subarray(0, 2), both.subarray(2, 306), both.subarray(306)], frames: [body, new Uint8Array(0), Uint8Array.from([7, 8, 9])], ended: 'end' },
    { name: 'an empty frame at the end of a chunk', max: 10, parts: [empty], frames: [new Uint8Array(0)], ended: 'end' },
    { name: 'no bytes at all', max: 10, parts: [], frames: [], ended: 'end' },
    { name: 'a declared length over the bound', max: 299, parts: [frame], frames: [], ended: /FrameError: a frame of 300 bytes declared, more than the 299 allowed/ },
    { name: 'a good frame, then one over the bound', max: 10, parts: [other, frame], frames: [Uint8Array.from([7, 8, 9])], ended: /FrameError: a frame of 300 bytes declared/ },
    { name: 'the stream ends inside a body', max: 1000, parts: [frame.subarray(0, 100)], frames: [], ended: /TruncatedFrameError: the stream ended after 100 of 304 bytes/ },
    { name: 'the stream ends inside a header', max: 1000, parts: [other, [0, 0]], frames: [Uint8Array.from([7, 8, 9])], ended: /TruncatedFrameError: the stream ended after 2 of at least 4 bytes/ },
  ]
  for (const c of cases) {
    const r = decode(c.max, ...c.parts)
    t.same(r.frames, c.frames, `${c.name}: frames`)
    t.match(r.ended, c.ended, `${c.name}: end`)
  }
  // A chunk that is a view into a larger buffer (how yamux hands them over).
  const big = new Uint8Array(frame.length + 10)
  big.set(frame, 10)
  t.same(new FrameDecoder(1000).push(big.subarray(10)), [body], 'a view with an offset')
  // pending: bytes of an unfinished frame, so the reader knows when a read timeout applies.
  const d = new FrameDecoder(1000)
  t.equal(d.pending, 0)
  d.push(frame.subarray(0, 2))
  t.equal(d.pending, 2, 'half a header')
  d.push(frame.subarray(2, 10))
  t.equal(d.pending, 10, 'a header and 6 body bytes')
  t.equal(d.push(frame.subarray(10)).length, 1)
  t.equal(d.pending, 0, 'between frames')
  t.throws(() => new FrameDecoder(-1), /is not a byte count/)
})
