// A real AdminServer on a socket in a temp dir, with stub handlers: answers in order, every error
// code over the wire, the socket file's mode and lifecycle, the connection limits.
import t from 'tap'
import { createServer } from 'node:net'
import { existsSync, renameSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import { create, toBinary } from '@bufbuild/protobuf'
import { AdminRequestSchema, HealthReportSchema } from '../../../proto/gen/shoal_pb.js'
import { AdminServer, AdminSocketInUseError, AdminSocketPathError, type AdminHandler } from '../../../agent/admin/server.js'
import { encodeFrame, MAX_FRAME_BYTES } from '../../../agent/admin/frame.js'
import { adminRequest } from '../../../agent/admin/client.js'
import { type TapTest } from '../gpu/fixtures/support.js'
import { echoHandler, errorOf, frameOf, healthRequest, healthResponse, RawClient, tempDir } from './fixtures/support.js'

const tmp = tempDir()
t.teardown(tmp.remove)
let n = 0
const freshPath = (): string => tmp.path(`s${n++}.sock`)

async function serve (t: TapTest, handler: AdminHandler = echoHandler, config: Partial<ConstructorParameters<typeof AdminServer>[1]> = {}): Promise<AdminServer> {
  const server = new AdminServer(handler, { path: freshPath(), ...config })
  await server.listen()
  t.teardown(() => server.close())
  return server
}

/** A socket file with nothing listening: bind, move the file aside, close (libuv unlinks only the bound name). */
async function staleSocketAt (path: string): Promise<void> {
  const bound = `${path}.bound`
  const s = createServer()
  await new Promise<void>((resolve) => { s.listen(bound, resolve) })
  renameSync(bound, path)
  await new Promise<void>((resolve) => { s.close(() => { resolve() }) })
}

const nodeOf = (res: Awaited<ReturnType<RawClient['next']>>): string | undefined =>
  res.response.case === 'health' ? res.response.value.node : undefined

t.test('health round trip through adminRequest', async (t) => {
  const server = await serve(t)
  const res = await adminRequest(server.path, healthRequest(4), { timeoutMs: 5000 })
  t.equal(res.version, 1)
  t.equal(res.response.case, 'health')
  t.equal(res.response.case === 'health' ? res.response.value.node : '', 'asked-4')
})

t.test('several requests on one connection, sent at once, are answered in order', async (t) => {
  const release: Array<() => void> = []
  // The first request is slow and the later ones would be fast: the order must hold anyway.
  const handler: AdminHandler = async (req) => {
    const k = req.request.case === 'health' ? req.request.value.incidents : -1
    if (k === 0) await new Promise<void>((resolve) => { release.push(resolve) })
    return healthResponse(create(HealthReportSchema, { node: `asked-${k}` }))
  }
  const server = await serve(t, handler)
  const client = await RawClient.connect(server.path)
  t.teardown(() => { client.destroy() })
  client.send(Buffer.concat([0, 1, 2, 3, 4].map((k) => frameOf(healthRequest(k)))))
  const first = client.next()
  while (release.length === 0) await new Promise((resolve) => setImmediate(resolve))
  release[0]?.()
  const answers = [await first, ...await Promise.all([client.next(), client.next(), client.next(), client.next()])]
  t.same(answers.map(nodeOf), ['asked-0', 'asked-1', 'asked-2', 'asked-3', 'asked-4'])
  // And the connection stays open for more.
  client.send(frameOf(healthRequest(9)))
  t.equal(nodeOf(await client.next()), 'asked-9')
})

t.test('a request cut into single bytes is answered', async (t) => {
  const server = await serve(t)
  const client = await RawClient.connect(server.path)
  t.teardown(() => { client.destroy() })
  const frame = frameOf(healthRequest(6))
  for (const byte of frame) client.send(Uint8Array.of(byte))
  t.equal(nodeOf(await client.next()), 'asked-6')
})

t.test('bad protobuf bytes: bad-request, then the agent closes', async (t) => {
  const server = await serve(t)
  const client = await RawClient.connect(server.path)
  client.send(Buffer.concat([encodeFrame(new Uint8Array([0xff, 0xff, 0xff, 0xff])), frameOf(healthRequest(1))]))
  const res = await client.next()
  t.equal(errorOf(res)?.code, 'bad-request')
  t.match(errorOf(res)?.message, /cannot decode a 4-byte frame as shoal\.v1\.AdminRequest/)
  await client.closed
  await t.rejects(client.next(), /closed without another answer/, 'nothing after the bad request is answered')
})

t.test('a frame longer than the request limit: bad-request naming the size, then close', async (t) => {
  const server = await serve(t, echoHandler, { maxRequestBytes: 100 })
  const client = await RawClient.connect(server.path)
  const header = new Uint8Array(4)
  new DataView(header.buffer).setUint32(0, MAX_FRAME_BYTES * 4, false)
  client.send(header)
  const res = await client.next()
  t.equal(errorOf(res)?.code, 'bad-request')
  t.match(errorOf(res)?.message, /bad frame: frame of 4194304 bytes declared, more than the 100 allowed/)
  await client.closed
})

t.test('requests before a bad frame header in the same write are answered first', async (t) => {
  const server = await serve(t, echoHandler, { maxRequestBytes: 100 })
  const client = await RawClient.connect(server.path)
  const header = new Uint8Array([0, 0, 1, 0])
  client.send(Buffer.concat([frameOf(healthRequest(1)), frameOf(healthRequest(2)), header]))
  t.same([nodeOf(await client.next()), nodeOf(await client.next())], ['asked-1', 'asked-2'])
  t.equal(errorOf(await client.next())?.code, 'bad-request')
  await client.closed
})

t.test('another version: unsupported-version, and the connection goes on', async (t) => {
  const server = await serve(t)
  const client = await RawClient.connect(server.path)
  t.teardown(() => { client.destroy() })
  client.send(frameOf(healthRequest(0, 2)))
  t.same(errorOf(await client.next()), { code: 'unsupported-version', message: 'client speaks v2, this agent v1' })
  client.send(frameOf(healthRequest(5)))
  t.equal(nodeOf(await client.next()), 'asked-5')
})

t.test('a request with no operation: bad-request', async (t) => {
  const server = await serve(t)
  const res = await adminRequest(server.path, create(AdminRequestSchema, { version: 1 }), { timeoutMs: 5000 })
  t.equal(errorOf(res)?.code, 'bad-request')
})

t.test('handler throws: internal with its message; the connection goes on', async (t) => {
  let calls = 0
  const server = await serve(t, async () => {
    if (calls++ === 0) throw new Error('health core not started')
    return healthResponse(create(HealthReportSchema, { node: 'second' }))
  })
  const client = await RawClient.connect(server.path)
  t.teardown(() => { client.destroy() })
  client.send(Buffer.concat([frameOf(healthRequest()), frameOf(healthRequest())]))
  t.same(errorOf(await client.next()), { code: 'internal', message: 'health core not started' })
  t.equal(nodeOf(await client.next()), 'second')
})

t.test('a client that half-closes after its request still gets the answer', async (t) => {
  const server = await serve(t)
  const client = await RawClient.connect(server.path)
  client.socket.end(frameOf(healthRequest(8)))
  t.equal(nodeOf(await client.next()), 'asked-8')
  await client.closed
})

t.test('the socket file is 0660 after listen, or the mode configured', async (t) => {
  const server = await serve(t)
  const st = statSync(server.path)
  t.ok(st.isSocket())
  t.equal((st.mode & 0o777).toString(8), '660')
  const strict = await serve(t, echoHandler, { mode: 0o600 })
  t.equal((statSync(strict.path).mode & 0o777).toString(8), '600')
})

t.test('a missing parent directory is created, owner rwx and group r-x', async (t) => {
  const path = tmp.path('run/shoal/admin.sock')
  const server = new AdminServer(echoHandler, { path })
  await server.listen()
  t.teardown(() => server.close())
  t.equal((statSync(tmp.path('run/shoal')).mode & 0o777).toString(8), '750')
  t.equal(nodeOfResponse(await adminRequest(path, healthRequest(1), { timeoutMs: 5000 })), 'asked-1')
})

const nodeOfResponse = nodeOf

t.test('a stale socket file is replaced', async (t) => {
  const path = freshPath()
  await staleSocketAt(path)
  t.ok(statSync(path).isSocket(), 'the stale socket is there')
  const server = new AdminServer(echoHandler, { path })
  await server.listen()
  t.teardown(() => server.close())
  t.equal(nodeOf(await adminRequest(path, healthRequest(2), { timeoutMs: 5000 })), 'asked-2')
})

t.test('a regular file or a directory at the path is refused and left alone', async (t) => {
  const file = freshPath()
  writeFileSync(file, 'precious')
  const server = new AdminServer(echoHandler, { path: file })
  await t.rejects(server.listen(), AdminSocketPathError)
  await t.rejects(new AdminServer(echoHandler, { path: file }).listen(),
    { message: `${file} exists and is a regular file, not a socket; refusing to remove it: move it away or choose another admin socket path` })
  t.ok(statSync(file).isFile(), 'still there')
  const dir = freshPath()
  mkdirSync(dir)
  await t.rejects(new AdminServer(echoHandler, { path: dir }).listen(), /is a directory, not a socket/)
})

t.test('a second server on the same path: AdminSocketInUseError, and the first keeps answering', async (t) => {
  const first = await serve(t)
  const second = new AdminServer(echoHandler, { path: first.path })
  const err = await second.listen().then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof AdminSocketInUseError)
  t.equal((err as Error).message, `another shoal agent answers on ${first.path}`)
  t.equal(nodeOf(await adminRequest(first.path, healthRequest(3), { timeoutMs: 5000 })), 'asked-3')
  await second.close() // never listened: a no-op, and it must not remove the first's socket
  t.ok(existsSync(first.path))
})

