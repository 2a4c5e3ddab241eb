// validateMessage, the gate before every mesh core (DESIGN.md §4, §11): one table row per rule,
// then a seeded fuzz loop over random bytes and mutated valid messages.
import t from 'tap'
import { create, toBinary } from '@bufbuild/protobuf'
import {
  AckSchema, BootGateSchema, CommandAckSchema, CommandRequestSchema, CommandResultSchema, CommandSchema, PoolsReportSchema,
  CoordinatorAnnounceSchema, CouncilSchema, DigestEntrySchema, GpuSummarySchema, HealthUpdateSchema,
  IncidentSchema, LeaseAckSchema, LeaseRenewSchema, MemberState, MemberUpdateSchema, MeshMessageSchema,
  NackSchema, NodeMetaSchema, PingReqSchema, PingSchema, PushPullSchema, ReasonSchema, VerdictSchema,
  VoteReplySchema, VoteRequestSchema,
} from '../../../proto/gen/shoal_pb.js'
import { seededRng } from '../../../agent/lib/rng.js'
import type { Body, BodyCase, BodyOf } from '../../../agent/mesh/types.js'
import {
  CHANNEL_BODIES, DEFAULT_MAX_SKEW_MS, encodeMessage, MAX_DIRECT_MESSAGE_BYTES, MAX_MESSAGE_BYTES, TOPICS,
  validateMessage, WIRE_LIMITS, type Channel, type Verdict,
} from '../../../agent/mesh/p2p/wire.js'

const FLEET = 'alpha'
const A = '12D3KooWAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
const B = '12D3KooWBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'
const NOW = 1_750_000_000_000
const CHANNELS: readonly Channel[] = [...TOPICS, 'direct']

/** A valid body of each kind, as node A would send it. */
const VALID: Record<BodyCase, () => Body> = {
  member: () => ({ case: 'member', value: create(MemberUpdateSchema, { node: B, state: MemberState.SUSPECT, incarnation: 3, reporter: A }) }),
  health: () => ({ case: 'health', value: create(HealthUpdateSchema, { node: A, incarnation: 1, seq: 7, timeMs: NOW }) }),
  coordinator: () => ({ case: 'coordinator', value: create(CoordinatorAnnounceSchema, { term: 4, coordinator: A, timeMs: NOW, council: create(CouncilSchema, { epoch: 2, members: [A, B] }) }) }),
  ping: () => ({ case: 'ping', value: create(PingSchema, { seq: 1, target: B }) }),
  ack: () => ({ case: 'ack', value: create(AckSchema, { seq: 1, target: A }) }),
  nack: () => ({ case: 'nack', value: create(NackSchema, { seq: 1, target: B }) }),
  pingReq: () => ({ case: 'pingReq', value: create(PingReqSchema, { seq: 2, target: B }) }),
  pushPull: () => ({ case: 'pushPull', value: create(PushPullSchema, { digest: [create(DigestEntrySchema, { node: B, state: MemberState.ALIVE, incarnation: 1 })] }) }),
  voteRequest: () => ({ case: 'voteRequest', value: create(VoteRequestSchema, { term: 5, candidate: A, epoch: 1 }) }),
  voteReply: () => ({ case: 'voteReply', value: create(VoteReplySchema, { term: 5, voter: A, granted: true, epoch: 1 }) }),
  leaseRenew: () => ({ case: 'leaseRenew', value: create(LeaseRenewSchema, { term: 5, coordinator: A, leaseSeq: 9, council: create(CouncilSchema, { epoch: 1, members: [A] }) }) }),
  leaseAck: () => ({ case: 'leaseAck', value: create(LeaseAckSchema, { term: 5, voter: A, leaseSeq: 9, granted: true, epoch: 1 }) }),
  command: () => ({ case: 'command', value: create(CommandSchema, { id: 'c1', term: 5, coordinator: A, target: B, kind: 1, timeMs: NOW }) }),
  commandAck: () => ({ case: 'commandAck', value: create(CommandAckSchema, { id: 'c1', term: 5, node: A, status: 1, timeMs: NOW }) }),
  commandRequest: () => ({ case: 'commandRequest', value: create(CommandRequestSchema, { kind: 1, target: 'gpu-host-17', requestId: 'r1' }) }),
  commandResult: () => ({ case: 'commandResult', value: create(CommandResultSchema, { term: 5, coordinator: A, requestId: 'r1' }) }),
  pools: () => ({ case: 'pools', value: create(PoolsReportSchema, { term: 5, coordinator: A, seq: 1, timeMs: NOW }) }),
}
const CASES = Object.keys(VALID) as BodyCase[]

