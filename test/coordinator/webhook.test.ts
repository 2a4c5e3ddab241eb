// coordinator/webhook.ts against a real HTTP receiver on loopback: signatures, filters, retries,
// timeouts and the queue bound. Backoff sleeps are instant (injected); nothing waits on a clock.
import t, { type Test } from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { seededRng } from '../../agent/lib/rng.js'
import {
  Webhooks, sign, verifySignature, webhookTargets,
  type WebhookComponents, type WebhookEvent, type WebhookTarget,
} from '../../coordinator/webhook.js'

interface Received { readonly body: string, readonly headers: IncomingMessage['headers'] }
type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void

async function receiver (t: Test, handler: Handler = (_q, res) => res.end('ok')): Promise<{ url: string, got: Received[] }> {
  const got: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      got.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers })
      handler(req, res, got.length)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got }
}

const SECRET = 'test-secret-0123'
const target = (url: string, extra: Partial<WebhookTarget> = {}): WebhookTarget => ({
  url, secretEnv: 'X', secretFile: null, events: ['dead', 'replaced'], timeoutMs: 2_000, secret: SECRET, ...extra,
})
const sleeps: number[] = []
const components = (): WebhookComponents => ({
  fetch: globalThis.fetch,
  sleep: async (ms) => { sleeps.push(ms) },
  now: () => 1_700_000_000_000,
  rng: seededRng(1),
})
const event = (kind: WebhookEvent['kind'], n = 0): WebhookEvent => ({
  kind, node: `12D3KooW${n}`, name: `gpu-${n}`, pool: 'train', detail: 'xid 79', term: 3, timeMs: 1_700_000_000_000 + n,
})

t.test('a delivery is signed, timestamped and carries the event', async (t) => {
  const r = await receiver(t)
  const w = new Webhooks([target(r.url)], components())
  w.notify(event('dead', 7))
  await w.idle()
  t.equal(r.got.length, 1)
  const got = r.got[0]!
  t.ok(verifySignature(got.body, got.headers['x-shoal-signature'] as string, SECRET), 'signature verifies')
  t.notOk(verifySignature(got.body, got.headers['x-shoal-signature'] as string, 'other-secret'), 'not with another secret')
  t.notOk(verifySignature(`${got.body} `, got.headers['x-shoal-signature'] as string, SECRET), 'not for another body')
  t.notOk(verifySignature(got.body, undefined, SECRET))
  t.notOk(verifySignature(got.body, 'sha256=zz', SECRET))
  t.equal(got.headers['x-shoal-timestamp'], '1700000000')
  t.equal(got.headers['content-type'], 'application/json')
  t.match(JSON.parse(got.body), { kind: 'dead', node: '12D3KooW7', name: 'gpu-7', pool: 'train', detail: 'xid 79', term: 3, timeMs: 1_700_000_000_007, time: '2023-11-14T22:13:20.007Z' })
  t.notMatch(got.body, SECRET, 'the secret is not in the payload')
  t.same(w.stats(), [{ delivered: 1, failed: 0, dropped: 0, queued: 0 }])
})

t.test('only kinds a webhook subscribed to are sent to it', async (t) => {
  const a = await receiver(t)
  const b = await receiver(t)
  const w = new Webhooks([target(a.url), target(b.url, { events: ['unhealthy'] })], components())
  w.notify(event('dead'))
  w.notify(event('unhealthy'))
  w.notify(event('scaled'))
  w.notify(event('replaced'))
  await w.idle()
  t.same(a.got.map((g) => JSON.parse(g.body).kind), ['dead', 'replaced'], 'in order')
  t.same(b.got.map((g) => JSON.parse(g.body).kind), ['unhealthy'])
})

t.test('a 500 is retried with backoff, with the same body and signature', async (t) => {
  sleeps.length = 0
  const r = await receiver(t, (_q, res, n) => { res.statusCode = n === 1 ? 500 : 204; res.end() })
  const w = new Webhooks([target(r.url)], components())
  w.notify(event('dead'))
  await w.idle()
  t.equal(r.got.length, 2)
  t.equal(r.got[0]?.body, r.got[1]?.body)
  t.equal(r.got[0]?.headers['x-shoal-signature'], r.got[1]?.headers['x-shoal-signature'])
  t.equal(sleeps.length, 1, 'one backoff')
  t.ok(sleeps[0]! >= 0 && sleeps[0]! < 1000, 'within the first backoff cap')
  t.same(w.stats(), [{ delivered: 1, failed: 0, dropped: 0, queued: 0 }])
})