t.test('close ends connections and removes the socket file', async (t) => {
  const server = new AdminServer(echoHandler, { path: freshPath() })
  await server.listen()
  const client = await RawClient.connect(server.path)
  client.send(frameOf(healthRequest(1)))
  await client.next()
  t.equal(server.connections, 1)
  await server.close()
  await client.closed
  t.equal(existsSync(server.path), false)
  t.equal(server.connections, 0)
  await server.close() // twice is fine
})

t.test('connections over the limit get busy and are closed; the others are unaffected', async (t) => {
  const server = await serve(t, echoHandler, { maxConnections: 2 })
  const a = await RawClient.connect(server.path)
  const b = await RawClient.connect(server.path)
  t.teardown(() => { a.destroy(); b.destroy() })
  // A round trip on each proves the server has accepted both.
  a.send(frameOf(healthRequest(1)))
  b.send(frameOf(healthRequest(2)))
  t.same([nodeOf(await a.next()), nodeOf(await b.next())], ['asked-1', 'asked-2'])
  const c = await RawClient.connect(server.path)
  const res = await c.next()
  t.same(errorOf(res), { code: 'busy', message: 'the agent already has 2 admin connections open; try again' })
  await c.closed
  a.destroy()
  await a.closed
  // The freed slot is usable again once the server has seen the close on its side.
  while (server.connections > 1) await new Promise((resolve) => setImmediate(resolve))
  t.equal(nodeOf(await adminRequest(server.path, healthRequest(3), { timeoutMs: 5000 })), 'asked-3')
})