function channelOf (c: BodyCase): Channel {
  return CHANNELS.find((ch) => CHANNEL_BODIES[ch].has(c))!
}

function bytesOf (body: Body, over: { fleet?: string, sender?: string, timeMs?: number } = {}): Uint8Array {
  return encodeMessage({ fleet: FLEET, sender: A, timeMs: NOW, body, ...over })
}

function check (bytes: Uint8Array, channel: Channel, from = A, now = NOW): Verdict {
  return validateMessage(bytes, { fleet: FLEET, from, channel, now, maxSkewMs: DEFAULT_MAX_SKEW_MS })
}

/** A body of `kind` after `edit` changed its value in place. */
function edited<C extends BodyCase> (kind: C, edit: (v: BodyOf<C>) => void): Body {
  const body = VALID[kind]()
  edit(body.value as BodyOf<C>)
  return body
}

t.test('every body kind is accepted on its channel and rejected on every other', async (t) => {
  for (const c of CASES) {
    for (const ch of CHANNELS) {
      const v = check(bytesOf(VALID[c]()), ch)
      if (CHANNEL_BODIES[ch].has(c)) {
        t.equal(v.result, 'accept', `${c} on ${ch}`)
        if (v.result === 'accept') t.equal(v.message.body.case, c)
      } else {
        t.equal(v.result, 'reject', `${c} on ${ch}`)
        if (v.result === 'reject') t.match(v.reason, `a ${c} body does not belong on ${ch}`)
      }
    }
  }
  t.same([...CHANNEL_BODIES.members], ['member'])
  t.same([...CHANNEL_BODIES.health], ['health'])
  t.same([...CHANNEL_BODIES.coord], ['coordinator', 'pools'])
  t.equal(CASES.filter((c) => CHANNEL_BODIES.direct.has(c)).length, CASES.length - 3, 'direct carries the rest, and member updates')
  t.ok(CHANNEL_BODIES.direct.has('member'), 'a suspicion or a dead record goes straight to the node it names, so it can refute')
})

t.test('body-level identity: a body speaks only for its sender', async (t) => {
  const rows: Array<[string, Body]> = [
    ['member.reporter', edited('member', (v) => { v.reporter = B })],
    ['health.node', edited('health', (v) => { v.node = B })],
    ['coordinator.coordinator', edited('coordinator', (v) => { v.coordinator = B })],
    ['voteRequest.candidate', edited('voteRequest', (v) => { v.candidate = B })],
    ['voteReply.voter', edited('voteReply', (v) => { v.voter = B })],
    ['leaseRenew.coordinator', edited('leaseRenew', (v) => { v.coordinator = B })],
    ['leaseAck.voter', edited('leaseAck', (v) => { v.voter = B })],
    ['command.coordinator', edited('command', (v) => { v.coordinator = B })],
    ['pools.coordinator', edited('pools', (v) => { v.coordinator = B })],
    ['commandAck.node', edited('commandAck', (v) => { v.node = B })],
  ]
  for (const [field, body] of rows) {
    const v = check(bytesOf(body), channelOf(body.case))
    t.equal(v.result, 'reject', field)
    if (v.result === 'reject') t.match(v.reason, `${field} "${B}" is not the sender "${A}"`, field)
  }
  // Relayed state in a push-pull speaks for whoever first said it, not for the relay.
  const relayed = edited('pushPull', (v) => {
    v.members.push(create(MemberUpdateSchema, { node: B, state: MemberState.ALIVE, incarnation: 2, reporter: B }))
    v.health.push(create(HealthUpdateSchema, { node: B, incarnation: 1, seq: 3, timeMs: NOW }))
    v.coordinator = create(CoordinatorAnnounceSchema, { term: 2, coordinator: B, timeMs: NOW })
  })
  t.equal(check(bytesOf(relayed), 'direct').result, 'accept', 'push-pull relays other nodes\' updates')
  // A member update about another node is the reporter's to make.
  t.equal(check(bytesOf(VALID.member()), 'members').result, 'accept')
})

