// The composed mesh core on a tiny synchronous network: five MeshNodes, instant delivery, a fake
// clock. Membership converges, one coordinator acts, health gossip reaches everyone, and the
// command path (origin → coordinator → target → coordinator → origin) applies once and fences;
// a member held dead that speaks is told so, a joiner announces itself again once connected, and
// a refutation learned by push-pull is gossiped again.
import t from 'tap'
import { create } from '@bufbuild/protobuf'
import {
  AckSchema, CoordinatorAnnounceSchema, CouncilSchema, CommandAckSchema, CommandKind, CommandRequestSchema, CommandSchema, CommandStatus, HealthAction, HealthState, HealthUpdateSchema,
  MemberState, MemberUpdateSchema, MeshMessageSchema, NodeMetaSchema, PingSchema, PushPullSchema, VerdictSchema,
  type Command, type CommandAck, type CommandResult, type MemberUpdate,
} from '../../../proto/gen/shoal_pb.js'
import { seededRng } from '../../../agent/lib/rng.js'
import type { MembershipConfig } from '../../../agent/mesh/membership/config.js'
import { DEFAULT_MESH_CONFIG, MeshNode, type MeshEffects, type PersistedMesh } from '../../../agent/mesh/node.js'
import type { Body, NodeId, Topic } from '../../../agent/mesh/types.js'

const STEP_MS = 20

class Net {
  now = 1_000
  readonly nodes = new Map<NodeId, MeshNode>()
  readonly persisted = new Map<NodeId, PersistedMesh>()
  readonly applies = new Map<NodeId, Command[]>()
  readonly results = new Map<NodeId, Array<{ requestId: string, result: CommandResult }>>()
  /** Every direct send, for replays. */
  readonly sent: Array<{ from: NodeId, to: NodeId, body: Body }> = []
  readonly down = new Set<NodeId>()
  #queue: Array<{ from: NodeId, to: NodeId, body: Body, via: 'direct' | Topic }> = []

  add (id: NodeId, found: boolean, persisted: PersistedMesh | null = null): MeshNode {
    const n = new MeshNode({
      self: id, fleet: 'test', meta: create(NodeMetaSchema, { name: `host-${id}`, coordinatorEligible: true }), addrs: [`/ip4/127.0.0.1/tcp/${id.length}`],
      eligible: true, found, config: DEFAULT_MESH_CONFIG, persisted, rng: seededRng(`${id}-${persisted?.incarnation ?? 0}`), now: this.now,
    })
    this.nodes.set(id, n)
    this.down.delete(id)
    return n
  }

  take (id: NodeId, fx: MeshEffects): MeshEffects {
    const p = this.persisted.get(id) ?? { incarnation: 0, election: null, acks: [] }
    if (fx.persist.incarnation !== undefined) p.incarnation = fx.persist.incarnation
    if (fx.persist.election !== undefined) p.election = fx.persist.election
    if (fx.persist.ack !== undefined) p.acks = [...(p.acks ?? []), fx.persist.ack]
    this.persisted.set(id, p)
    this.applies.set(id, [...(this.applies.get(id) ?? []), ...fx.apply])
    this.results.set(id, [...(this.results.get(id) ?? []), ...fx.results])
    for (const s of fx.send) {
      this.sent.push({ from: id, to: s.to, body: s.body })
      this.#queue.push({ from: id, to: s.to, body: s.body, via: 'direct' })
    }
    for (const p of fx.publish) {
      for (const other of this.nodes.keys()) if (other !== id) this.#queue.push({ from: id, to: other, body: p.body, via: p.topic })
    }
    return fx
  }

  flush (): void {
    let budget = 100_000
    while (this.#queue.length > 0) {
      if (--budget <= 0) throw new Error('message storm') // bounded: a loop here is a bug
      const m = this.#queue.shift()!
      const n = this.nodes.get(m.to)
      if (n === undefined || this.down.has(m.to) || this.down.has(m.from)) continue
      this.take(m.to, n.receive(m.from, m.body, m.via, this.now))
    }
  }