t.test('retries are bounded; a 4xx is not retried', async (t) => {
  const down = await receiver(t, (_q, res) => { res.statusCode = 503; res.end() })
  const refusing = await receiver(t, (_q, res) => { res.statusCode = 401; res.end() })
  const w = new Webhooks([target(down.url), target(refusing.url)], components())
  w.notify(event('dead'))
  await w.idle()
  t.equal(down.got.length, 4, 'the first attempt and 3 retries')
  t.equal(refusing.got.length, 1)
  t.same(w.stats().map((s) => s.failed), [1, 1])
})

t.test('a call that does not answer in time is abandoned and retried', async (t) => {
  const r = await receiver(t, () => { /* never answers */ })
  const warnings: string[] = []
  const w = new Webhooks([target(r.url, { timeoutMs: 100 })], { ...components(), log: { warn: (f, m) => warnings.push(`${m} ${JSON.stringify(f)}`) } },
    { retries: 1, baseBackoffMs: 10, maxBackoffMs: 10, queueMax: 10, detailMaxChars: 100 })
  w.notify(event('dead'))
  await w.idle()
  t.equal(r.got.length, 2)
  t.same(w.stats(), [{ delivered: 0, failed: 1, dropped: 0, queued: 0 }])
  t.ok(warnings.some((l) => l.includes('"error":"timeout"')), 'logged as a timeout')
  t.notOk(warnings.some((l) => l.includes('/hook') || l.includes(SECRET)), 'logs show neither the URL path nor the secret')
})

t.test('the queue is bounded: the oldest events are dropped and counted; notify never blocks', async (t) => {
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const r = await receiver(t, (_q, res) => { void gate.then(() => res.end()) })
  const w = new Webhooks([target(r.url)], components(), { retries: 0, baseBackoffMs: 0, maxBackoffMs: 0, queueMax: 3, detailMaxChars: 100 })
  for (let i = 0; i < 10; i++) w.notify(event('dead', i))
  t.same(w.stats(), [{ delivered: 0, failed: 0, dropped: 6, queued: 3 }], 'one in flight, 3 queued, 6 dropped')
  release()
  await w.idle()
  t.same(r.got.map((g) => JSON.parse(g.body).node), ['12D3KooW0', '12D3KooW7', '12D3KooW8', '12D3KooW9'])
  t.same(w.stats(), [{ delivered: 4, failed: 0, dropped: 6, queued: 0 }])
})

t.test('stop abandons queued events', async (t) => {
  const r = await receiver(t, () => { /* never answers */ })
  const w = new Webhooks([target(r.url)], components())
  for (let i = 0; i < 5; i++) w.notify(event('dead', i))
  await w.stop()
  w.notify(event('dead'))
  t.same(w.stats(), [{ delivered: 0, failed: 0, dropped: 0, queued: 0 }])
})

t.test('secrets come from the environment or a file; a missing one is named, never shown', async (t) => {
  const base = { url: 'https://x.example', secretEnv: 'HOOK_SECRET', secretFile: null, events: ['dead' as const], timeoutMs: 1000 }
  const [a] = await webhookTargets([base], { env: { HOOK_SECRET: 's3' }, readFile: async () => '' })
  t.equal(a?.secret, 's3')
  const [b] = await webhookTargets([{ ...base, secretFile: '/s' }], { env: {}, readFile: async () => 'from-file\n' })
  t.equal(b?.secret, 'from-file')
  await t.rejects(webhookTargets([base], { env: {}, readFile: async () => '' }), { message: /webhooks\[0\]\.secret_env: the environment variable HOOK_SECRET is not set/ })
  t.equal(sign('{}', 'k'), 'sha256=add853b103fbcc936a194f9eb15e29c4ff08af6e47d5d1bca4f20218e31e4fff', 'a known HMAC-SHA256 vector')
  t.ok(verifySignature('{}', sign('{}', 'k'), 'k'))
})
