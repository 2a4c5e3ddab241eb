// adminRequest against what an operator meets: no agent, a stale socket, a wrong path, a wedged or
// misbehaving agent. Every failure is an AdminClientError with a code and a message that says what to do.
import t from 'tap'
import { createServer, type Server, type Socket } from 'node:net'
import { chmodSync, renameSync, writeFileSync } from 'node:fs'
import { adminRequest, AdminClientError, connectError } from '../../../agent/admin/client.js'
import { encodeFrame } from '../../../agent/admin/frame.js'
import { AdminServer } from '../../../agent/admin/server.js'
import { create, toBinary } from '@bufbuild/protobuf'
import { AdminResponseSchema, HealthReportSchema } from '../../../proto/gen/shoal_pb.js'
import { type TapTest } from '../gpu/fixtures/support.js'
import { echoHandler, healthRequest, healthResponse, tempDir } from './fixtures/support.js'

const tmp = tempDir()
t.teardown(tmp.remove)

async function failure (path: string, timeoutMs = 5000): Promise<AdminClientError> {
  try {
    await adminRequest(path, healthRequest(), { timeoutMs })
  } catch (err) {
    if (err instanceof AdminClientError) return err
    throw err
  }
  throw new Error('adminRequest should have failed')
}

/** A raw listener that does what `onConnection` says instead of speaking the protocol. */
async function rawServer (t: TapTest, path: string, onConnection: (s: Socket) => void): Promise<Server> {
  const server = createServer(onConnection)
  await new Promise<void>((resolve) => { server.listen(path, resolve) })
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => { resolve() }) }))
  return server
}
t.test('no socket file: no-agent, pointing at `shoal agent`, --socket and SHOAL_ADMIN_SOCKET', async (t) => {
  const path = tmp.path('missing.sock')
  const err = await failure(path)
  t.equal(err.code, 'no-agent')
  t.equal(err.message, `no shoal agent is listening on ${path} (is \`shoal agent\` running? set --socket or SHOAL_ADMIN_SOCKET)`)
})

t.test('a socket file with nothing listening: stale-socket', async (t) => {
  const path = tmp.path('stale.sock')
  const s = createServer()
  await new Promise<void>((resolve) => { s.listen(`${path}.bound`, resolve) })
  renameSync(`${path}.bound`, path)
  await new Promise<void>((resolve) => { s.close(() => { resolve() }) })
  const err = await failure(path)
  t.equal(err.code, 'stale-socket')
  t.equal(err.message, `nothing is listening on ${path}: the socket file is stale, left by an agent that stopped (is \`shoal agent\` running?)`)
})

t.test('a regular file at the path: not a socket (Linux refuses it like a stale socket; we look)', async (t) => {
  const path = tmp.path('plain-file')
  writeFileSync(path, '')
  const err = await failure(path)
  t.equal(err.code, 'connect-failed')
  t.match(err.message, `${path} is not a socket`)
})

t.test('permission denied: owner/group only, and what to do', async (t) => {
  const err = connectError('/run/shoal/admin.sock', Object.assign(new Error('connect EACCES'), { code: 'EACCES' }))
  t.equal(err.code, 'permission-denied')
  t.equal(err.message, 'permission denied on /run/shoal/admin.sock: the admin socket is owner/group only; run as root or a member of its group')
  t.equal(connectError('/x', Object.assign(new Error('connect EPERM'), { code: 'EPERM' })).code, 'permission-denied')
  t.equal(connectError('/x', Object.assign(new Error('weird'), { code: 'EWEIRD' })).message, 'cannot connect to /x: weird')
})

t.test('permission denied for real, when not root', { skip: process.getuid?.() === 0 ? 'root bypasses file permissions' : false }, async (t) => {
  const path = tmp.path('locked.sock')
  const server = new AdminServer(echoHandler, { path, mode: 0o000 })
  await server.listen()
  t.teardown(() => server.close())
  chmodSync(path, 0o000)
  t.equal((await failure(path)).code, 'permission-denied')
})

t.test('an agent that never answers: timeout after the time given', async (t) => {
  const path = tmp.path('wedged.sock')
  const held: Socket[] = []
  await rawServer(t, path, (s) => { held.push(s) })
  t.teardown(() => { for (const s of held) s.destroy() })
  const err = await failure(path, 30)
  t.equal(err.code, 'timeout')
  t.equal(err.message, `no answer from ${path} within 30 ms`)
})

t.test('an agent that hangs up without answering: closed', async (t) => {
  const path = tmp.path('hangup.sock')
  await rawServer(t, path, (s) => { s.once('data', () => { s.destroy() }) })
  const err = await failure(path)
  t.equal(err.code, 'closed')
  t.match(err.message, new RegExp(`the agent on ${path} closed the connection without answering|the connection to ${path} failed before an answer`))
})

t.test('an answer that is not an AdminResponse: bad-response', async (t) => {
  const path = tmp.path('garbage.sock')
  await rawServer(t, path, (s) => { s.once('data', () => { s.end(encodeFrame(new Uint8Array([0xff, 0xff, 0xff]))) }) })
  const err = await failure(path)
  t.equal(err.code, 'bad-response')
  t.match(err.message, `unreadable answer from ${path}: `)
})

t.test('an answer whose frame declares more than the limit: bad-response', async (t) => {
  const path = tmp.path('huge.sock')
  await rawServer(t, path, (s) => { s.once('data', () => { s.end(new Uint8Array([0x7f, 0xff, 0xff, 0xff])) }) })
  const err = await failure(path)
  t.equal(err.code, 'bad-response')
  t.match(err.message, /frame of 2147483647 bytes declared/)
})

t.test('an answer arriving a byte at a time is read whole', async (t) => {
  const path = tmp.path('trickle.sock')
  const answer = encodeFrame(toBinary(AdminResponseSchema, healthResponse(create(HealthReportSchema, { node: 'trickled' }))))
  await rawServer(t, path, (s) => { s.once('data', () => { for (const b of answer) s.write(Uint8Array.of(b)) }) })
  const res = await adminRequest(path, healthRequest(), { timeoutMs: 5000 })
  t.equal(res.response.case === 'health' ? res.response.value.node : '', 'trickled')
})