  run (ms: number): void {
    const end = this.now + ms
    while (this.now < end) {
      this.now += STEP_MS
      for (const [id, n] of this.nodes) {
        if (!this.down.has(id) && this.now >= n.nextWakeAt()) this.take(id, n.tick(this.now))
      }
      this.flush()
    }
  }

  node (id: NodeId): MeshNode { return this.nodes.get(id)! }
}

const IDS = ['n0', 'n1', 'n2', 'n3', 'n4']

function cluster (): Net {
  const net = new Net()
  for (const id of IDS) net.add(id, id === 'n0')
  for (const id of IDS) net.take(id, net.node(id).start(net.now))
  net.flush()
  for (const id of IDS.slice(1)) {
    net.take(id, net.node(id).connected('n0', net.now))
    net.take('n0', net.node('n0').connected(id, net.now))
  }
  net.flush()
  net.run(20_000)
  return net
}

function acting (net: Net): NodeId[] {
  return [...net.nodes.keys()].filter((id) => !net.down.has(id) && net.node(id).acting(net.now))
}

function verdict (state: HealthState, action: HealthAction) {
  return { verdict: create(VerdictSchema, { state, action }), incidents: [], gpus: [] }
}

t.test('five nodes learn each other and agree on one coordinator', async (t) => {
  const net = cluster()
  for (const a of IDS) {
    for (const b of IDS) t.equal(net.node(a).memberState(b), 'alive', `${a} sees ${b} alive`)
    t.equal(net.node(a).nodes(net.now).length, IDS.length, `${a} lists every node`)
  }
  const act = acting(net)
  t.equal(act.length, 1, 'exactly one node acts')
  const coord = act[0]!
  for (const id of IDS) t.equal(net.node(id).coordinator(net.now).coordinator, coord, `${id} knows the coordinator`)
  t.ok(net.node(coord).term >= 1, 'a term was elected')
  const rec = net.node('n1').nodes(net.now).find((r) => r.id === coord)
  t.equal(rec?.coordinator, true, 'nodes() marks the coordinator')
})

t.test('a health verdict reaches every node', async (t) => {
  const net = cluster()
  net.take('n3', net.node('n3').setHealth(verdict(HealthState.UNHEALTHY, HealthAction.REPLACE), net.now))
  net.flush()
  for (const id of IDS) {
    const h = net.node(id).health('n3')
    t.equal(h?.verdict?.state, HealthState.UNHEALTHY, `${id} has n3 unhealthy`)
    t.equal(h?.verdict?.action, HealthAction.REPLACE, `${id} has n3 replace`)
    t.equal(h?.incarnation, net.node('n3').incarnation)
  }
  // isFresh: the update everyone holds is no longer fresh, an older one neither, a newer one is.
  const held = net.node('n1').health('n3')!
  const msg = (incarnation: number, seq: number) => create(MeshMessageSchema, { body: { case: 'health', value: create(HealthUpdateSchema, { node: 'n3', incarnation, seq }) } })
  t.equal(net.node('n1').isFresh(msg(held.incarnation, held.seq)), false, 'the same update is not fresh')
  t.equal(net.node('n1').isFresh(msg(held.incarnation, held.seq - 1)), false, 'a stale seq is not fresh')
  t.equal(net.node('n1').isFresh(msg(held.incarnation - 1, held.seq + 100)), false, 'an older incarnation is not fresh')
  t.equal(net.node('n1').isFresh(msg(held.incarnation, held.seq + 1)), true, 'a newer seq is fresh')
})

