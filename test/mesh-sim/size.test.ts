// messageSize (the simulator's byte accounting without encoding) against toBinary: edge values
// table by table, then every message a seeded fleet emits, byte for byte.
import t from 'tap'
import { create, toBinary } from '@bufbuild/protobuf'
import {
  DigestEntrySchema, HealthUpdateSchema, MemberState, MemberUpdateSchema, MeshMessageSchema, NodeMetaSchema, PingSchema,
  PushPullSchema, ReasonSchema, VerdictSchema,
} from '../../proto/gen/shoal_pb.js'
import { messageSize, utf8Size, varintSize } from '../harness/sim/size.js'
import { envelopeSize } from '../harness/sim/envelope.js'
import { SimFleet, fatalHealth, healthyHealth } from '../harness/sim/index.js'
import type { Body } from '../../agent/mesh/types.js'

t.test('varints and UTF-8 lengths at their boundaries', async (t) => {
  const varints: Array<[number, number]> = [[0, 1], [127, 1], [128, 2], [16_383, 2], [16_384, 3], [2 ** 28 - 1, 4], [2 ** 28, 5], [2 ** 32 - 1, 5], [2 ** 35, 6], [2 ** 53 - 1, 8], [-1, 10]]
  for (const [n, size] of varints) t.equal(varintSize(n), size, `varint ${n}`)
  const texts = ['', 'gpu-00017', 'é', '€', '😀', 'a😀b€', '12D3KooWb54F2tTo1FZgEKqxuwga9omJ8UD5VHkWVgdMYs1qZ9Uz']
  for (const s of texts) t.equal(utf8Size(s), Buffer.byteLength(s, 'utf8'), `utf8 ${JSON.stringify(s)}`)
})

t.test('messages with edge values size as toBinary encodes them', async (t) => {
  const cases = [
    { name: 'empty ping', schema: PingSchema, msg: create(PingSchema, {}) },
    { name: 'ping', schema: PingSchema, msg: create(PingSchema, { seq: 2 ** 40, target: 'x'.repeat(200) }) },
    { name: 'negative zero double', schema: PingSchema, msg: create(PingSchema, { seq: -0 }) },
    { name: 'meta with labels, optional zero and unicode', schema: NodeMetaSchema, msg: create(NodeMetaSchema, { name: 'nœud-€', labels: { a: '1', 'ключ': 'значение', '': '' }, expectedGpus: 0, coordinatorEligible: true }) },
    { name: 'member update with meta and addrs', schema: MemberUpdateSchema, msg: create(MemberUpdateSchema, { node: 'n', state: MemberState.SUSPECT, incarnation: 3, addrs: ['/ip4/10.0.0.1/tcp/4001', ''], meta: create(NodeMetaSchema, { name: 'a' }) }) },
    { name: 'verdict with optional gpu index 0', schema: VerdictSchema, msg: create(VerdictSchema, { reasons: [create(ReasonSchema, { rule: 'r', gpuIndex: 0 })] }) },
    { name: 'fatal health', schema: HealthUpdateSchema, msg: create(HealthUpdateSchema, { node: 'n', seq: 9, ...fatalHealth(1234.5) }) },
    { name: 'healthy health', schema: HealthUpdateSchema, msg: create(HealthUpdateSchema, { node: 'n', ...healthyHealth(1) }) },
    { name: 'push-pull', schema: PushPullSchema, msg: create(PushPullSchema, { digest: [create(DigestEntrySchema, { node: 'a', state: MemberState.ALIVE, incarnation: 1 }), create(DigestEntrySchema, {})], reply: true }) },
  ]
  for (const c of cases) t.equal(messageSize(c.schema, c.msg), toBinary(c.schema, c.msg as never).length, c.name)
  const body: Body = { case: 'ping', value: create(PingSchema, { seq: 5, target: 'tgt' }) }
  t.equal(envelopeSize('fleet-a', 'sender', 1.5, body), toBinary(MeshMessageSchema, create(MeshMessageSchema, { fleet: 'fleet-a', sender: 'sender', timeMs: 1.5, body })).length, 'envelope')
  t.equal(envelopeSize('', '', 0, body), toBinary(MeshMessageSchema, create(MeshMessageSchema, { body })).length, 'envelope with default fields')
})

t.test('every message of a seeded 40-agent run: computed size = encoded size, and the gate accepts it', async (t) => {
  const f = new SimFleet({ agents: 40, seed: 'size', wire: 'share', checkEvery: 1, link: { lossRate: 0.02 } })
  f.start()
  f.runFor(8000)
  f.setHealth(5, fatalHealth(f.now))
  f.kill(7)
  f.partition([[1, 2, 3, 4, 5, 6]])
  f.runFor(12_000)
  f.heal()
  f.runFor(10_000)
  const sizeErrors = f.trace.violations.filter((v) => v.detail.includes('messageSize says'))
  t.same(sizeErrors, [], 'no size differs from toBinary')
  t.ok(f.wire.checked > 10_000, `${f.wire.checked} messages compared`)
})
