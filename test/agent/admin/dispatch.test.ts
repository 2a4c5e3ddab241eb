// Deciding the answer to one frame, without a socket: every error code, the version stamp, the
// response size limit, and a seeded fuzz of hostile frames.
import t from 'tap'
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { AdminRequestSchema, AdminResponseSchema, HealthReportSchema, IncidentSchema } from '../../../proto/gen/shoal_pb.js'
import { answerFrame, type AdminHandler } from '../../../agent/admin/dispatch.js'
import { FrameDecoder } from '../../../agent/admin/frame.js'
import { mulberry32 } from '../gpu/fixtures/support.js'
import { echoHandler, errorOf, healthRequest, healthResponse } from './fixtures/support.js'

const bytesOf = (req = healthRequest()): Uint8Array => toBinary(AdminRequestSchema, req)

t.test('a health request reaches the handler and its answer comes back framed', async (t) => {
  const answer = await answerFrame(bytesOf(healthRequest(7)), echoHandler)
  t.equal(answer.close, false)
  t.equal(answer.response.response.case, 'health')
  t.equal(answer.response.response.value?.$typeName, 'shoal.v1.HealthReport')
  const [frame] = new FrameDecoder().push(answer.frame)
  const decoded = fromBinary(AdminResponseSchema, frame ?? new Uint8Array())
  t.equal(decoded.response.case === 'health' ? decoded.response.value.node : '', 'asked-7')
  t.equal(decoded.version, 1)
})

t.test('the agent stamps its version on every answer, whatever the handler set', async (t) => {
  const answer = await answerFrame(bytesOf(), async () => {
    const res = healthResponse(create(HealthReportSchema, { node: 'n' }))
    res.version = 0
    return res
  })
  t.equal(answer.response.version, 1)
})

t.test('bytes that are not an AdminRequest: bad-request naming the problem, and close', async (t) => {
  let called = false
  const answer = await answerFrame(new Uint8Array([0xff, 0xff, 0xff]), async () => { called = true; return healthResponse(create(HealthReportSchema)) })
  t.equal(called, false)
  t.equal(answer.close, true)
  t.equal(errorOf(answer.response)?.code, 'bad-request')
  t.match(errorOf(answer.response)?.message, /cannot decode a 3-byte frame as shoal\.v1\.AdminRequest: \S/)
})

t.test('a request naming no operation: bad-request and close', async (t) => {
  const answer = await answerFrame(bytesOf(create(AdminRequestSchema, { version: 1 })), echoHandler)
  t.equal(answer.close, true)
  t.same(errorOf(answer.response), { code: 'bad-request', message: 'the request names no operation this agent knows (empty, or from a newer shoal)' })
})

t.test('another version: unsupported-version, the connection stays usable', async (t) => {
  for (const version of [0, 2, 4294967295]) {
    const answer = await answerFrame(bytesOf(healthRequest(0, version)), echoHandler)
    t.equal(answer.close, false)
    t.same(errorOf(answer.response), { code: 'unsupported-version', message: `client speaks v${version}, this agent v1` })
  }
})

t.test('a handler that throws: internal with its message', async (t) => {
  const answer = await answerFrame(bytesOf(), async () => { throw new Error('journal unreadable') })
  t.equal(answer.close, false)
  t.same(errorOf(answer.response), { code: 'internal', message: 'journal unreadable' })
  const odd = await answerFrame(bytesOf(), async () => { throw 'a string' })
  t.same(errorOf(odd.response), { code: 'internal', message: 'a string' })
})

t.test('an answer too large for a frame becomes an internal error that says so', async (t) => {
  const big: AdminHandler = async () => healthResponse(create(HealthReportSchema, {
    incidents: Array.from({ length: 50 }, (_, i) => create(IncidentSchema, { id: `i${i}`, primary: 'x'.repeat(100) })),
  }))
  const answer = await answerFrame(bytesOf(), big, 1000)
  t.equal(errorOf(answer.response)?.code, 'internal')
  t.match(errorOf(answer.response)?.message, /the answer is \d+ bytes, more than the 1000 a frame may carry; ask for less/)
  t.ok(answer.frame.length < 1000)
})

t.test('fuzz: 2,000 seeded hostile frames always get one well-formed answer, never a throw', async (t) => {
  const seed = 0xf00dface
  t.comment(`seed ${seed}`)
  const rand = mulberry32(seed)
  const valid = bytesOf(healthRequest(3))
  const codes = new Map<string, number>()
  for (let i = 0; i < 2000; i++) {
    let bytes: Uint8Array
    if (rand() < 0.5) {
      // Mutations of a valid request: flipped bytes, truncations, appended junk.
      bytes = Uint8Array.from(valid)
      for (let k = 0; k < 1 + Math.floor(rand() * 3); k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256)
      if (rand() < 0.3) bytes = bytes.subarray(0, Math.floor(rand() * bytes.length))
      if (rand() < 0.3) bytes = Uint8Array.from([...bytes, ...Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 256))])
    } else {
      bytes = Uint8Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256))
    }
    const answer = await answerFrame(bytes, echoHandler)
    const decoded = fromBinary(AdminResponseSchema, new FrameDecoder().push(answer.frame)[0] ?? new Uint8Array([0xff]))
    const code = errorOf(decoded)?.code ?? decoded.response.case ?? 'none'
    codes.set(code, (codes.get(code) ?? 0) + 1)
    if (decoded.version !== 1 || (code === 'bad-request') !== answer.close) {
      t.fail(`frame ${i}: version ${decoded.version}, code ${code}, close ${answer.close}`)
      return
    }
  }
  t.comment(JSON.stringify(Object.fromEntries(codes)))
  t.ok((codes.get('bad-request') ?? 0) > 0, 'some frames are unreadable')
  t.ok((codes.get('unsupported-version') ?? 0) > 0, 'some carry another version')
  t.same([...codes.keys()].filter((c) => !['bad-request', 'unsupported-version', 'health'].includes(c)), [])
})