t.test('a cordon: applied once on the target, answered to the origin, fenced by term', async (t) => {
  const net = cluster()
  for (const id of IDS) net.take(id, net.node(id).setHealth(verdict(HealthState.HEALTHY, HealthAction.NONE), net.now))
  net.flush()
  const coord = acting(net)[0]!
  t.not(coord, 'n2', 'the target is not the coordinator (the replay below needs a direct send)')
  const req = create(CommandRequestSchema, { kind: CommandKind.CORDON, target: 'n2', reason: 'test' })
  net.take('n4', net.node('n4').request('r1', req, net.now, 30_000))
  net.flush()
  for (const id of IDS) t.equal(net.applies.get(id)?.length ?? 0, id === 'n2' ? 1 : 0, `apply on ${id}`)
  const cmd = net.applies.get('n2')![0]!
  t.equal(cmd.kind, CommandKind.CORDON)
  t.equal(cmd.target, 'n2')
  t.equal(cmd.coordinator, coord)
  t.equal(cmd.requestedBy, 'n4')
  t.equal(net.results.get('n4')?.length ?? 0, 0, 'no answer before the hook ran')
  // A redelivery while the hook runs is neither applied nor answered.
  net.run(3_000)
  t.equal(net.applies.get('n2')?.length, 1, 'resends while in progress do not apply again')

  const ack = create(CommandAckSchema, { id: cmd.id, term: cmd.term, node: 'n2', status: CommandStatus.APPLIED, detail: 'ok', timeMs: net.now, kind: cmd.kind })
  net.take('n2', net.node('n2').commandDone(ack, net.now))
  net.flush()
  const results = net.results.get('n4') ?? []
  t.equal(results.length, 1, 'the origin gets one result')
  const r = results[0]!
  t.equal(r.requestId, 'r1')
  t.equal(r.result.errorCode, '')
  t.equal(r.result.ack?.status, CommandStatus.APPLIED)
  t.equal(r.result.ack?.id, cmd.id)
  t.ok(r.result.term >= 1, 'a term ≥ 1')
  t.equal(r.result.coordinator, coord)
  t.equal(net.node('n2').cordoned, true)
  t.same(net.persisted.get('n2')?.acks?.map((a) => a.id), [cmd.id], 'the ack is persisted')
  for (const id of IDS) t.equal(net.node(id).health('n2')?.cordoned, true, `${id} sees n2 cordoned`)

  // Replay the captured Command: no second apply, the stored ack goes back.
  const captured = net.sent.find((s) => s.to === 'n2' && s.body.case === 'command')
  t.ok(captured, 'the command was sent to n2')
  const replay = net.node('n2').receive(captured!.from, captured!.body, 'direct', net.now)
  t.same(replay.apply, [], 'no second apply')
  const acks = replay.send.filter((s) => s.body.case === 'commandAck')
  t.equal(acks.length, 1, 'the stored ack is re-sent')
  t.equal(acks[0]?.to, coord)
  t.same(acks[0]?.body.value, ack, 'the same ack')
  t.same(replay.persist, {}, 'nothing new to persist')

  // A forged command (the sender is not the coordinator it names) is refused, and its term is not
  // taken up: one member must not be able to push a node into a new term.
  const term = net.node('n2').term
  const forged = create(CommandSchema, { id: 'drain-forged', term: term + 1, coordinator: 'n3', target: 'n2', kind: CommandKind.DRAIN, requestedBy: 'n4', timeMs: net.now })
  const f = net.node('n2').receive('n4', { case: 'command', value: forged }, 'direct', net.now)
  t.same(f.apply, [], 'a forged command is not applied')
  t.equal(f.send.filter((s) => s.body.case === 'commandAck').map((s) => (s.body.value as CommandAck).status)[0], CommandStatus.REFUSED, 'and refused')
  t.equal(net.node('n2').term, term, 'its term is not taken up')
  // A command from an older term is refused. Let n2 learn a higher term the legitimate way: an
  // announcement from a coordinator of the next term.
  const council = net.node('n2').coordinator(net.now).council
  net.node('n2').receive('n3', { case: 'coordinator', value: create(CoordinatorAnnounceSchema, { term: term + 1, coordinator: 'n3', council: create(CouncilSchema, { epoch: (council?.epoch ?? 1) + 1000, members: council?.members ?? ['n0'] }), timeMs: net.now }) }, 'coord', net.now)
  t.equal(net.node('n2').term, term + 1, 'the announced term is observed')
  const stale = create(CommandSchema, { id: 'drain-stale', term, coordinator: coord, target: 'n2', kind: CommandKind.DRAIN, requestedBy: 'n4', timeMs: net.now })
  const refused = net.node('n2').receive(coord, { case: 'command', value: stale }, 'direct', net.now)
  t.same(refused.apply, [], 'no apply')
  const back = refused.send.filter((s) => s.body.case === 'commandAck').map((s) => s.body.value as CommandAck)
  t.equal(back.length, 1)
  t.equal(back[0]?.status, CommandStatus.REFUSED)
  t.equal(back[0]?.id, 'drain-stale')
  t.match(back[0]?.detail, /stale term/)
  t.equal(net.node('n2').cordoned, true, 'state unchanged')
})