t.test('envelope: size, decode, fleet, sender, time', async (t) => {
  const valid = bytesOf(VALID.member())
  const rows: Array<{ name: string, bytes: Uint8Array, channel?: Channel, from?: string, result: string, reason: RegExp }> = [
    { name: 'over the gossip limit', bytes: new Uint8Array(MAX_MESSAGE_BYTES + 1), result: 'reject', reason: /65537 bytes, more than the 65536 allowed on members/ },
    { name: 'over the direct limit', bytes: new Uint8Array(MAX_DIRECT_MESSAGE_BYTES + 1), channel: 'direct', result: 'reject', reason: /more than the 4194304 allowed on direct/ },
    { name: 'random bytes', bytes: Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]), result: 'reject', reason: /does not decode/ },
    { name: 'truncated inside the body', bytes: valid.subarray(0, valid.length - 3), result: 'reject', reason: /does not decode/ },
    { name: 'empty bytes (no fleet)', bytes: new Uint8Array(0), result: 'reject', reason: /fleet "", not "alpha"/ },
    { name: 'another fleet', bytes: bytesOf(VALID.member(), { fleet: 'beta' }), result: 'reject', reason: /fleet "beta", not "alpha"/ },
    { name: 'sender is not the signer', bytes: valid, from: B, result: 'reject', reason: /sender "12D3KooWA.*" is not the signer "12D3KooWB/ },
    { name: 'sender is not the stream peer', bytes: bytesOf(VALID.ping()), channel: 'direct', from: B, result: 'reject', reason: /is not the stream peer/ },
    { name: 'time_ms NaN', bytes: bytesOf(VALID.member(), { timeMs: Number.NaN }), result: 'reject', reason: /time_ms NaN is not a time/ },
    { name: 'time_ms negative', bytes: bytesOf(VALID.member(), { timeMs: -1 }), result: 'reject', reason: /time_ms -1 is not a time/ },
    { name: 'skew beyond the bound (ahead)', bytes: bytesOf(VALID.member(), { timeMs: NOW + DEFAULT_MAX_SKEW_MS + 1 }), result: 'ignore', reason: /60001 ms from this host's clock/ },
    { name: 'skew beyond the bound (behind)', bytes: bytesOf(VALID.member(), { timeMs: NOW - DEFAULT_MAX_SKEW_MS - 1 }), result: 'ignore', reason: /-60001 ms/ },
    { name: 'no body (a newer agent)', bytes: toBinary(MeshMessageSchema, create(MeshMessageSchema, { fleet: FLEET, sender: A, timeMs: NOW })), result: 'ignore', reason: /no body this agent knows/ },
  ]
  for (const row of rows) {
    const v = check(row.bytes, row.channel ?? 'members', row.from ?? A)
    t.equal(v.result, row.result, row.name)
    if (v.result !== 'accept') t.match(v.reason, row.reason, row.name)
  }
  t.equal(check(bytesOf(VALID.member(), { timeMs: NOW + DEFAULT_MAX_SKEW_MS }), 'members').result, 'accept', 'skew at the bound')
  t.equal(check(bytesOf(VALID.member(), { timeMs: NOW - DEFAULT_MAX_SKEW_MS }), 'members').result, 'accept', 'skew at the bound (behind)')
  // The skew check is last: a message both invalid and skewed is rejected, not ignored.
  const both = check(bytesOf(edited('member', (v) => { v.reporter = B }), { timeMs: 0 }), 'members')
  t.equal(both.result, 'reject')
})

t.test('a field from a newer agent is dropped, not held', async (t) => {
  const base = bytesOf(VALID.ping())
  // Field 99, varint 1: unknown to this schema.
  const withUnknown = Uint8Array.from([...base, 0x98, 0x06, 0x01])
  const v = check(withUnknown, 'direct')
  t.equal(v.result, 'accept')
  if (v.result === 'accept') t.same(toBinary(MeshMessageSchema, v.message), base, 'the unknown field is gone')
})