t.test('an idle connection is closed after the idle timeout', async (t) => {
  const server = await serve(t, echoHandler, { idleTimeoutMs: 20 })
  const client = await RawClient.connect(server.path)
  await client.closed
  t.equal(client.socket.destroyed, true)
})

t.test('no idle timeout while the agent works on an answer', async (t) => {
  // The handler takes five idle periods; timers fire in order of expiry, so were the idle timer
  // armed it would always close the connection first.
  const server = await serve(t, async () => {
    await new Promise((resolve) => setTimeout(resolve, 50))
    return healthResponse(create(HealthReportSchema, { node: 'slow' }))
  }, { idleTimeoutMs: 10 })
  const client = await RawClient.connect(server.path)
  t.teardown(() => { client.destroy() })
  client.send(frameOf(healthRequest()))
  t.equal(nodeOf(await client.next()), 'slow')
  // Idle again once answered.
  await client.closed
})

t.test('a bare request without its frame header reads as a huge length: bad-request and close', async (t) => {
  const server = await serve(t)
  const client = await RawClient.connect(server.path)
  // The first four bytes of a bare request read as a huge length.
  client.send(toBinary(AdminRequestSchema, healthRequest(300)).subarray(0, 2))
  client.send(new Uint8Array([0xff, 0xff, 0xff]))
  t.equal(errorOf(await client.next())?.code, 'bad-request')
  await client.closed
})