t.test('request errors: no coordinator, unknown node', async (t) => {
  const net = new Net()
  const lone = net.add('solo', false)
  net.take('solo', lone.start(net.now))
  const fx = lone.request('q1', create(CommandRequestSchema, { kind: CommandKind.CORDON, target: 'solo' }), net.now, 5_000)
  t.equal(fx.results.length, 1)
  t.equal(fx.results[0]?.requestId, 'q1')
  t.equal(fx.results[0]?.result.errorCode, 'no-coordinator')
  t.same(fx.send, [], 'nothing sent')

  const c = cluster()
  c.take('n4', c.node('n4').request('q2', create(CommandRequestSchema, { kind: CommandKind.CORDON, target: 'nope' }), c.now, 5_000))
  c.flush()
  const r = c.results.get('n4') ?? []
  t.equal(r.length, 1)
  t.equal(r[0]?.requestId, 'q2')
  t.equal(r[0]?.result.errorCode, 'unknown-node')
  for (const id of IDS) t.equal(c.applies.get(id)?.length ?? 0, 0, `no apply on ${id}`)
})

t.test('a node restarted from its persisted state comes back with a higher incarnation', async (t) => {
  const net = cluster()
  const before = net.node('n1').incarnation
  t.equal(net.persisted.get('n1')?.incarnation, before, 'the incarnation was persisted')
  net.down.add('n1')
  net.run(30_000)
  t.not(net.node('n0').memberState('n1'), 'alive', 'n1 is no longer alive on n0 while down')
  const p = net.persisted.get('n1')!
  const n1 = net.add('n1', false, { incarnation: p.incarnation, election: p.election })
  t.ok(n1.incarnation > before, 'a higher incarnation')
  net.take('n1', n1.start(net.now))
  net.take('n1', n1.connected('n0', net.now))
  net.take('n0', net.node('n0').connected('n1', net.now))
  net.flush()
  net.run(10_000)
  for (const id of IDS) {
    t.equal(net.node(id).memberState('n1'), 'alive', `${id} sees n1 alive again`)
    t.equal(net.node(id).member('n1')?.incarnation, n1.incarnation, `${id} has the new incarnation`)
  }
  t.equal(acting(net).length, 1, 'still exactly one coordinator')
})

// ---- recovery and the joiner's announcement (membership-recovery.test.ts has the core's rules) ----

function alive (node: NodeId, incarnation = 1): MemberUpdate {
  return create(MemberUpdateSchema, { node, state: MemberState.ALIVE, incarnation, reporter: node, addrs: [`/ip4/127.0.0.1/tcp/${node.length}`], meta: create(NodeMetaSchema, { name: node }) })
}

function lone (id: NodeId, membership: Partial<MembershipConfig> = {}, now = 1000): MeshNode {
  return new MeshNode({
    self: id, fleet: 'test', meta: create(NodeMetaSchema, { name: id, coordinatorEligible: false }), addrs: ['/ip4/127.0.0.1/tcp/1'],
    eligible: false, found: false, config: { ...DEFAULT_MESH_CONFIG, membership: { ...DEFAULT_MESH_CONFIG.membership, ...membership } },
    persisted: null, rng: seededRng(id), now,
  })
}