t.test('bounded lists', async (t) => {
  const L = WIRE_LIMITS
  const ids = (n: number): string[] => Array.from({ length: n }, () => B)
  const rows: Array<[string, Body, number]> = [
    ['member.addrs', edited('member', (v) => { v.addrs = Array.from({ length: L.addrs + 1 }, () => '/ip4/10.0.0.1/tcp/4001') }), L.addrs],
    ['member.meta.labels', edited('member', (v) => { v.meta = create(NodeMetaSchema, { labels: Object.fromEntries(Array.from({ length: L.labels + 1 }, (_, i) => [`k${i}`, 'v'])) }) }), L.labels],
    ['health.verdict.reasons', edited('health', (v) => { v.verdict = create(VerdictSchema, { reasons: Array.from({ length: L.reasons + 1 }, () => create(ReasonSchema, { rule: 'r' })) }) }), L.reasons],
    ['health.incidents', edited('health', (v) => { v.incidents = Array.from({ length: L.incidents + 1 }, () => create(IncidentSchema, { id: 'i' })) }), L.incidents],
    ['health.incidents[0].events', edited('health', (v) => { v.incidents = [create(IncidentSchema, { events: Array.from({ length: L.incidentMembers + 1 }, () => ({})) })] }), L.incidentMembers],
    ['health.incidents[0].findings', edited('health', (v) => { v.incidents = [create(IncidentSchema, { findings: Array.from({ length: L.incidentMembers + 1 }, () => ({})) })] }), L.incidentMembers],
    ['health.gpus', edited('health', (v) => { v.gpus = Array.from({ length: L.gpus + 1 }, () => create(GpuSummarySchema, { index: 0 })) }), L.gpus],
    ['health.bootGate.failures', edited('health', (v) => { v.bootGate = create(BootGateSchema, { failures: Array.from({ length: L.bootGateEntries + 1 }, () => 'f') }) }), L.bootGateEntries],
    ['health.bootGate.models', edited('health', (v) => { v.bootGate = create(BootGateSchema, { models: Array.from({ length: L.bootGateEntries + 1 }, () => 'H100') }) }), L.bootGateEntries],
    ['coordinator.council.members', edited('coordinator', (v) => { v.council = create(CouncilSchema, { members: ids(L.councilMembers + 1) }) }), L.councilMembers],
    ['leaseRenew.council.members', edited('leaseRenew', (v) => { v.council = create(CouncilSchema, { members: ids(L.councilMembers + 1) }) }), L.councilMembers],
    ['leaseRenew.proposed.members', edited('leaseRenew', (v) => { v.proposed = create(CouncilSchema, { members: ids(L.councilMembers + 1) }) }), L.councilMembers],
    ['pushPull.digest', edited('pushPull', (v) => { v.digest = Array.from({ length: L.fleetNodes + 1 }, () => create(DigestEntrySchema, { node: 'n', state: MemberState.ALIVE })) }), L.fleetNodes],
    ['pushPull.members', edited('pushPull', (v) => { v.members = Array.from({ length: L.fleetNodes + 1 }, () => create(MemberUpdateSchema, { node: 'n', reporter: 'n', state: MemberState.ALIVE })) }), L.fleetNodes],
    ['pushPull.health', edited('pushPull', (v) => { v.health = Array.from({ length: L.fleetNodes + 1 }, () => create(HealthUpdateSchema, { node: 'n' })) }), L.fleetNodes],
    ['pushPull.members[0].addrs', edited('pushPull', (v) => { v.members = [create(MemberUpdateSchema, { node: B, reporter: B, state: MemberState.ALIVE, addrs: Array.from({ length: L.addrs + 1 }, () => '/ip4/10.0.0.2/tcp/1') })] }), L.addrs],
  ]
  for (const [field, body, max] of rows) {
    const bytes = bytesOf(body)
    const v = check(bytes, channelOf(body.case))
    t.equal(v.result, 'reject', field)
    if (v.result === 'reject') t.match(v.reason, `${field} has ${max + 1} entries, more than ${max}`, field)
  }
  // At the bound is fine.
  const atBound = edited('member', (v) => { v.addrs = Array.from({ length: L.addrs }, () => '/ip4/10.0.0.1/tcp/4001') })
  t.equal(check(bytesOf(atBound), 'members').result, 'accept', 'member.addrs at the bound')
  const longAddr = edited('member', (v) => { v.addrs = ['/dns4/' + 'a'.repeat(L.addrChars)] })
  t.match(check(bytesOf(longAddr), 'members'), { result: 'reject', reason: /member.addrs\[0\] has \d+ characters/ })
  const longTarget = edited('commandRequest', (v) => { v.target = 'x'.repeat(254) })
  t.match(check(bytesOf(longTarget), 'direct'), { result: 'reject', reason: /commandRequest.target has 254 characters, more than 253/ })
})

t.test('counters, times, ids and member states', async (t) => {
  const rows: Array<[string, Body, RegExp]> = [
    ['incarnation NaN', edited('member', (v) => { v.incarnation = Number.NaN }), /member.incarnation NaN is not a counter/],
    ['incarnation negative', edited('member', (v) => { v.incarnation = -1 }), /member.incarnation -1 is not a counter/],
    ['incarnation fractional', edited('member', (v) => { v.incarnation = 1.5 }), /member.incarnation 1.5 is not a counter/],
    ['incarnation beyond 2^53', edited('member', (v) => { v.incarnation = 2 ** 53 }), /is not a counter/],
    ['health seq Infinity', edited('health', (v) => { v.seq = Infinity }), /health.seq Infinity is not a counter/],
    ['health time_ms negative', edited('health', (v) => { v.timeMs = -5 }), /health.timeMs -5 is not a time/],
    ['term negative', edited('voteRequest', (v) => { v.term = -1 }), /voteRequest.term -1/],
    ['epoch fractional', edited('voteReply', (v) => { v.epoch = 0.5 }), /voteReply.epoch 0.5/],
    ['lease seq NaN', edited('leaseAck', (v) => { v.leaseSeq = Number.NaN }), /leaseAck.leaseSeq NaN/],
    ['council epoch negative', edited('leaseRenew', (v) => { v.council = create(CouncilSchema, { epoch: -1 }) }), /leaseRenew.council.epoch -1/],
    ['ping seq negative', edited('ping', (v) => { v.seq = -2 }), /ping.seq -2/],
    ['ping target empty', edited('ping', (v) => { v.target = '' }), /ping.target is empty/],
    ['ack target not an id', edited('ack', (v) => { v.target = '../etc' }), /ack.target "..\/etc" is not a node id/],
    ['nack target too long', edited('nack', (v) => { v.target = 'a'.repeat(WIRE_LIMITS.idChars + 1) }), /nack.target has 129 characters/],
    ['member node empty', edited('member', (v) => { v.node = '' }), /member.node is empty/],
    ['member state unspecified', edited('member', (v) => { v.state = MemberState.UNSPECIFIED }), /member.state 0 is not a member state/],
    ['member state unknown', edited('member', (v) => { v.state = 99 as MemberState }), /member.state 99 is not a member state/],
    ['digest state unknown', edited('pushPull', (v) => { v.digest = [create(DigestEntrySchema, { node: B, state: 7 as MemberState })] }), /pushPull.digest\[0\].state 7/],
    ['digest health seq negative', edited('pushPull', (v) => { v.digest = [create(DigestEntrySchema, { node: B, state: MemberState.ALIVE, healthSeq: -1 })] }), /pushPull.digest\[0\].healthSeq -1/],
    ['council member not an id', edited('coordinator', (v) => { v.council = create(CouncilSchema, { members: ['a b'] }) }), /coordinator.council.members\[0\] "a b" is not a node id/],
    ['command target empty', edited('command', (v) => { v.target = '' }), /command.target is empty/],
    ['command time_ms NaN', edited('command', (v) => { v.timeMs = Number.NaN }), /command.timeMs NaN/],
    ['command ack term negative', edited('commandAck', (v) => { v.term = -3 }), /commandAck.term -3/],
    ['command result ack node bad', edited('commandResult', (v) => { v.ack = create(CommandAckSchema, { node: '' }) }), /commandResult.ack.node is empty/],
    ['command result coordinator bad', edited('commandResult', (v) => { v.coordinator = 'not/an/id' }), /commandResult.coordinator/],
    ['relayed member reporter empty', edited('pushPull', (v) => { v.members = [create(MemberUpdateSchema, { node: B, state: MemberState.ALIVE })] }), /pushPull.members\[0\].reporter is empty/],
    ['relayed health counter bad', edited('pushPull', (v) => { v.health = [create(HealthUpdateSchema, { node: B, incarnation: -1 })] }), /pushPull.health\[0\].incarnation -1/],
    ['relayed announce term bad', edited('pushPull', (v) => { v.coordinator = create(CoordinatorAnnounceSchema, { term: 0.5 }) }), /pushPull.coordinator.term 0.5/],
  ]
  for (const [name, body, reason] of rows) {
    const v = check(bytesOf(body), channelOf(body.case))
    t.equal(v.result, 'reject', name)
    if (v.result === 'reject') t.match(v.reason, reason, name)
  }
  // "No coordinator known" is a fair answer from a relay or a result, not from the announcer itself.
  t.equal(check(bytesOf(edited('pushPull', (v) => { v.coordinator = create(CoordinatorAnnounceSchema, { term: 0 }) })), 'direct').result, 'accept')
  t.equal(check(bytesOf(edited('commandResult', (v) => { v.coordinator = '' })), 'direct').result, 'accept')
  t.equal(check(bytesOf(edited('coordinator', (v) => { v.coordinator = '' })), 'coord').result, 'reject')
  t.equal(check(bytesOf(edited('member', (v) => { v.incarnation = 2 ** 53 - 1 })), 'members').result, 'accept', 'the largest safe counter')
})