/** `a`, started, knowing `peers` alive (learned from one push-pull, as from a seed). */
function knowing (peers: NodeId[], membership: Partial<MembershipConfig> = {}): MeshNode {
  const a = lone('a', membership)
  a.start(1000)
  a.receive(peers[0]!, { case: 'pushPull', value: create(PushPullSchema, { members: peers.map((p) => alive(p)), reply: true }) }, 'direct', 1000)
  return a
}

function memberBodies (list: ReadonlyArray<{ body: Body }>): string[] {
  return list.flatMap((x) => x.body.case === 'member'
    ? [`${x.body.value.node} ${MemberState[x.body.value.state].toLowerCase()} ${x.body.value.incarnation} by ${x.body.value.reporter}`]
    : [])
}

t.test('a message from a member held dead gets our dead record back, once per interval', async (t) => {
  const ping: Body = { case: 'ping', value: create(PingSchema, { seq: 1, target: 'a' }) }
  const ack: Body = { case: 'ack', value: create(AckSchema, { seq: 99, target: 'x' }) }
  const health: Body = { case: 'health', value: create(HealthUpdateSchema, { node: 'x', incarnation: 1, seq: 1 }) }
  const gossip: Body = { case: 'member', value: create(MemberUpdateSchema, { node: 'y', state: MemberState.SUSPECT, incarnation: 1, reporter: 'x' }) }
  const hash: Body = { case: 'pushPull', value: create(PushPullSchema, { digestHash: 1, digestCount: 1 }) }
  const refutation: Body = { case: 'member', value: alive('x', 2) }
  // body, channel, dead records sent to x, x's state afterwards
  const rows: Array<[string, Body, 'direct' | Topic, number, string]> = [
    ['a ping', ping, 'direct', 1, 'dead'],
    ['an ack (to a dead probe)', ack, 'direct', 1, 'dead'],
    ['a push-pull', hash, 'direct', 1, 'dead'],
    ['its health gossip', health, 'health', 1, 'dead'],
    ['its suspicion of another', gossip, 'members', 1, 'dead'],
    ['its refutation', refutation, 'members', 0, 'alive'],
  ]
  for (const [name, body, via, expected, after] of rows) {
    const a = knowing(['x', 'y'])
    a.receive('y', { case: 'member', value: create(MemberUpdateSchema, { node: 'x', state: MemberState.DEAD, incarnation: 1, reporter: 'y' }) }, 'members', 2000)
    t.equal(a.memberState('x'), 'dead', `${name}: setup`)
    const fx = a.receive('x', body, via, 2100)
    t.same(memberBodies(fx.send.filter((s) => s.to === 'x')), expected === 1 ? ['x dead 1 by a'] : [], `${name} on ${via}: ${expected} dead record`)
    t.equal(a.memberState('x'), after, `${name}: x ${after}`)
    const again = a.receive('x', body, via, 2200)
    t.same(memberBodies(again.send), [], `${name}: not again within deadNoticeIntervalMs`)
    t.equal(a.memberCounters.deadNotices, expected)
  }
})

t.test('a joiner gossips its alive and health again after its first connection', async (t) => {
  const verdict0 = { verdict: create(VerdictSchema, { state: HealthState.HEALTHY, action: HealthAction.NONE }), incidents: [], gpus: [] }
  // joinAnnounceDelayMs, connected before start()
  const rows: Array<[number, boolean]> = [[250, false], [0, false], [250, true]]
  for (const [delay, early] of rows) {
    const name = `delay ${delay}${early ? ', connected before start' : ''}`
    const n = lone('j', { joinAnnounceDelayMs: delay })
    n.setHealth(verdict0, 1000)
    const published: Array<{ at: number, topic: Topic, body: Body }> = []
    const take = (at: number, fx: MeshEffects): void => { for (const p of fx.publish) published.push({ at, topic: p.topic, body: p.body }) }
    if (early) take(1000, n.connected('seed', 1000))
    const started = n.start(1000)
    take(1000, started)
    t.same(published.map((p) => p.topic).sort(), ['health', 'members'], `${name}: start() announces (into the void)`)
    published.length = 0
    const at = early ? 1000 : 1005
    if (!early) {
      const fx = n.connected('seed', at)
      take(at, fx)
      t.same(fx.send.map((s) => `${s.to} ${s.body.case}`), ['seed pushPull'], `${name}: the connection pulls the seed's picture`)
    }
    if (delay > 0) t.ok(n.nextWakeAt() <= at + delay, `${name}: wakes for it`)
    for (let now = at; now <= at + 1000; now += 5) take(now, n.tick(now))
    take(at + 1100, n.connected('other', at + 1100))
    take(at + 1100, n.tick(at + 1100))
    const members = published.filter((p) => p.topic === 'members')
    t.same(memberBodies(members), ['j alive 1 by j'], `${name}: our alive once more, same incarnation`)
    t.equal(members[0]?.at, Math.max(at + delay, 1000), `${name}: ${delay} ms after the first connection`)
    const health = published.filter((p) => p.topic === 'health')
    t.equal(health.length, 1, `${name}: and our health`)
    t.same(health[0]?.body.value, n.health('j'), `${name}: the same update (same seq), not a new one`)
    t.equal(n.incarnation, 1, `${name}: no new incarnation`)
  }
})