t.test('a push-pull near the direct limit is accepted; the gossip limit does not apply to it', async (t) => {
  const digest = Array.from({ length: 10_000 }, (_, i) =>
    create(DigestEntrySchema, { node: `12D3KooW${String(i).padStart(44, '0')}`, state: MemberState.ALIVE, incarnation: i, healthIncarnation: 1, healthSeq: i }))
  const bytes = bytesOf({ case: 'pushPull', value: create(PushPullSchema, { digest }) })
  t.ok(bytes.length > MAX_MESSAGE_BYTES && bytes.length < MAX_DIRECT_MESSAGE_BYTES, `${bytes.length} bytes`)
  t.equal(check(bytes, 'direct').result, 'accept')
})

function mutate (rng: { next (): number }, bytes: Uint8Array): Uint8Array {
  const out = [...bytes]
  const edits = 1 + Math.floor(rng.next() * 4)
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(rng.next() * (out.length + 1))
    const op = rng.next()
    if (op < 0.4) out[at] = Math.floor(rng.next() * 256)
    else if (op < 0.6) out.splice(at, 1 + Math.floor(rng.next() * 8))
    else if (op < 0.8) out.splice(at, 0, Math.floor(rng.next() * 256))
    else out.length = at
  }
  return Uint8Array.from(out)
}

t.test('seeded fuzz: random and mutated messages never throw; what is accepted is well formed', async (t) => {
  const seed = 0x5eed_4e57
  t.comment(`seed ${seed}`)
  const rng = seededRng(seed)
  const counts = { accept: 0, reject: 0, ignore: 0 }
  let failures = 0
  for (let i = 0; i < 4000 && failures < 5; i++) {
    const kind = CASES[Math.floor(rng.next() * CASES.length)]!
    const channel = rng.next() < 0.8 ? channelOf(kind) : CHANNELS[Math.floor(rng.next() * CHANNELS.length)]!
    let bytes: Uint8Array
    const mode = rng.next()
    if (mode < 0.2) bytes = Uint8Array.from({ length: Math.floor(rng.next() * 200) }, () => Math.floor(rng.next() * 256))
    else if (mode < 0.3) bytes = bytesOf(VALID[kind]())
    else bytes = mutate(rng, bytesOf(VALID[kind]()))
    let v: Verdict
    try {
      v = check(bytes, channel)
    } catch (err) {
      failures++
      t.fail(`seed ${seed}, case ${i}: threw ${String(err)} on ${Buffer.from(bytes).toString('hex')}`)
      continue
    }
    counts[v.result]++
    if (v.result !== 'accept') {
      if (typeof v.reason !== 'string' || v.reason.length === 0 || v.reason.length > 400) {
        failures++
        t.fail(`seed ${seed}, case ${i}: reason ${JSON.stringify(v.reason)}`)
      }
      continue
    }
    const m = v.message
    const wellFormed = m.fleet === FLEET && m.sender === A && m.body.case !== undefined && CHANNEL_BODIES[channel].has(m.body.case) &&
      check(toBinary(MeshMessageSchema, m), channel).result === 'accept'
    if (!wellFormed) {
      failures++
      t.fail(`seed ${seed}, case ${i}: accepted a malformed message ${Buffer.from(bytes).toString('hex')}`)
    }
  }
  t.equal(failures, 0)
  t.ok(counts.accept > 100 && counts.reject > 1000, `verdicts ${JSON.stringify(counts)}`)
})