t.test('a refutation learned by push-pull is gossiped again, once', async (t) => {
  const a = knowing(['x', 'y', 'z'])
  a.receive('y', { case: 'member', value: create(MemberUpdateSchema, { node: 'x', state: MemberState.DEAD, incarnation: 1, reporter: 'y' }) }, 'members', 2000)
  const pp: Body = { case: 'pushPull', value: create(PushPullSchema, { members: [alive('x', 2), alive('y', 1)], reply: true }) }
  const fx = a.receive('z', pp, 'direct', 2100)
  t.same(fx.publish.map((p) => `${p.topic}: ${memberBodies([p]).join()}`), ['members: x alive 2 by a'], 'the refutation, signed by us; not what we knew')
  t.equal(a.memberState('x'), 'alive')
  t.same(a.receive('y', pp, 'direct', 2200).publish, [], 'the same push-pull again: not news')
  t.same(a.receive('z', { case: 'member', value: alive('y', 2) }, 'members', 2300).publish, [], 'news by gossip is not re-gossiped')
  t.equal(a.memberCounters.regossiped, 1)
})

t.test('a coordinator whose lease lapsed sends a request to nobody, not to itself; the resend goes to its successor', async (t) => {
  // Chaos campaign 3, run 36: a cordon the reconciler issued just before a stall reached the mesh
  // after the lease had lapsed, while the node still named itself coordinator.
  const net = cluster()
  const coord = acting(net)[0]!
  net.down.add(coord)
  net.run(10_000)
  net.down.delete(coord)
  const node = net.node(coord)
  t.notOk(node.acting(net.now), 'its lease has lapsed')
  t.equal(node.coordinator(net.now).coordinator, coord, 'yet it still names itself')
  const target = IDS.find((id) => id !== coord)!
  const fx = net.take(coord, node.request('q1', create(CommandRequestSchema, { kind: CommandKind.CORDON, target }), net.now, 30_000))
  t.same(fx.send.filter((s) => s.to === coord), [], 'nothing sent to itself')
  t.same(fx.results, [], 'not failed either: it waits for the resend')
  net.run(10_000)
  t.equal(net.applies.get(target)?.length, 1, 'the successor delivered it to the target, once')
  const cmd = net.applies.get(target)![0]!
  t.not(cmd.coordinator, coord, 'from the successor')
  const ack = create(CommandAckSchema, { id: cmd.id, term: cmd.term, node: target, status: CommandStatus.APPLIED, detail: 'ok', timeMs: net.now, kind: cmd.kind })
  net.take(target, net.node(target).commandDone(ack, net.now))
  net.flush()
  const answered = net.results.get(coord)?.find((r) => r.requestId === 'q1')
  t.equal(answered?.result.errorCode, '', `answered, applied (${answered?.result.message ?? 'no answer'})`)
  t.notOk(net.sent.some((s) => s.from === coord && s.to === coord), 'never a send to itself')
})
